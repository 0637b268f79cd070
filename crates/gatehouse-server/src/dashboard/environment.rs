//! Environments: the switcher, the overview (issuer and discovery URLs), signing keys, and
//! creating an environment. Settings and allowed URLs are in `settings.rs`.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_store::{AuditQuery, Profile};
use serde::Deserialize;

use super::html::{self, Field, Section, View, badge, code, errors, path_seg, render, table};
use super::session::{Ctx, Form, PageResult, Post, done};
use super::settings::profile_radios;
use crate::admin::{self, AdminError};
use crate::admin_api::environments::key_json;
use crate::http::{WK_AS, WK_OIDC};
use crate::pages::esc;
use crate::state::AppState;

/// `GET /admin`: the first environment (`dev` if there is one).
pub(crate) async fn home(ctx: Ctx) -> Response {
    let snapshot = ctx.state.envs.snapshot();
    let target = snapshot
        .envs
        .iter()
        .find(|e| e.id() == admin::DEV)
        .or(snapshot.envs.first())
        .map(|e| e.id().to_owned());
    match target {
        Some(id) => keep_flash(&ctx, &format!("/admin/env/{}", path_seg(&id))),
        None => Redirect::to("/admin/environments/new").into_response(),
    }
}

/// A redirect that passes a pending flash message on.
fn keep_flash(ctx: &Ctx, to: &str) -> Response {
    match &ctx.flash {
        Some(m) => done(&ctx.state, to, m),
        None => Redirect::to(to).into_response(),
    }
}

/// Query of `GET /admin/switch`.
#[derive(Deserialize)]
pub(crate) struct Switch {
    #[serde(default)]
    env: String,
    #[serde(default)]
    section: String,
}

/// `GET /admin/switch?env=…&section=…`: the environment switcher without JavaScript.
pub(crate) async fn switch(ctx: Ctx, Query(q): Query<Switch>) -> PageResult {
    let env = ctx.env(&q.env).await?;
    let section = [
        "",
        "/servers",
        "/clients",
        "/users",
        "/logs",
        "/urls",
        "/settings",
        "/keys",
    ]
    .into_iter()
    .find(|s| *s == q.section)
    .unwrap_or("");
    Ok(Redirect::to(&format!("/admin/env/{}{section}", path_seg(env.id()))).into_response())
}

fn fact(label: &str, value: &str) -> String {
    format!("<dt>{}</dt><dd>{value}</dd>", esc(label))
}

fn link_code(url: &str) -> String {
    format!("<a href=\"{u}\"><code>{u}</code></a>", u = esc(url))
}

pub(crate) fn profile_words(p: Profile) -> &'static str {
    match p {
        Profile::Development => {
            "Development: loopback http redirect URIs for every client, http origins and any loopback origin (MCP Inspector) allowed. For local work only."
        }
        Profile::Production => {
            "Production: https redirect URIs (loopback and private-use schemes for native apps only), https origins only."
        }
    }
}

