//! The page layout and small HTML helpers. Every value is escaped with
//! [`crate::pages::esc`]; pages carry the dashboard's security headers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::assets;
use super::session::{Ctx, clear_flash};
use crate::env::EnvHandle;
use crate::pages::esc;

pub(crate) use super::forms::{Field, checkbox, errors, select};

/// The Content Security Policy of every dashboard page: no inline script or style.
pub(crate) const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
                              form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The section a page belongs to (highlighted in the navigation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Overview,
    Keys,
    Settings,
    Urls,
    Servers,
    Clients,
    Users,
    Logs,
    NewEnv,
    ApiKeys,
}

/// Per-environment sections: (section, path below `/admin/env/{env}`, label).
const ENV_NAV: [(Section, &str, &str); 8] = [
    (Section::Overview, "", "Overview"),
    (Section::Servers, "/servers", "MCP servers"),
    (Section::Clients, "/clients", "Clients"),
    (Section::Users, "/users", "Users"),
    (Section::Logs, "/logs", "Authentication logs"),
    (Section::Urls, "/urls", "Callback URLs & CORS"),
    (Section::Settings, "/settings", "Settings"),
    (Section::Keys, "/keys", "Signing keys"),
];

/// What a page shows.
pub(crate) struct View<'a> {
    /// Title (also the `<h1>` unless the body has its own).
    pub(crate) title: String,
    /// The environment it belongs to.
    pub(crate) env: Option<&'a EnvHandle>,
    /// Its section.
    pub(crate) section: Section,
    /// The content below the heading.
    pub(crate) body: String,
    /// Status (400 for a form with errors).
    pub(crate) status: StatusCode,
}

impl<'a> View<'a> {
    /// A 200 page.
    pub(crate) fn new(
        title: impl Into<String>,
        env: Option<&'a EnvHandle>,
        section: Section,
        body: String,
    ) -> Self {
        Self {
            title: title.into(),
            env,
            section,
            body,
            status: StatusCode::OK,
        }
    }

    /// A 400 when `invalid` (a form shown again with its errors).
    pub(crate) fn invalid_if(mut self, invalid: bool) -> Self {
        if invalid {
            self.status = StatusCode::BAD_REQUEST;
        }
        self
    }
}

fn head(title: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{} · Gatehouse</title>\
         <link rel=\"stylesheet\" href=\"{}\"><script src=\"{}\" defer></script></head>",
        esc(title),
        assets::css_url(),
        assets::js_url()
    )
}

fn switcher(ctx: &Ctx, current: Option<&EnvHandle>, section: Section) -> String {
    let snapshot = ctx.state.envs.snapshot();
    let mut options = String::new();
    for e in &snapshot.envs {
        let selected = if current.is_some_and(|c| c.id() == e.id()) {
            " selected"
        } else {
            ""
        };
        options.push_str(&format!(
            "<option value=\"{id}\"{selected}>{id}</option>",
            id = esc(e.id())
        ));
    }
    let keep = ENV_NAV
        .iter()
        .find(|(s, _, _)| *s == section)
        .map_or("", |(_, p, _)| p);
    format!(
        "<form class=\"switcher\" method=\"get\" action=\"/admin/switch\">\
         <label for=\"env-switch\">Environment</label><select id=\"env-switch\" name=\"env\">{options}</select>\
         <input type=\"hidden\" name=\"section\" value=\"{}\"><button type=\"submit\" class=\"small\">Switch</button></form>",
        esc(keep)
    )
}

fn nav(env: Option<&EnvHandle>, section: Section) -> String {
    let link = |href: String, label: &str, active: bool| {
        let current = if active { " aria-current=\"page\"" } else { "" };
        format!(
            "<li><a href=\"{}\"{current}>{}</a></li>",
            esc(&href),
            esc(label)
        )
    };
    let mut out = String::from("<nav class=\"side\" aria-label=\"Dashboard\">");
    if let Some(env) = env {
        out.push_str(&format!(
            "<p class=\"nav-title\">Environment <strong>{}</strong></p><ul>",
            esc(env.id())
        ));
        for (s, path, label) in ENV_NAV {
            out.push_str(&link(
                format!("/admin/env/{}{path}", path_seg(env.id())),
                label,
                s == section,
            ));
        }
        out.push_str("</ul>");
    }
    out.push_str("<p class=\"nav-title\">Server</p><ul>");
    out.push_str(&link(
        "/admin/environments/new".into(),
        "New environment",
        section == Section::NewEnv,
    ));
    out.push_str(&link(
        "/admin/api-keys".into(),
        "Admin API keys",
        section == Section::ApiKeys,
    ));
    out.push_str("</ul></nav>");
    out
}

