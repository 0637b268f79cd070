//! Server-rendered HTML: login, consent and error pages. They work without JavaScript and
//! under a strict Content Security Policy (no scripts, the one stylesheet pinned by hash,
//! `frame-ancestors 'none'`). No `Cross-Origin-Opener-Policy: same-origin`: it severs
//! `window.opener` and breaks clients that open the flow in a popup (CQ-11).

use std::sync::OnceLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const CSS: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}\
main{max-width:30rem;margin:3rem auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 2px 12px rgba(0,0,0,.08)}\
h1{font-size:1.35rem;margin:0 0 1rem}p{line-height:1.5}label{display:block;margin:.8rem 0 .3rem;font-weight:600}\
input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #b8bfcc;border-radius:6px;font-size:1rem}\
button{font-size:1rem;padding:.6rem 1.2rem;border-radius:6px;border:1px solid #2f5bd3;background:#2f5bd3;color:#fff;cursor:pointer;margin:1rem .5rem 0 0}\
button.secondary{background:#fff;color:#2f5bd3}ul{padding-left:1.2rem}li{margin:.4rem 0}code{background:#eef0f4;padding:.1rem .3rem;border-radius:4px;word-break:break-all}\
.error{background:#fdecec;border:1px solid #f1b3b3;padding:.7rem;border-radius:6px}.warn{background:#fff6e0;border:1px solid #f0d28a;padding:.7rem;border-radius:6px}\
.muted{color:#5b6475;font-size:.9rem}.scope{font-weight:600}\
.verified{background:#e8f6ec;border:1px solid #9fd3ad;padding:.7rem;border-radius:6px}";

fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, CSS.as_bytes());
        let hash = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest.as_ref());
        format!("default-src 'none'; style-src 'sha256-{hash}'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'")
    })
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A complete page with the security headers.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{}</title><style>{CSS}</style></head>\
         <body><main>{body}</main></body></html>",
        esc(title)
    );
    let mut resp = (status, Html(html)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(csp()).expect("ascii CSP"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// An error page: what happened, the details, and what to do.
pub struct ErrorPage<'a> {
    /// HTTP status.
    pub status: StatusCode,
    /// Headline.
    pub title: &'a str,
    /// One paragraph saying what happened.
    pub message: String,
    /// Facts as (label, value) pairs, shown as code.
    pub facts: Vec<(&'a str, String)>,
    /// Steps that fix it.
    pub fixes: Vec<String>,
    /// The OAuth error code, shown small.
    pub code: &'a str,
}

impl ErrorPage<'_> {
    /// Renders it.
    pub fn render(self) -> Response {
        let mut body = format!(
            "<h1>{}</h1><p class=\"error\">{}</p>",
            esc(self.title),
            esc(&self.message)
        );
        if !self.facts.is_empty() {
            body.push_str("<ul>");
            for (label, value) in &self.facts {
                body.push_str(&format!(
                    "<li>{}: <code>{}</code></li>",
                    esc(label),
                    esc(value)
                ));
            }
            body.push_str("</ul>");
        }
        if !self.fixes.is_empty() {
            body.push_str("<p><strong>What to do</strong></p><ul>");
            for f in &self.fixes {
                body.push_str(&format!("<li>{}</li>", esc(f)));
            }
            body.push_str("</ul>");
        }
        body.push_str(&format!(
            "<p class=\"muted\">Error code: <code>{}</code></p>",
            esc(self.code)
        ));
        page(self.status, self.title, &body)
    }
}

/// Hidden form fields every interaction form carries.
pub fn hidden(request: &str, csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"request\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(request),
        esc(csrf)
    )
}

/// What the login page shows.
pub struct LoginView<'a> {
    /// The form's action URL.
    pub action: &'a str,
    /// Request handle.
    pub request: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// Client display name.
    pub client_name: &'a str,
    /// MCP server name.
    pub resource_name: &'a str,
    /// Prefilled email.
    pub email: &'a str,
    /// Error to show.
    pub error: Option<&'a str>,
}