/// `GET /admin/env/{env}`.
pub(crate) async fn overview(ctx: Ctx, Path(env_id): Path<String>) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let s = &ctx.state;
    let clients = s.store.list_clients(env.id()).await?.len();
    let users = s.store.list_users(env.id()).await?.len();
    crate::flush_audit(s).await;
    let since = s.now_ms() - 86_400_000;
    let failures = s
        .store
        .list_events(&AuditQuery {
            env_id: env.id().to_owned(),
            outcome: Some("failure".into()),
            since_ms: Some(since),
            limit: Some(1000),
            ..Default::default()
        })
        .await?
        .len();
    let mut urls = fact("Issuer", &code(&env.issuer));
    urls.push_str(&fact(
        "Authorization server metadata (RFC 8414)",
        &link_code(&env.url(WK_AS)),
    ));
    urls.push_str(&fact(
        "OpenID Connect discovery",
        &link_code(&env.url(WK_OIDC)),
    ));
    if !env.path.is_empty() {
        let origin = env.issuer.strip_suffix(&env.path).unwrap_or(&env.issuer);
        urls.push_str(&fact(
            "Metadata, path-inserted form",
            &link_code(&format!("{origin}{WK_AS}{}", env.path)),
        ));
        urls.push_str(&fact(
            "OpenID configuration, path-inserted form",
            &link_code(&format!("{origin}{WK_OIDC}{}", env.path)),
        ));
    }
    urls.push_str(&fact("JWKS", &link_code(&env.url("/jwks.json"))));
    for (label, path) in [
        ("Authorization endpoint", "/authorize"),
        ("Token endpoint", "/token"),
        ("Registration endpoint", "/register"),
        ("Revocation endpoint", "/revoke"),
        ("Introspection endpoint", "/introspect"),
    ] {
        urls.push_str(&fact(label, &code(&env.url(path))));
    }
    let base = format!("/admin/env/{}", path_seg(env.id()));
    let failures_text = if failures == 0 {
        "No failed authentication steps in the last 24 hours.".to_owned()
    } else {
        format!(
            "<a href=\"{base}/logs?outcome=failure&amp;range=24h\">{failures} failed authentication step{} in the last 24 hours</a>, each with what to do about it.",
            if failures == 1 { "" } else { "s" }
        )
    };
    let body = format!(
        "<section class=\"card\" aria-labelledby=\"h-profile\"><h2 id=\"h-profile\">Profile</h2><p>{profile}</p><p class=\"muted\">{words}</p></section>\
         <section class=\"card\" aria-labelledby=\"h-urls\"><h2 id=\"h-urls\">Issuer and discovery</h2><dl class=\"facts\">{urls}</dl></section>\
         <section class=\"card\" aria-labelledby=\"h-glance\"><h2 id=\"h-glance\">At a glance</h2><ul>\
         <li><a href=\"{base}/servers\">{servers} MCP server{sp}</a></li><li><a href=\"{base}/clients\">{clients} client{cp}</a></li>\
         <li><a href=\"{base}/users\">{users} user{up}</a></li><li>{failures_text}</li></ul></section>",
        profile = badge(
            env.record.profile.as_str(),
            if env.record.profile == Profile::Production {
                "ok"
            } else {
                "warn"
            }
        ),
        words = esc(profile_words(env.record.profile)),
        servers = env.resources.len(),
        sp = if env.resources.len() == 1 { "" } else { "s" },
        cp = if clients == 1 { "" } else { "s" },
        up = if users == 1 { "" } else { "s" },
    );
    Ok(render(
        &ctx,
        View::new("Overview", Some(&env), Section::Overview, body),
    ))
}

/// `GET /admin/env/{env}/keys`.
pub(crate) async fn keys(ctx: Ctx, Path(env_id): Path<String>) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let now = ctx.state.now();
    let keys = ctx.state.store.list_keys(env.id(), now).await?;
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| key_json(k, now))
        .map(|k| {
            let state = k["state"].as_str().unwrap_or_default();
            let at = |f: &str| html::time_or(k[f].as_i64(), "—");
            vec![
                code(k["kid"].as_str().unwrap_or_default()),
                esc(k["alg"].as_str().unwrap_or_default()),
                badge(state, if state == "signing" { "ok" } else { "muted" }),
                at("created_at"),
                at("activates_at"),
                at("retired_at"),
                at("removed_at"),
            ]
        })
        .collect();
    let base = format!("/admin/env/{}", path_seg(env.id()));
    let body = format!(
        "<p>ES256 keys sign access tokens; RS256 keys sign ID tokens (as OpenID Connect requires). Published keys are in the \
         <a href=\"{jwks}\">JWKS</a>.</p>{table}\
         <section class=\"card\" aria-labelledby=\"h-rotate\"><h2 id=\"h-rotate\">Rotate keys</h2>\
         <p>New keys are published at once and start signing after the delay, so resource servers that cache the JWKS \
         see them first (the default, 600 s, is twice the JWKS cache lifetime). The old keys stop signing then and stay \
         published until every token they signed has expired.</p>\
         <form method=\"post\" action=\"{base}/keys/rotate\">{csrf}{delay}<button type=\"submit\">Rotate signing keys</button></form></section>",
        jwks = esc(&env.url("/jwks.json")),
        table = table(
            "Signing keys",
            &[
                "Key id",
                "Algorithm",
                "State",
                "Published",
                "Signs from",
                "Stops signing",
                "Leaves the JWKS"
            ],
            &rows
        ),
        csrf = ctx.csrf_field(),
        delay = Field::text("activate_after", "Start signing after (seconds)", "600")
            .kind("number")
            .attrs("min=\"0\" required")
            .html(),
    );
    Ok(render(
        &ctx,
        View::new("Signing keys", Some(&env), Section::Keys, body),
    ))
}

