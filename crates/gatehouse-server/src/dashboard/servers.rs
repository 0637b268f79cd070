//! MCP servers (protected resources): list, create, edit, delete, and the "Connect your MCP
//! server" panel built by the admin API's `connect_panel`.

use axum::extract::Path;
use axum::response::Response;
use gatehouse_store::ResourceRecord;
use serde_json::Value;

use super::html::{
    Field, Section, View, button_form, checkbox, code, copy_block, errors, path_seg, render, table,
};
use super::session::{Ctx, Fail, Form, PageResult, Post, done};
use crate::admin::{self, AdminError, NewResource};
use crate::admin_api::resources::connect_panel;
use crate::env::EnvHandle;
use crate::pages::esc;

/// Blank scope rows offered below the existing ones (more appear after saving).
const BLANK_ROWS: usize = 3;

fn base(env: &EnvHandle) -> String {
    format!("/admin/env/{}/servers", path_seg(env.id()))
}

/// `GET /admin/env/{env}/servers`.
pub(crate) async fn list(ctx: Ctx, Path(env_id): Path<String>) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let list = ctx.state.store.list_resources(env.id()).await?;
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            let scopes: Vec<String> = r.scopes.iter().map(|s| code(&s.name)).collect();
            vec![
                format!(
                    "<a href=\"{}/{}\">{}</a>",
                    base(&env),
                    path_seg(&r.id),
                    esc(&r.name)
                ),
                code(&r.uri),
                scopes.join(" "),
                format!("{} s", r.access_token_ttl),
            ]
        })
        .collect();
    let body = format!(
        "<p class=\"actions\"><a href=\"{}/new\">Add an MCP server</a></p>\
         <p>An MCP server is a protected resource: access tokens are issued for its URL (their <code>aud</code>), with its scopes.</p>{}",
        base(&env),
        table(
            "MCP servers",
            &["Name", "Resource URL", "Scopes", "Access token lifetime"],
            &rows
        )
    );
    Ok(render(
        &ctx,
        View::new("MCP servers", Some(&env), Section::Servers, body),
    ))
}

fn record_values(r: &ResourceRecord) -> Form {
    let mut pairs = vec![
        ("name".to_owned(), r.name.clone()),
        ("url".to_owned(), r.uri.clone()),
        (
            "access_token_ttl".to_owned(),
            r.access_token_ttl.to_string(),
        ),
    ];
    for s in &r.scopes {
        pairs.push(("scope_name".into(), s.name.clone()));
        pairs.push(("scope_desc".into(), s.description.clone()));
    }
    if r.refresh_without_offline_access {
        pairs.push(("refresh_without_offline_access".into(), "on".into()));
    }
    Form::from_pairs(pairs)
}

/// Which field an error message of `admin::add_resource`/`update_resource` is about.
fn field_of(message: &str) -> &'static str {
    if message.contains("scope") || message.contains("OpenID Connect") {
        "scopes"
    } else if message.contains("lifetime") {
        "access_token_ttl"
    } else if message.contains("needs a name") {
        "name"
    } else {
        "url"
    }
}

fn scope_rows(f: &Form, error: Option<&str>) -> String {
    let names = f.all("scope_name");
    let descs = f.all("scope_desc");
    let filled: Vec<(&str, &str)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, descs.get(i).copied().unwrap_or("")))
        .filter(|(n, d)| !n.trim().is_empty() || !d.trim().is_empty())
        .collect();
    let mut rows = String::new();
    for i in 0..filled.len() + BLANK_ROWS {
        let (n, d) = filled.get(i).copied().unwrap_or(("", ""));
        rows.push_str(&format!(
            "<div class=\"scope-row\"><div class=\"field\"><label for=\"scope_name_{i}\">Scope {num}</label>\
             <input id=\"scope_name_{i}\" name=\"scope_name\" type=\"text\" value=\"{n}\" autocomplete=\"off\"></div>\
             <div class=\"field\"><label for=\"scope_desc_{i}\">Scope {num}: what it allows (consent page)</label>\
             <input id=\"scope_desc_{i}\" name=\"scope_desc\" type=\"text\" value=\"{d}\" autocomplete=\"off\"></div></div>",
            num = i + 1,
            n = esc(n),
            d = esc(d)
        ));
    }
    let error = error
        .map(|e| format!("<p class=\"field-error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    format!(
        "<fieldset><legend>Scopes</legend><p class=\"hint\">Scope tokens such as <code>todo:read</code>, each with the sentence the consent \
         page shows. Leave a row empty to remove it. OpenID scopes (openid, profile, email, offline_access) are handled by Gatehouse.</p>{error}{rows}</fieldset>"
    )
}

