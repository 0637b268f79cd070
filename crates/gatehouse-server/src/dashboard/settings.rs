//! An environment's settings (profile, registration, metadata documents, lifetimes, refresh
//! policy) and its Allowed Callback URLs and CORS origins, with the ADM-04 rules explained
//! and enforced by the same checks as the CLI and the admin API.

use axum::extract::Path;
use axum::response::Response;
use gatehouse_oauth::redirect::check_callback_pattern;
use gatehouse_store::{EnvSettings, EnvironmentRecord, Profile};
use serde_json::Value;

use super::environment::profile_words;
use super::html::{Field, Section, View, checkbox, errors, path_seg, render, select};
use super::session::{Ctx, Form, PageResult, Post, done};
use crate::admin::{self, AdminError};
use crate::env::EnvHandle;
use crate::pages::esc;

/// Whole-number settings: (form field, JSON pointer into the settings, label, hint).
const NUMBERS: [(&str, &str, &str, &str); 9] = [
    (
        "code_ttl",
        "/code_ttl",
        "Authorization code lifetime (seconds)",
        "1 to 600. Default 60.",
    ),
    (
        "pending_ttl",
        "/pending_ttl",
        "Time to finish signing in (seconds)",
        "How long a login or consent page stays valid; at least 600. Default 1800.",
    ),
    (
        "session_ttl",
        "/session_ttl",
        "End-user session lifetime (seconds)",
        "Default 43200 (12 h).",
    ),
    (
        "id_token_ttl",
        "/id_token_ttl",
        "ID token lifetime (seconds)",
        "Default 3600.",
    ),
    (
        "refresh_token_ttl",
        "/refresh_token_ttl",
        "Refresh token lifetime (seconds)",
        "Each rotation starts a new one. Default 2592000 (30 days).",
    ),
    (
        "refresh_grace",
        "/refresh_grace",
        "Refresh grace window (seconds)",
        "0 to 60: a refresh token rotated this recently returns the same successor (parallel refreshes). Default 30.",
    ),
    (
        "max_unused_dynamic_clients",
        "/max_unused_dynamic_clients",
        "Never-used dynamic registrations kept",
        "Older ones are forgotten; their client_ids keep working. Default 10000.",
    ),
    (
        "cimd_min_cache_seconds",
        "/cimd/min_cache_seconds",
        "Shortest metadata document cache (seconds)",
        "Default 60.",
    ),
    (
        "cimd_max_cache_seconds",
        "/cimd/max_cache_seconds",
        "Longest metadata document cache (seconds)",
        "Default 86400.",
    ),
];

fn settings_values(record: &EnvironmentRecord) -> Form {
    let v = serde_json::to_value(&record.settings).unwrap_or(Value::Null);
    let mut pairs = vec![
        ("profile".to_owned(), record.profile.as_str().to_owned()),
        (
            "registration".to_owned(),
            v["registration"].as_str().unwrap_or_default().to_owned(),
        ),
        (
            "cimd_trust".to_owned(),
            v["cimd"]["trust"].as_str().unwrap_or_default().to_owned(),
        ),
        (
            "cimd_allowed_domains".to_owned(),
            record.settings.cimd.allowed_domains.join("\n"),
        ),
    ];
    if record.settings.cimd.enabled {
        pairs.push(("cimd_enabled".into(), "on".into()));
    }
    for (name, ptr, _, _) in NUMBERS {
        pairs.push((
            name.to_owned(),
            v.pointer(ptr).map(Value::to_string).unwrap_or_default(),
        ));
    }
    Form::from_pairs(pairs)
}

pub(crate) fn profile_radios(current: &str) -> String {
    let radio = |value: &str, label: &str, words: &str| {
        let checked = if value == current { " checked" } else { "" };
        format!(
            "<div class=\"radio\"><input type=\"radio\" id=\"profile-{value}\" name=\"profile\" value=\"{value}\"{checked} aria-describedby=\"profile-{value}-hint\">\
             <label for=\"profile-{value}\">{label}</label></div><p class=\"hint\" id=\"profile-{value}-hint\">{}</p>",
            esc(words)
        )
    };
    format!(
        "<fieldset><legend>Profile (ADM-04 rules)</legend>{}{}</fieldset>",
        radio(
            "development",
            "Development",
            profile_words(Profile::Development)
        ),
        radio(
            "production",
            "Production",
            profile_words(Profile::Production)
        )
    )
}

