//! End users of an environment: list, create, disable or enable, reset a password, their
//! sessions (end them) and consents (revoke).

use axum::extract::Path;
use gatehouse_store::UserRecord;

use super::consents::{Names, consents_table};
use super::html::{
    self, Field, Section, View, badge, button_form, code, errors, path_seg, render, table,
};
use super::session::{Ctx, Fail, Form, PageResult, Post, done};
use crate::admin::{self, AdminError};
use crate::env::EnvHandle;
use crate::pages::esc;

fn base(env: &EnvHandle) -> String {
    format!("/admin/env/{}/users", path_seg(env.id()))
}

fn status(u: &UserRecord) -> String {
    if u.disabled {
        badge("disabled", "fail")
    } else {
        badge("active", "ok")
    }
}

/// `GET /admin/env/{env}/users`.
pub(crate) async fn list(ctx: Ctx, Path(env_id): Path<String>) -> PageResult {
    let env = ctx.env(&env_id).await?;
    list_html(&ctx, &env, &Form::default(), None).await
}

async fn list_html(ctx: &Ctx, env: &EnvHandle, f: &Form, error: Option<&str>) -> PageResult {
    let users = ctx.state.store.list_users(env.id()).await?;
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                format!(
                    "<a href=\"{}/{}\">{}</a>",
                    base(env),
                    path_seg(&u.id),
                    esc(&u.email)
                ),
                esc(u.name.as_deref().unwrap_or("")),
                status(u),
                html::time(u.created_at),
            ]
        })
        .collect();
    let field = error.map(|e| {
        if e.contains("password") {
            "password"
        } else {
            "email"
        }
    });
    let err = |name: &str| error.filter(|_| field == Some(name));
    let body = format!(
        "<p>People who sign in to this environment's login page when an MCP client connects.</p>{table}\
         <section class=\"card\" aria-labelledby=\"h-new\"><h2 id=\"h-new\">Create a user</h2>{top}\
         <form method=\"post\" action=\"{action}\">{csrf}{email}{name}{password}<button type=\"submit\">Create user</button></form></section>",
        table = table("Users", &["Email", "Name", "Status", "Created"], &rows),
        top = errors(&error.map(|e| vec![e.to_owned()]).unwrap_or_default()),
        action = esc(&base(env)),
        csrf = ctx.csrf_field(),
        email = Field::text("email", "Email", f.get("email"))
            .kind("email")
            .error(err("email"))
            .attrs("required autocomplete=\"off\"")
            .html(),
        name = Field::text("name", "Name (optional)", f.get("name"))
            .attrs("autocomplete=\"off\"")
            .html(),
        password = Field::text("password", "Password", "")
            .kind("password")
            .hint("At least 8 characters. Give it to the user over a safe channel.")
            .error(err("password"))
            .attrs("required minlength=\"8\" autocomplete=\"new-password\"")
            .html(),
    );
    Ok(render(
        ctx,
        View::new("Users", Some(env), Section::Users, body).invalid_if(error.is_some()),
    ))
}