fn form_html(ctx: &Ctx, action: &str, f: &Form, error: Option<&str>, submit: &str) -> String {
    let field = error.map(field_of);
    let err = |name: &str| error.filter(|_| field == Some(name));
    format!(
        "{top}<form method=\"post\" action=\"{action}\">{csrf}{name}{url}{scopes}{ttl}{refresh}<button type=\"submit\">{submit}</button></form>",
        top = errors(&error.map(|e| vec![e.to_owned()]).unwrap_or_default()),
        action = esc(action),
        csrf = ctx.csrf_field(),
        name = Field::text("name", "Name", f.get("name")).hint("Shown to users on the consent page.").error(err("name")).attrs("required autocomplete=\"off\"").html(),
        url = Field::text("url", "Resource URL", f.get("url"))
            .kind("url")
            .hint("The URL MCP clients connect to, exactly (e.g. https://mcp.example.com/mcp). It is the audience of the access tokens and the resource named in its metadata.")
            .error(err("url"))
            .attrs("required autocomplete=\"off\"")
            .html(),
        scopes = scope_rows(f, err("scopes")),
        ttl = Field::text("access_token_ttl", "Access token lifetime (seconds)", f.get("access_token_ttl")).kind("number").hint("60 to 86400. Default 3600.").error(err("access_token_ttl")).attrs("min=\"60\" max=\"86400\"").html(),
        refresh = checkbox(
            "refresh_without_offline_access",
            "Issue refresh tokens without offline_access",
            f.checked("refresh_without_offline_access"),
            "Clients registered for the refresh_token grant get refresh tokens even when they did not ask for offline_access (most MCP clients don't)."
        ),
        submit = esc(submit),
    )
}

/// Reads the form into an operation's input.
fn new_resource(f: &Form) -> Result<NewResource, AdminError> {
    let name = f.get("name").trim().to_owned();
    let names = f.all("scope_name");
    let descs = f.all("scope_desc");
    let mut tokens = Vec::new();
    let mut described = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let (n, d) = (n.trim(), descs.get(i).map_or("", |d| d.trim()));
        if n.is_empty() && !d.is_empty() {
            return Err(AdminError::Invalid(format!(
                "scope {}: a description was given without a scope",
                i + 1
            )));
        }
        if !n.is_empty() {
            tokens.push(n);
            if !d.is_empty() {
                described.push((n.to_owned(), d.to_owned()));
            }
        }
    }
    let scopes = admin::scope_defs(&tokens.join(" "), &described, &name)?;
    let ttl = match f.opt("access_token_ttl") {
        None => None,
        Some(t) => Some(t.parse::<i64>().map_err(|_| {
            AdminError::Invalid("access token lifetime must be a whole number of seconds".into())
        })?),
    };
    Ok(NewResource {
        name,
        url: f.get("url").trim().to_owned(),
        scopes,
        access_token_ttl: ttl,
        refresh_without_offline_access: Some(f.checked("refresh_without_offline_access")),
    })
}

fn new_html(ctx: &Ctx, env: &EnvHandle, f: &Form, error: Option<&str>) -> Response {
    let body = form_html(ctx, &base(env), f, error, "Add MCP server");
    render(
        ctx,
        View::new("Add an MCP server", Some(env), Section::Servers, body)
            .invalid_if(error.is_some()),
    )
}

/// `GET /admin/env/{env}/servers/new`.
pub(crate) async fn new_page(ctx: Ctx, Path(env_id): Path<String>) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let defaults = Form::from_pairs(vec![
        ("access_token_ttl".into(), "3600".into()),
        ("refresh_without_offline_access".into(), "on".into()),
    ]);
    Ok(new_html(&ctx, &env, &defaults, None))
}

/// `POST /admin/env/{env}/servers`.
pub(crate) async fn create(Path(env_id): Path<String>, Post { ctx, form }: Post) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let s = &ctx.state;
    let created = match new_resource(&form) {
        Ok(new) => admin::add_resource(&*s.store, env.id(), new, s.now()).await,
        Err(e) => Err(e),
    };
    let r = match created {
        Ok(r) => r,
        Err(AdminError::Invalid(m) | AdminError::Conflict(m)) => {
            return Ok(new_html(&ctx, &env, &form, Some(&m)));
        }
        Err(e) => return Err(e.into()),
    };
    ctx.reload().await?;
    Ok(done(
        s,
        &format!("{}/{}", base(&env), path_seg(&r.id)),
        &format!(
            "MCP server {} added. Publish its metadata as shown below.",
            r.name
        ),
    ))
}

async fn find(ctx: &Ctx, env: &EnvHandle, id: &str) -> Result<ResourceRecord, Fail> {
    ctx.state
        .store
        .get_resource(env.id(), id)
        .await?
        .ok_or_else(|| Fail::NotFound(format!("no MCP server {id} in {}", env.id())))
}

