//! Clients (dynamic registrations collapsed into their logical client, metadata-document and
//! pre-registered clients), creating a client (secret shown once), disabling, deleting,
//! rotating a secret, and the consents given to a client.

use axum::extract::Path;
use axum::response::Response;
use gatehouse_store::{ClientKind, ConsentRecord};
use serde_json::Value;

use super::consents::{Names, consent_row, consents_table};
use super::html::{
    self, Field, Section, View, badge, button_form, checkbox, code, copy_block, errors, path_seg,
    render, table,
};
use super::session::{Ctx, Fail, Form, PageResult, Post, done};
use crate::admin::{self, AdminError, NewClient};
use crate::admin_api::clients::client_json;
use crate::env::EnvHandle;
use crate::pages::esc;

fn base(env: &EnvHandle) -> String {
    format!("/admin/env/{}", path_seg(env.id()))
}

fn kind_words(kind: &str) -> &'static str {
    match kind {
        "dynamic" => "Dynamic registration",
        "cimd" => "Metadata document (URL client_id)",
        _ => "Pre-registered",
    }
}

fn name_of(c: &Value) -> String {
    c["name"].as_str().unwrap_or("(no name)").to_owned()
}

fn list_items(values: &Value) -> String {
    let items: Vec<String> = values
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|u| format!("<li>{}</li>", code(u)))
                .collect()
        })
        .unwrap_or_default();
    if items.is_empty() {
        "<span class=\"muted\">none</span>".to_owned()
    } else {
        format!("<ul>{}</ul>", items.concat())
    }
}

fn status_badge(c: &Value) -> String {
    if c["disabled"].as_bool().unwrap_or(false) {
        badge("disabled", "fail")
    } else {
        badge("enabled", "ok")
    }
}

fn identity(c: &Value) -> String {
    match (c["verified_as"].as_str(), c["likely"].as_str()) {
        (Some(v), _) => format!("<br>{}", badge(&format!("verified: {v}"), "ok")),
        (None, Some(l)) => format!("<br><span class=\"muted\">probably {}</span>", esc(l)),
        _ => String::new(),
    }
}

/// `GET /admin/env/{env}/clients`.
pub(crate) async fn list(ctx: Ctx, Path(env_id): Path<String>) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let defaults = Form::from_pairs(vec![("type".into(), "machine".into())]);
    list_html(&ctx, &env, &defaults, None).await
}

async fn list_html(ctx: &Ctx, env: &EnvHandle, f: &Form, error: Option<&str>) -> PageResult {
    let clients = ctx.state.store.list_clients(env.id()).await?;
    let rows: Vec<Vec<String>> = clients
        .iter()
        .map(client_json)
        .map(|c| {
            let id = c["client_id"].as_str().unwrap_or_default().to_owned();
            let regs = c["registrations"].as_i64().unwrap_or(1);
            vec![
                format!(
                    "<a href=\"{}/clients/{}\">{}</a>{}",
                    base(env),
                    path_seg(&id),
                    esc(&name_of(&c)),
                    identity(&c)
                ),
                esc(kind_words(c["kind"].as_str().unwrap_or_default())),
                code(&id),
                list_items(&c["redirect_uris"]),
                if regs > 1 {
                    format!("{regs} identical registrations")
                } else {
                    "1".to_owned()
                },
                html::time_or(c["last_used_at"].as_i64(), "never"),
                status_badge(&c),
            ]
        })
        .collect();
    let body = format!(
        "<p>Identical dynamic registrations (same software, name and redirect URIs) are shown once, with their count.</p>{table}\
         <section class=\"card\" aria-labelledby=\"h-new\"><h2 id=\"h-new\">Create a pre-registered client</h2>{form}</section>",
        table = table(
            "Clients",
            &[
                "Name",
                "Kind",
                "client_id",
                "Redirect URIs",
                "Registrations",
                "Last used",
                "Status"
            ],
            &rows
        ),
        form = new_client_form(ctx, env, f, error),
    );
    Ok(render(
        ctx,
        View::new("Clients", Some(env), Section::Clients, body).invalid_if(error.is_some()),
    ))
}