fn settings_page_html(
    ctx: &Ctx,
    env: &EnvHandle,
    f: &Form,
    errs: &[String],
    field_errs: &[(String, String)],
) -> Response {
    let err_of = |name: &str| {
        field_errs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.as_str())
    };
    let numbers: String = NUMBERS
        .iter()
        .map(|(name, _, label, hint)| {
            Field::text(name, label, f.get(name))
                .kind("number")
                .hint(hint)
                .error(err_of(name))
                .attrs("required min=\"0\"")
                .html()
        })
        .collect();
    let base = format!("/admin/env/{}", path_seg(env.id()));
    let body = format!(
        "{errors}<form method=\"post\" action=\"{base}/settings\">{csrf}{profile}\
         <fieldset><legend>Client registration</legend>{registration}{cimd_enabled}{cimd_trust}{domains}</fieldset>\
         <fieldset><legend>Lifetimes and refresh policy</legend>{numbers}</fieldset>\
         <button type=\"submit\">Save settings</button></form>\
         <p class=\"muted\">Allowed callback URLs and CORS origins are on <a href=\"{base}/urls\">their own page</a>; \
         log retention is on the <a href=\"{base}/logs\">authentication log</a> page; per-MCP-server token lifetimes are on each \
         <a href=\"{base}/servers\">MCP server</a>.</p>",
        errors = errors(errs),
        csrf = ctx.csrf_field(),
        profile = profile_radios(f.get("profile")),
        registration = select(
            "registration",
            "Dynamic client registration (RFC 7591)",
            &[
                (
                    "open",
                    "Open: any client may register (what MCP clients expect)"
                ),
                ("token", "Gated: an initial access token is required"),
                ("off", "Off: not offered")
            ],
            f.get("registration"),
            ""
        ),
        cimd_enabled = checkbox(
            "cimd_enabled",
            "Accept Client ID Metadata Documents (URL client_ids)",
            f.checked("cimd_enabled"),
            ""
        ),
        cimd_trust = select(
            "cimd_trust",
            "Which metadata document URLs to trust",
            &[
                ("any_https", "Any https URL"),
                ("allow_list", "Only the domains listed below"),
                ("known_clients", "Only known MCP clients")
            ],
            f.get("cimd_trust"),
            ""
        ),
        domains = Field::text(
            "cimd_allowed_domains",
            "Trusted domains (one per line)",
            f.get("cimd_allowed_domains")
        )
        .kind("textarea")
        .hint("example.com also trusts app.example.com.")
        .html(),
    );
    render(
        ctx,
        View::new("Settings", Some(env), Section::Settings, body)
            .invalid_if(!errs.is_empty() || !field_errs.is_empty()),
    )
}

/// `GET /admin/env/{env}/settings`.
pub(crate) async fn settings_page(ctx: Ctx, Path(env_id): Path<String>) -> PageResult {
    let env = ctx.env(&env_id).await?;
    Ok(settings_page_html(
        &ctx,
        &env,
        &settings_values(&env.record),
        &[],
        &[],
    ))
}