/// The "Connect your MCP server" panel.
fn connect_html(env: &EnvHandle, r: &ResourceRecord) -> String {
    let c = connect_panel(env, r);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let prm = serde_json::to_string_pretty(&c["protected_resource_metadata"]).unwrap_or_default();
    let urls: Vec<String> = c["protected_resource_metadata_urls"]
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    let mut out = String::from(
        "<section class=\"card\" aria-labelledby=\"h-connect\"><h2 id=\"h-connect\">Connect your MCP server</h2>\
         <p>Your MCP server must publish this Protected Resource Metadata (RFC 9728) and answer requests without a valid \
         token with 401 and the <code>WWW-Authenticate</code> header below. The guard crate and the gateway do both for you.</p>",
    );
    out.push_str(&copy_block(
        3,
        "prm-json",
        "Protected Resource Metadata (JSON)",
        &prm,
    ));
    out.push_str("<h3>Where to publish it</h3><ul>");
    for (i, u) in urls.iter().enumerate() {
        let note = if i == 0 {
            "the path-specific URL clients try first"
        } else {
            "the root URL, for clients that only look there"
        };
        out.push_str(&format!(
            "<li>{} <span class=\"muted\">({note})</span></li>",
            code(u)
        ));
    }
    out.push_str("</ul>");
    out.push_str(&copy_block(
        3,
        "www-authenticate",
        "WWW-Authenticate header for 401 answers",
        &text(&c["www_authenticate"]),
    ));
    out.push_str(&format!(
        "<h3>Authorization server</h3><dl class=\"facts\"><dt>Issuer</dt><dd>{}</dd><dt>Metadata</dt><dd>{}</dd><dt>JWKS</dt><dd>{}</dd></dl>",
        code(&text(&c["issuer"])),
        code(&text(&c["authorization_server_metadata_url"])),
        code(&text(&c["jwks_uri"]))
    ));
    out.push_str("<h2 id=\"h-snippets\">Snippets</h2>");
    for (key, label) in [
        ("guard", "Rust: the gatehouse-guard crate (axum)"),
        ("gateway", "Any MCP server: the Gatehouse gateway in front"),
        ("fastmcp", "Python: FastMCP"),
        ("typescript", "TypeScript: MCP SDK server with jose"),
    ] {
        out.push_str(&copy_block(
            3,
            &format!("snippet-{key}"),
            label,
            &text(&c["snippets"][key]),
        ));
    }
    out.push_str("</section>");
    out
}

fn show_html(
    ctx: &Ctx,
    env: &EnvHandle,
    r: &ResourceRecord,
    f: &Form,
    error: Option<&str>,
) -> Response {
    let action = format!("{}/{}", base(env), path_seg(&r.id));
    let delete = button_form(
        ctx,
        &format!("{action}/delete"),
        "Delete this MCP server",
        "danger",
        Some("Delete this MCP server? Tokens for it can no longer be issued or refreshed."),
        &[],
    );
    let body = format!(
        "<p class=\"muted\">Id {id}. Resource URL {uri}.</p>{connect}\
         <section class=\"card\" aria-labelledby=\"h-edit\"><h2 id=\"h-edit\">Edit</h2><p>Changing the URL changes the audience of new tokens.</p>{form}</section>\
         <section class=\"card\" aria-labelledby=\"h-delete\"><h2 id=\"h-delete\">Delete</h2><p>Tokens for it can no longer be issued or refreshed.</p>{delete}</section>",
        id = code(&r.id),
        uri = code(&r.uri),
        connect = connect_html(env, r),
        form = form_html(ctx, &action, f, error, "Save changes"),
    );
    render(
        ctx,
        View::new(
            format!("MCP server: {}", r.name),
            Some(env),
            Section::Servers,
            body,
        )
        .invalid_if(error.is_some()),
    )
}

/// `GET /admin/env/{env}/servers/{id}`.
pub(crate) async fn show(ctx: Ctx, Path((env_id, id)): Path<(String, String)>) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let r = find(&ctx, &env, &id).await?;
    Ok(show_html(&ctx, &env, &r, &record_values(&r), None))
}

/// `POST /admin/env/{env}/servers/{id}`.
pub(crate) async fn update(
    Path((env_id, id)): Path<(String, String)>,
    Post { ctx, form }: Post,
) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let current = find(&ctx, &env, &id).await?;
    let updated = match new_resource(&form) {
        Ok(new) => admin::update_resource(&*ctx.state.store, env.id(), &id, new).await,
        Err(e) => Err(e),
    };
    let r = match updated {
        Ok(r) => r,
        Err(AdminError::Invalid(m) | AdminError::Conflict(m)) => {
            return Ok(show_html(&ctx, &env, &current, &form, Some(&m)));
        }
        Err(e) => return Err(e.into()),
    };
    ctx.reload().await?;
    Ok(done(
        &ctx.state,
        &format!("{}/{}", base(&env), path_seg(&r.id)),
        &format!("MCP server {} saved.", r.name),
    ))
}

/// `POST /admin/env/{env}/servers/{id}/delete`.
pub(crate) async fn delete(
    Path((env_id, id)): Path<(String, String)>,
    Post { ctx, .. }: Post,
) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let r = find(&ctx, &env, &id).await?;
    admin::delete_resource(&*ctx.state.store, env.id(), &id).await?;
    ctx.reload().await?;
    Ok(done(
        &ctx.state,
        &base(&env),
        &format!("MCP server {} deleted.", r.name),
    ))
}