/// `POST /admin/env/{env}/users`.
pub(crate) async fn create(Path(env_id): Path<String>, Post { ctx, form }: Post) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let s = &ctx.state;
    match admin::add_user(
        &*s.store,
        env.id(),
        form.get("email"),
        form.get("password"),
        form.opt("name"),
        s.now(),
    )
    .await
    {
        Ok(u) => Ok(done(
            s,
            &format!("{}/{}", base(&env), path_seg(&u.id)),
            &format!("User {} created.", u.email),
        )),
        Err(AdminError::Invalid(m) | AdminError::Conflict(m)) => {
            list_html(&ctx, &env, &form, Some(&m)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn show_html(
    ctx: &Ctx,
    env: &EnvHandle,
    u: &UserRecord,
    password_error: Option<&str>,
) -> PageResult {
    let s = &ctx.state;
    let sessions = s.store.list_sessions(env.id(), &u.id, s.now()).await?;
    let consents = s.store.list_consents(env.id(), Some(&u.id), None).await?;
    let names = Names::load(ctx, env).await?;
    let here = format!("{}/{}", base(env), path_seg(&u.id));
    let toggle = if u.disabled {
        button_form(
            ctx,
            &format!("{here}/enable"),
            "Enable",
            "secondary",
            None,
            &[],
        )
    } else {
        button_form(
            ctx,
            &format!("{here}/disable"),
            "Disable",
            "danger",
            Some("Disable this user? Their sessions end and their refresh tokens stop working."),
            &[],
        )
    };
    let session_rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|x| vec![html::time(x.auth_time), html::time(x.expires_at)])
        .collect();
    let end = if sessions.is_empty() {
        String::new()
    } else {
        button_form(
            ctx,
            &format!("{here}/end-sessions"),
            "End all sessions",
            "secondary",
            None,
            &[],
        )
    };
    let body = format!(
        "<dl class=\"facts\"><dt>Email</dt><dd>{email}</dd><dt>Name</dt><dd>{name}</dd><dt>Id (sub)</dt><dd>{id}</dd><dt>Status</dt><dd>{status}</dd><dt>Created</dt><dd>{created}</dd></dl>\
         <div class=\"actions\">{toggle}</div><p class=\"muted\">Disabling ends the user's sessions and stops their refresh tokens.</p>\
         <h2>Sessions</h2>{sessions}<div class=\"actions\">{end}</div>\
         <h2>Consents</h2><p>Revoking a consent also revokes the refresh tokens issued under it.</p>{consents}\
         <section class=\"card\" aria-labelledby=\"h-password\"><h2 id=\"h-password\">Reset password</h2><p>Sets a new password and ends the user's sessions.</p>{top}\
         <form method=\"post\" action=\"{here}/password\">{csrf}{password}<button type=\"submit\">Set password</button></form></section>",
        email = esc(&u.email),
        name = esc(u.name.as_deref().unwrap_or("—")),
        id = code(&u.id),
        status = status(u),
        created = html::time(u.created_at),
        sessions = table("Sessions", &["Signed in", "Expires"], &session_rows),
        consents = consents_table(ctx, env, &names, &consents, &here),
        top = errors(
            &password_error
                .map(|e| vec![e.to_owned()])
                .unwrap_or_default()
        ),
        csrf = ctx.csrf_field(),
        password = Field::text("password", "New password", "")
            .kind("password")
            .hint("At least 8 characters.")
            .error(password_error)
            .attrs("required minlength=\"8\" autocomplete=\"new-password\"")
            .html(),
    );
    Ok(render(
        ctx,
        View::new(
            format!("User: {}", u.email),
            Some(env),
            Section::Users,
            body,
        )
        .invalid_if(password_error.is_some()),
    ))
}

/// `GET /admin/env/{env}/users/{id}`.
pub(crate) async fn show(ctx: Ctx, Path((env_id, id)): Path<(String, String)>) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let u = admin::get_user(&*ctx.state.store, env.id(), &id).await?;
    show_html(&ctx, &env, &u, None).await
}

/// `POST /admin/env/{env}/users/{id}/{action}`: disable, enable, password, end-sessions.
pub(crate) async fn act(
    Path((env_id, id, action)): Path<(String, String, String)>,
    Post { ctx, form }: Post,
) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let s = &ctx.state;
    let u = admin::get_user(&*s.store, env.id(), &id).await?;
    let here = format!("{}/{}", base(&env), path_seg(&u.id));
    let msg = match action.as_str() {
        "disable" | "enable" => {
            let disabled = action == "disable";
            admin::set_user_disabled(&*s.store, env.id(), &id, disabled).await?;
            if disabled {
                format!("{} disabled; their sessions ended.", u.email)
            } else {
                format!("{} enabled.", u.email)
            }
        }
        "password" => {
            match admin::reset_password(&*s.store, env.id(), &id, form.get("password")).await {
                Ok(()) => format!("New password set for {}; their sessions ended.", u.email),
                Err(AdminError::Invalid(m)) => return show_html(&ctx, &env, &u, Some(&m)).await,
                Err(e) => return Err(e.into()),
            }
        }
        "end-sessions" => {
            let n = s.store.delete_user_sessions(env.id(), &id).await?;
            format!(
                "{n} session{} of {} ended.",
                if n == 1 { "" } else { "s" },
                u.email
            )
        }
        other => return Err(Fail::NotFound(format!("no user action {other:?}"))),
    };
    Ok(done(s, &here, &msg))
}