/// Applies the settings form to a record; field errors by name.
fn apply_settings(record: &mut EnvironmentRecord, f: &Form) -> Result<(), Vec<(String, String)>> {
    let mut errs = Vec::new();
    record.profile = Profile::parse(f.get("profile")).unwrap_or(record.profile);
    let mut v = serde_json::to_value(&record.settings).unwrap_or(Value::Null);
    v["registration"] = Value::from(f.get("registration"));
    v["cimd"]["enabled"] = Value::from(f.checked("cimd_enabled"));
    v["cimd"]["trust"] = Value::from(f.get("cimd_trust"));
    v["cimd"]["allowed_domains"] = Value::from(f.lines("cimd_allowed_domains"));
    for (name, ptr, _, _) in NUMBERS {
        match f.get(name).trim().parse::<i64>() {
            Ok(n) if n >= 0 => {
                if let Some(slot) = v.pointer_mut(ptr) {
                    *slot = Value::from(n);
                }
            }
            _ => errs.push((
                name.to_owned(),
                "Enter a whole number, 0 or more.".to_owned(),
            )),
        }
    }
    match serde_json::from_value::<EnvSettings>(v) {
        Ok(s) if errs.is_empty() => {
            record.settings = s;
            Ok(())
        }
        Ok(_) => Err(errs),
        Err(e) => {
            errs.push(("".into(), format!("settings: {e}")));
            Err(errs)
        }
    }
}

/// `POST /admin/env/{env}/settings`.
pub(crate) async fn save_settings(
    Path(env_id): Path<String>,
    Post { ctx, form }: Post,
) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let mut record = admin::get_environment(&*ctx.state.store, env.id()).await?;
    if let Err(field_errs) = apply_settings(&mut record, &form) {
        let (top, fields): (Vec<_>, Vec<_>) =
            field_errs.into_iter().partition(|(n, _)| n.is_empty());
        let top: Vec<String> = top
            .into_iter()
            .map(|(_, e)| e)
            .chain((!fields.is_empty()).then(|| "Some values are not valid; see below.".to_owned()))
            .collect();
        return Ok(settings_page_html(&ctx, &env, &form, &top, &fields));
    }
    match admin::update_environment(&*ctx.state.store, &record).await {
        Ok(()) => {}
        Err(AdminError::Invalid(m) | AdminError::Conflict(m)) => {
            return Ok(settings_page_html(&ctx, &env, &form, &[m], &[]));
        }
        Err(e) => return Err(e.into()),
    }
    ctx.reload().await?;
    Ok(done(
        &ctx.state,
        &format!("/admin/env/{}/settings", path_seg(env.id())),
        "Settings saved.",
    ))
}

fn urls_page_html(
    ctx: &Ctx,
    env: &EnvHandle,
    callbacks: &str,
    origins: &str,
    cb_errs: &[String],
    origin_errs: &[String],
) -> Response {
    let dev = env.record.profile == Profile::Development;
    let rules = if dev {
        "<p>This is a <strong>development</strong> environment:</p><ul>\
         <li>Callback URLs may use http or https, localhost and loopback addresses, private-use schemes (<code>cursor://…</code>), \
         and one <code>*</code> as the leftmost label of the host (<code>https://*.preview.example.com/callback</code>, not directly on a \
         top-level domain).</li>\
         <li>Origins may be http or https. Every loopback origin (such as MCP Inspector at <code>http://localhost:6274</code>) is \
         allowed here without being listed.</li></ul>"
    } else {
        "<p>This is a <strong>production</strong> environment:</p><ul>\
         <li>Callback URLs must be https, a loopback address for native clients (<code>http://127.0.0.1/callback</code> matches any port, \
         RFC 8252) or a private-use scheme (<code>cursor://…</code>); no wildcards.</li>\
         <li>Origins must be https, or http on localhost or a loopback address, listed one by one: add \
         <code>http://localhost:6274</code> to use MCP Inspector with this environment.</li></ul>"
    };
    let joined = |e: &[String]| (!e.is_empty()).then(|| e.join(" "));
    let (cb_err, origin_err) = (joined(cb_errs), joined(origin_errs));
    let base = format!("/admin/env/{}", path_seg(env.id()));
    let body = format!(
        "<section class=\"card\" aria-labelledby=\"h-rules\"><h2 id=\"h-rules\">The rules (ADM-04)</h2>{rules}\
         <p class=\"muted\">In both: at most 256 characters, no query or fragment. Origins are <code>scheme://host[:port]</code> with no path.</p></section>\
         {errors}<form method=\"post\" action=\"{base}/urls\">{csrf}{cb}{orig}<button type=\"submit\">Save</button></form>",
        errors = errors(&cb_errs.iter().chain(origin_errs).cloned().collect::<Vec<_>>()),
        csrf = ctx.csrf_field(),
        cb = Field::text("allowed_callback_urls", "Allowed Callback URLs (one per line)", callbacks)
            .kind("textarea")
            .hint("When not empty, every redirect URI of a dynamically registered or metadata-document client must match one (exactly, a loopback URI with any port, or a wildcard). Pre-registered clients are not affected. Empty: the profile's rules alone apply.")
            .error(cb_err.as_deref())
            .html(),
        orig = Field::text("allowed_origins", "Allowed CORS origins (one per line)", origins)
            .kind("textarea")
            .hint("Browser apps on these origins may call the token, registration, revocation, introspection and userinfo endpoints.")
            .error(origin_err.as_deref())
            .html(),
    );
    render(
        ctx,
        View::new(
            "Allowed Callback URLs and CORS origins",
            Some(env),
            Section::Urls,
            body,
        )
        .invalid_if(!cb_errs.is_empty() || !origin_errs.is_empty()),
    )
}