fn new_client_form(ctx: &Ctx, env: &EnvHandle, f: &Form, error: Option<&str>) -> String {
    let radio = |value: &str, label: &str, hint: &str| {
        let checked = if f.get("type") == value {
            " checked"
        } else {
            ""
        };
        format!(
            "<div class=\"radio\"><input type=\"radio\" id=\"type-{value}\" name=\"type\" value=\"{value}\"{checked} aria-describedby=\"type-{value}-hint\">\
             <label for=\"type-{value}\">{label}</label></div><p class=\"hint\" id=\"type-{value}-hint\">{hint}</p>"
        )
    };
    format!(
        "{errors}<form method=\"post\" action=\"{action}\">{csrf}{name}<fieldset><legend>Type</legend>{machine}{app}</fieldset>{scope}{redirects}{public}\
         <button type=\"submit\">Create client</button></form>",
        errors = errors(&error.map(|e| vec![e.to_owned()]).unwrap_or_default()),
        action = esc(&format!("{}/clients", base(env))),
        csrf = ctx.csrf_field(),
        name = Field::text("name", "Name", f.get("name"))
            .attrs("required autocomplete=\"off\"")
            .html(),
        machine = radio(
            "machine",
            "Machine client",
            "client_credentials: a program acting for itself, with a secret shown once."
        ),
        app = radio(
            "app",
            "Application",
            "authorization_code and refresh_token, with the redirect URIs below."
        ),
        scope = Field::text("scope", "Allowed scopes (optional)", f.get("scope"))
            .hint("Space-separated. Empty: any scope of the environment's MCP servers.")
            .attrs("autocomplete=\"off\"")
            .html(),
        redirects = Field::text(
            "redirect_uris",
            "Redirect URIs (applications; one per line)",
            f.get("redirect_uris")
        )
        .kind("textarea")
        .html(),
        public = checkbox(
            "public",
            "Public application (no secret; PKCE only)",
            f.checked("public"),
            ""
        ),
    )
}

/// A page showing a new secret, once.
fn secret_page(
    ctx: &Ctx,
    env: &EnvHandle,
    title: &str,
    client_id: &str,
    secret: Option<&str>,
) -> Response {
    let secret = secret.map_or_else(
        || "<p>This client has no secret (it is public or uses private_key_jwt).</p>".to_owned(),
        |s| format!("<div class=\"notice warn\" role=\"alert\">Copy the secret now: it is shown only once and cannot be shown again.</div>{}", copy_block(2, "client-secret", "client_secret", s)),
    );
    let body = format!(
        "{}{secret}<p><a href=\"{}/clients/{}\">Go to the client</a></p>",
        copy_block(2, "client-id", "client_id", client_id),
        base(env),
        path_seg(client_id)
    );
    render(ctx, View::new(title, Some(env), Section::Clients, body))
}

/// `POST /admin/env/{env}/clients`: the secret is on the answer, once.
pub(crate) async fn create(Path(env_id): Path<String>, Post { ctx, form }: Post) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let machine = form.get("type") != "app";
    let new = NewClient {
        name: form.get("name").trim().to_owned(),
        grants: if machine {
            vec!["client_credentials".into()]
        } else {
            vec![]
        },
        scopes: form.opt("scope").map(str::to_owned),
        redirect_uris: if machine {
            vec![]
        } else {
            form.lines("redirect_uris")
        },
        public: !machine && form.checked("public"),
        ..Default::default()
    };
    if new.name.is_empty() {
        return list_html(&ctx, &env, &form, Some("The client needs a name.")).await;
    }
    let created = match admin::add_client(&*ctx.state.store, env.id(), new, ctx.state.now()).await {
        Ok(c) => c,
        Err(AdminError::Invalid(m) | AdminError::Conflict(m)) => {
            return list_html(&ctx, &env, &form, Some(&m)).await;
        }
        Err(e) => return Err(e.into()),
    };
    let title = format!(
        "Client {} created",
        created
            .client
            .metadata
            .client_name
            .as_deref()
            .unwrap_or_default()
    );
    Ok(secret_page(
        &ctx,
        &env,
        &title,
        &created.client.client_id,
        created.secret.as_ref().map(|s| s.expose()),
    ))
}