/// `POST /admin/env/{env}/keys/rotate`.
pub(crate) async fn rotate(Path(env_id): Path<String>, Post { ctx, form }: Post) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let after = form
        .get("activate_after")
        .trim()
        .parse::<i64>()
        .unwrap_or(600)
        .max(0);
    let s = &ctx.state;
    let rotated = admin::rotate_keys(&*s.store, &s.master, env.id(), after, s.now()).await?;
    ctx.reload().await?;
    let msg = format!(
        "New keys {} published; they start signing at {}.",
        rotated.new_kids.join(", "),
        html::time(rotated.activates_at)
    );
    Ok(done(
        s,
        &format!("/admin/env/{}/keys", path_seg(env.id())),
        &msg,
    ))
}

fn new_env_html(ctx: &Ctx, f: &Form, error: Option<(&str, &str)>) -> Response {
    let err_for = |field: &str| error.filter(|(n, _)| *n == field).map(|(_, e)| e);
    let top: Vec<String> = error
        .filter(|(n, _)| n.is_empty())
        .map(|(_, e)| e.to_owned())
        .into_iter()
        .collect();
    let profile = if f.get("profile").is_empty() {
        "production"
    } else {
        f.get("profile")
    };
    let body = format!(
        "<p>Each environment has its own issuer, signing keys, MCP servers, clients, users, settings and logs.</p>{errors}\
         <form method=\"post\" action=\"/admin/environments\">{csrf}{id}{profile}{issuer}<button type=\"submit\">Create environment</button></form>",
        errors = errors(&top),
        csrf = ctx.csrf_field(),
        id = Field::text("id", "Name", f.get("id")).hint("1 to 32 characters: a-z, 0-9 and '-'. Also the issuer path when no issuer is given.").error(err_for("id")).attrs("required maxlength=\"32\" autocomplete=\"off\"").html(),
        profile = profile_radios(profile),
        issuer = Field::text("issuer", "Issuer (optional)", f.get("issuer")).kind("url").hint("An absolute URL, host-based (https://auth.example.com) or with a path. Empty: this server's public URL followed by /<name>.").error(err_for("issuer")).html(),
    );
    render(
        ctx,
        View::new("New environment", None, Section::NewEnv, body).invalid_if(error.is_some()),
    )
}

/// `GET /admin/environments/new`.
pub(crate) async fn new_page(ctx: Ctx) -> Response {
    new_env_html(&ctx, &Form::default(), None)
}

/// `POST /admin/environments`.
pub(crate) async fn create(State(s): State<AppState>, Post { ctx, form }: Post) -> PageResult {
    let id = form.get("id").trim().to_owned();
    let profile = Profile::parse(form.get("profile")).unwrap_or(Profile::Production);
    match admin::create_environment(
        &*s.store,
        &s.master,
        &id,
        form.opt("issuer"),
        profile,
        s.now(),
    )
    .await
    {
        Ok(_) => {}
        Err(AdminError::Invalid(m) | AdminError::Conflict(m)) => {
            let field = if m.starts_with("issuer") {
                "issuer"
            } else if m.starts_with("environment") {
                "id"
            } else {
                ""
            };
            return Ok(new_env_html(&ctx, &form, Some((field, &m))));
        }
        Err(e) => return Err(e.into()),
    }
    ctx.reload().await?;
    let env = ctx.env(&id).await?;
    Ok(done(
        &s,
        &format!("/admin/env/{}", path_seg(&id)),
        &format!(
            "Environment {id} created, with issuer {} and its own signing keys.",
            env.issuer
        ),
    ))
}