/// `GET /admin/env/{env}/urls`.
pub(crate) async fn urls_page(ctx: Ctx, Path(env_id): Path<String>) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let s = &env.record.settings;
    Ok(urls_page_html(
        &ctx,
        &env,
        &s.allowed_callback_urls.join("\n"),
        &s.allowed_origins.join("\n"),
        &[],
        &[],
    ))
}

/// Checks each line with `check`; the normalised entries, or one error per bad line.
fn check_lines(
    lines: &[String],
    what: &str,
    check: impl Fn(&str) -> Result<String, String>,
) -> (Vec<String>, Vec<String>) {
    let (mut ok, mut errs) = (Vec::new(), Vec::new());
    for (i, line) in lines.iter().enumerate() {
        match check(line) {
            Ok(v) if !ok.contains(&v) => ok.push(v),
            Ok(_) => {}
            Err(e) => errs.push(format!("{what}, line {}: {e}", i + 1)),
        }
    }
    (ok, errs)
}

/// `POST /admin/env/{env}/urls`: each line checked by the same rules as the CLI and the API.
pub(crate) async fn save_urls(Path(env_id): Path<String>, Post { ctx, form }: Post) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let mut record = admin::get_environment(&*ctx.state.store, env.id()).await?;
    let profile = record.profile;
    let (callbacks, cb_errs) =
        check_lines(&form.lines("allowed_callback_urls"), "Callback URL", |l| {
            check_callback_pattern(l, admin::policy_of(profile))
        });
    let (origins, origin_errs) = check_lines(&form.lines("allowed_origins"), "Origin", |l| {
        admin::check_origin(l, profile).map_err(|e| e.to_string())
    });
    let again = |cb: &[String], or: &[String]| {
        urls_page_html(
            &ctx,
            &env,
            form.get("allowed_callback_urls"),
            form.get("allowed_origins"),
            cb,
            or,
        )
    };
    if !cb_errs.is_empty() || !origin_errs.is_empty() {
        return Ok(again(&cb_errs, &origin_errs));
    }
    let (n_cb, n_or) = (callbacks.len(), origins.len());
    record.settings.allowed_callback_urls = callbacks;
    record.settings.allowed_origins = origins;
    match admin::update_environment(&*ctx.state.store, &record).await {
        Ok(()) => {}
        Err(AdminError::Invalid(m)) => return Ok(again(&[m], &[])),
        Err(e) => return Err(e.into()),
    }
    ctx.reload().await?;
    let msg = format!(
        "Saved {n_cb} allowed callback URL{} and {n_or} allowed origin{}.",
        if n_cb == 1 { "" } else { "s" },
        if n_or == 1 { "" } else { "s" }
    );
    Ok(done(
        &ctx.state,
        &format!("/admin/env/{}/urls", path_seg(env.id())),
        &msg,
    ))
}