/// `GET /admin/env/{env}/clients/{client_id}`.
pub(crate) async fn show(
    ctx: Ctx,
    Path((env_id, client_id)): Path<(String, String)>,
) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let id = admin::row_id(&ctx.state.master, env.id(), &client_id)?;
    let record = ctx
        .state
        .store
        .get_client(env.id(), &id)
        .await?
        .ok_or_else(|| Fail::NotFound(format!("no client {client_id:?} in {}", env.id())))?;
    let c = client_json(&record);
    let consents: Vec<ConsentRecord> = ctx
        .state
        .store
        .list_consents(env.id(), None, None)
        .await?
        .into_iter()
        .filter(|x| consent_row(&ctx, &env, &x.client_id) == id)
        .collect();
    let names = Names::load(&ctx, &env).await?;
    let here = format!("{}/clients/{}", base(&env), path_seg(&id));
    let disabled = record.disabled;
    let mut actions = button_form(
        &ctx,
        &format!("{here}/{}", if disabled { "enable" } else { "disable" }),
        if disabled { "Enable" } else { "Disable" },
        "secondary",
        None,
        &[],
    );
    let uses_secret = record.kind == ClientKind::Static
        && matches!(
            record.metadata.token_endpoint_auth_method.as_str(),
            "client_secret_basic" | "client_secret_post"
        );
    if uses_secret {
        actions.push_str(&button_form(
            &ctx,
            &format!("{here}/rotate-secret"),
            "Rotate secret",
            "secondary",
            Some("Create a new secret? The current ones keep working for 24 hours."),
            &[],
        ));
    }
    let delete_note = if record.kind == ClientKind::Static {
        "Deleting a pre-registered client removes it: its secrets and tokens stop working."
    } else {
        "This client registered itself: deleting only forgets it, and it reappears when used again. Disable it to block it."
    };
    actions.push_str(&button_form(
        &ctx,
        &format!("{here}/delete"),
        "Delete",
        "danger",
        Some(delete_note),
        &[],
    ));
    let facts = format!(
        "<dl class=\"facts\"><dt>Kind</dt><dd>{kind}</dd><dt>client_id</dt><dd>{id}</dd><dt>Status</dt><dd>{status}</dd>\
         <dt>Redirect URIs</dt><dd>{redirects}</dd><dt>Grant types</dt><dd>{grants}</dd><dt>Authentication</dt><dd>{auth}</dd>\
         <dt>Allowed scopes</dt><dd>{scope}</dd><dt>Registrations</dt><dd>{regs}</dd><dt>Created</dt><dd>{created}</dd><dt>Last used</dt><dd>{used}</dd></dl>",
        kind = esc(kind_words(record.kind.as_str())),
        id = code(&id),
        status = status_badge(&c),
        redirects = list_items(&c["redirect_uris"]),
        grants = list_items(&c["grant_types"]),
        auth = code(&record.metadata.token_endpoint_auth_method),
        scope = record
            .metadata
            .scope
            .as_deref()
            .map_or_else(|| "any".to_owned(), code),
        regs = record.registrations,
        created = html::time(record.created_at),
        used = html::time_or(record.last_used_at, "never"),
    );
    let body = format!(
        "{facts}{identity}<div class=\"actions\">{actions}</div><p class=\"muted\">{note}</p>\
         <h2>Consents</h2><p>Revoking a consent also revokes the refresh tokens issued under it.</p>{consents}",
        identity = identity(&c).trim_start_matches("<br>"),
        note = esc(delete_note),
        consents = consents_table(&ctx, &env, &names, &consents, &here),
    );
    Ok(render(
        &ctx,
        View::new(
            format!("Client: {}", name_of(&c)),
            Some(&env),
            Section::Clients,
            body,
        ),
    ))
}

/// `POST /admin/env/{env}/clients/{client_id}/{action}`: disable, enable, delete, rotate-secret.
pub(crate) async fn act(
    Path((env_id, client_id, action)): Path<(String, String, String)>,
    Post { ctx, .. }: Post,
) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let s = &ctx.state;
    let here = format!("{}/clients/{}", base(&env), path_seg(&client_id));
    match action.as_str() {
        "disable" | "enable" => {
            let disabled = action == "disable";
            admin::set_client_disabled(
                &*s.store,
                &s.master,
                env.id(),
                &client_id,
                disabled,
                s.now(),
            )
            .await?;
            Ok(done(
                s,
                &here,
                if disabled {
                    "Client disabled: it can no longer get tokens."
                } else {
                    "Client enabled."
                },
            ))
        }
        "delete" => {
            admin::delete_client(&*s.store, &s.master, env.id(), &client_id).await?;
            Ok(done(
                s,
                &format!("{}/clients", base(&env)),
                &format!("Client {client_id} deleted."),
            ))
        }
        "rotate-secret" => {
            match admin::rotate_client_secret(&*s.store, env.id(), &client_id, 86_400, s.now())
                .await
            {
                Ok(secret) => Ok(secret_page(
                    &ctx,
                    &env,
                    "New client secret",
                    &client_id,
                    Some(secret.expose()),
                )),
                Err(AdminError::Invalid(m)) => Ok(done(s, &here, &m)),
                Err(e) => Err(e.into()),
            }
        }
        other => Err(Fail::NotFound(format!("no client action {other:?}"))),
    }
}