/// A dashboard page for a signed-in administrator.
pub(crate) fn render(ctx: &Ctx, v: View<'_>) -> Response {
    let flash = ctx
        .flash
        .as_deref()
        .map(|m| format!("<div class=\"notice ok\" role=\"status\">{}</div>", esc(m)))
        .unwrap_or_default();
    let full_title = match v.env {
        Some(env) => format!("{} · {}", v.title, env.id()),
        None => v.title.clone(),
    };
    let html = format!(
        "{head}<body><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header class=\"top\"><a class=\"brand\" href=\"/admin\">Gatehouse</a>{switcher}\
         <form class=\"signout\" method=\"post\" action=\"/admin/logout\">{csrf}\
         <span class=\"who\">{email}</span><button type=\"submit\" class=\"small secondary\">Sign out</button></form></header>\
         <div class=\"layout\">{nav}<main id=\"main\" tabindex=\"-1\"><h1>{title}</h1>{flash}{body}</main></div></body></html>",
        head = head(&full_title),
        switcher = switcher(ctx, v.env, v.section),
        csrf = ctx.csrf_field(),
        email = esc(&ctx.admin.email),
        nav = nav(v.env, v.section),
        title = esc(&v.title),
        body = v.body,
    );
    let mut resp = with_headers(v.status, html);
    if ctx.flash.is_some() {
        clear_flash(&ctx.state, &mut resp);
    }
    resp
}

/// A page without navigation (sign-in, setup, errors).
pub(crate) fn bare_page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "{}<body class=\"bare\"><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header class=\"top\"><a class=\"brand\" href=\"/admin\">Gatehouse</a></header>\
         <main id=\"main\" tabindex=\"-1\" class=\"narrow\">{body}</main></body></html>",
        head(title)
    );
    with_headers(status, html)
}

fn with_headers(status: StatusCode, html: String) -> Response {
    let mut resp = (status, Html(html)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Percent-encodes one path segment (client ids may be URLs).
pub(crate) fn path_seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a query value.
pub(crate) fn query_value(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `2026-11-26 09:37 UTC` from seconds since the epoch.
pub(crate) fn time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// [`time`] of an optional timestamp, or `fallback`.
pub(crate) fn time_or(secs: Option<i64>, fallback: &str) -> String {
    secs.map_or_else(|| fallback.to_owned(), time)
}

/// A table that scrolls sideways on narrow screens; cells are HTML.
pub(crate) fn table(caption: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return format!(
            "<p class=\"empty\">No {}.</p>",
            esc(&caption.to_lowercase())
        );
    }
    let th: String = headers
        .iter()
        .map(|h| format!("<th scope=\"col\">{}</th>", esc(h)))
        .collect();
    let body: String = rows
        .iter()
        .map(|r| {
            format!(
                "<tr>{}</tr>",
                r.iter()
                    .map(|c| format!("<td>{c}</td>"))
                    .collect::<String>()
            )
        })
        .collect();
    format!(
        "<div class=\"table-wrap\" role=\"region\" aria-label=\"{cap}\" tabindex=\"0\"><table><caption class=\"visually-hidden\">{cap}</caption>\
         <thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>",
        cap = esc(caption)
    )
}

/// A `<pre>` under an `<h{level}>` with a copy button (shown by the script; without it the
/// text stays selectable).
pub(crate) fn copy_block(level: u8, id: &str, label: &str, text: &str) -> String {
    format!(
        "<div class=\"copy-block\"><div class=\"copy-head\"><h{level} id=\"{id}-label\">{label}</h{level}>\
         <button type=\"button\" class=\"small secondary copy\" data-copy=\"{id}\" hidden>Copy<span class=\"visually-hidden\"> {label}</span></button></div>\
         <pre id=\"{id}\" tabindex=\"0\" aria-labelledby=\"{id}-label\">{text}</pre></div>",
        id = esc(id),
        label = esc(label),
        text = esc(text)
    )
}

/// A one-button form (`POST action`), with hidden fields and an optional confirmation.
/// `label` is HTML: escape anything dynamic in it.
pub(crate) fn button_form(
    ctx: &Ctx,
    action: &str,
    label: &str,
    class: &str,
    confirm: Option<&str>,
    hidden: &[(&str, &str)],
) -> String {
    let fields: String = hidden
        .iter()
        .map(|(n, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(n),
                esc(v)
            )
        })
        .collect();
    let confirm = confirm
        .map(|c| format!(" data-confirm=\"{}\"", esc(c)))
        .unwrap_or_default();
    format!(
        "<form class=\"inline\" method=\"post\" action=\"{}\"{confirm}>{}{fields}<button type=\"submit\" class=\"{}\">{}</button></form>",
        esc(action),
        ctx.csrf_field(),
        esc(class),
        label
    )
}

/// A `<code>` value.
pub(crate) fn code(s: &str) -> String {
    format!("<code>{}</code>", esc(s))
}

/// A `<code>` value shortened to its ends when long (dynamic client ids carry their whole
/// registration); the full value is in the tooltip.
pub(crate) fn short_code(s: &str) -> String {
    if s.chars().count() <= 40 {
        return code(s);
    }
    let head: String = s.chars().take(24).collect();
    let tail: String = s
        .chars()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!(
        "<code title=\"{}\">{}…{}</code>",
        esc(s),
        esc(&head),
        esc(&tail)
    )
}

/// A status badge.
pub(crate) fn badge(text: &str, kind: &str) -> String {
    format!("<span class=\"badge {}\">{}</span>", esc(kind), esc(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_is_utc_calendar_time() {
        assert_eq!(time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(time(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(
            path_seg("https://app.example/c.json"),
            "https%3A%2F%2Fapp.example%2Fc.json"
        );
        assert_eq!(path_seg("ghd_ab-C_1"), "ghd_ab-C_1");
    }
}