/// The login page.
pub fn login(status: StatusCode, v: &LoginView<'_>) -> Response {
    let error = v
        .error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in</h1><p><strong>{client}</strong> wants to connect to <strong>{server}</strong>.</p>{error}\
         <form method=\"post\" action=\"{action}\">{hidden}\
         <label for=\"email\">Email</label><input id=\"email\" type=\"email\" name=\"email\" value=\"{email}\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label><input id=\"password\" type=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form>",
        client = esc(v.client_name),
        server = esc(v.resource_name),
        action = esc(v.action),
        hidden = hidden(v.request, v.csrf),
        email = esc(v.email),
    );
    page(status, "Sign in", &body)
}

/// What the consent page shows.
pub struct ConsentView<'a> {
    /// The form's action URL.
    pub action: &'a str,
    /// Request handle.
    pub request: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// Client display name.
    pub client_name: &'a str,
    /// Client id.
    pub client_id: &'a str,
    /// For a client identified by a metadata document URL, that URL's host.
    pub client_host: Option<String>,
    /// The known client this provably is.
    pub verified: Option<&'a str>,
    /// Host the browser will be sent back to (AS-20).
    pub redirect_host: &'a str,
    /// Whether every redirect URI of the client is on this machine.
    pub localhost_only: bool,
    /// MCP server name.
    pub resource_name: &'a str,
    /// MCP server URI.
    pub resource_uri: &'a str,
    /// (scope, description) pairs.
    pub scopes: Vec<(String, String)>,
    /// Signed-in user's email.
    pub user_email: &'a str,
}

/// The consent page.
pub fn consent(v: &ConsentView<'_>) -> Response {
    let mut scopes = String::from("<ul>");
    for (name, desc) in &v.scopes {
        scopes.push_str(&format!(
            "<li><span class=\"scope\">{}</span> <code>{}</code></li>",
            esc(desc),
            esc(name)
        ));
    }
    scopes.push_str("</ul>");
    let warn = if v.localhost_only {
        "<p class=\"warn\">This application runs on this computer (its redirect address is localhost). \
         Only allow it if you started it yourself just now.</p>"
    } else {
        ""
    };
    let identity = match (v.verified, &v.client_host) {
        (Some(name), _) => format!("<p class=\"verified\">Verified: this is {}.</p>", esc(name)),
        (None, Some(host)) => format!(
            "<p class=\"muted\">This application describes itself in a document published by <strong>{}</strong>; \
             it is not a verified client.</p>",
            esc(host)
        ),
        (None, None) => String::new(),
    };
    let body = format!(
        "<h1>Allow access?</h1><p><strong>{client}</strong> wants to access <strong>{server}</strong> \
         (<code>{uri}</code>) as <strong>{email}</strong>.</p>{identity}\
         <p>It will be able to:</p>{scopes}\
         <p class=\"muted\">After you decide, you will be sent to <code>{host}</code>. Client id: <code>{client_id}</code></p>{warn}\
         <form method=\"post\" action=\"{action}\">{hidden}\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></form>",
        client = esc(v.client_name),
        server = esc(v.resource_name),
        uri = esc(v.resource_uri),
        email = esc(v.user_email),
        host = esc(v.redirect_host),
        client_id = esc(v.client_id),
        action = esc(v.action),
        hidden = hidden(v.request, v.csrf),
    );
    page(StatusCode::OK, "Allow access?", &body)
}

/// An interstitial for an error that would otherwise redirect the browser to a dynamically
/// registered web client before the user did anything (RFC 9700 §4.11.2: the AS should not
/// be an open redirector for untrusted clients).
pub fn redirect_interstitial(target: &str, host: &str, description: &str) -> Response {
    let body = format!(
        "<h1>The application's request could not be completed</h1><p class=\"error\">{}</p>\
         <p>You can return to <code>{}</code>, which will see this error.</p><p><a href=\"{}\">Return to the application</a></p>",
        esc(description),
        esc(host),
        esc(target)
    );
    page(StatusCode::BAD_REQUEST, "Request not completed", &body)
}
