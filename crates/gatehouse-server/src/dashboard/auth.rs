//! Signing in and out, and the first-run setup link. Administrators are not end users: they
//! live in the admin store, server-wide, and sign in with email and password (argon2id).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_oauth::secret::{Secret, b64url};
use gatehouse_store::{AdminSessionRecord, StoreError};
use serde::Deserialize;

use super::html::{Field, bare_page};
use super::session::{
    Fail, Form, PRE_COOKIE, Post, SESSION_TTL, csrf_for, csrf_ok, done, set_cookie,
};
use crate::admin::{self, AdminError};
use crate::admin_api::ADMIN_SESSION_COOKIE;
use crate::crypto::{self, password};
use crate::http::{ClientIp, cookie};
use crate::pages::esc;
use crate::state::AppState;

/// The message of every failed sign-in: it does not say which part was wrong.
const WRONG: &str = "Wrong email or password.";

fn setup_token(state: &AppState) -> String {
    csrf_for(state, "setup", "first administrator")
}

/// The first-run link that lets the first administrator create their account: `None` once an
/// administrator exists. The token is an HMAC of a fixed label under the master key, so every
/// node of a deployment accepts the same link, and it stops working as soon as one
/// administrator exists.
pub async fn setup_link(state: &AppState, public_url: &str) -> Result<Option<String>, StoreError> {
    if !state.store.list_admin_users().await?.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "{}/admin/setup?token={}",
        public_url.trim_end_matches('/'),
        setup_token(state)
    )))
}

/// The value binding the sign-in and setup forms to this browser, created when missing.
fn pre_binding(state: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, PRE_COOKIE).filter(|v| (32..=64).contains(&v.len())) {
        Some(v) => (v, None),
        None => {
            let v = b64url(&crypto::random_bytes::<32>());
            let set = set_cookie(state, PRE_COOKIE, &v, 3600);
            (v, Some(set))
        }
    }
}

fn with_cookie(mut resp: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// Query of the sign-in page.
#[derive(Deserialize, Default)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    expired: Option<String>,
    #[serde(default)]
    signed_out: Option<String>,
}

struct LoginView<'a> {
    email: &'a str,
    error: Option<&'a str>,
    note: Option<&'a str>,
    no_admin: bool,
}

fn login_html(state: &AppState, status: StatusCode, binding: &str, v: &LoginView<'_>) -> Response {
    let note = v
        .note
        .map(|n| {
            format!(
                "<div class=\"notice info\" role=\"status\">{}</div>",
                esc(n)
            )
        })
        .unwrap_or_default();
    let error = v
        .error
        .map(|e| {
            format!(
                "<div class=\"notice error\" role=\"alert\">{}</div>",
                esc(e)
            )
        })
        .unwrap_or_default();
    let setup = if v.no_admin {
        "<div class=\"notice warn\"><p>No administrator exists yet. Open the setup link that <code>gatehouse serve</code> \
         printed when it started to create the first one.</p></div>"
    } else {
        ""
    };
    let body = format!(
        "<h1>Sign in to the Gatehouse dashboard</h1>{note}{setup}{error}\
         <form method=\"post\" action=\"/admin/login\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{email}{password}\
         <button type=\"submit\">Sign in</button></form>\
         <p class=\"muted\">This is the administrators' sign-in. People who use your MCP servers sign in on their environment's own page.</p>",
        csrf = esc(&csrf_for(state, "login", binding)),
        email = Field::text("email", "Email", v.email)
            .kind("email")
            .attrs("required autocomplete=\"username\"")
            .html(),
        password = Field::text("password", "Password", "")
            .kind("password")
            .attrs("required autocomplete=\"current-password\"")
            .html(),
    );
    bare_page(status, "Sign in", &body)
}

/// `GET /admin/login`.
pub(crate) async fn login_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let no_admin = match s.store.list_admin_users().await {
        Ok(list) => list.is_empty(),
        Err(e) => return Fail::internal("listing administrators", e).into_response(),
    };
    let (binding, set) = pre_binding(&s, &headers);
    let note = if q.expired.is_some() {
        Some("Your session has expired. Sign in again.")
    } else if q.signed_out.is_some() {
        Some("You are signed out.")
    } else {
        None
    };
    with_cookie(
        login_html(
            &s,
            StatusCode::OK,
            &binding,
            &LoginView {
                email: "",
                error: None,
                note,
                no_admin,
            },
        ),
        set,
    )
}

/// `POST /admin/login`: generic failure message, rate limited per IP and per account.
pub(crate) async fn login(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let (binding, set) = pre_binding(&s, &headers);
    let email = form.get("email").trim().to_ascii_lowercase();
    let refuse = |status, error: &str| {
        with_cookie(
            login_html(
                &s,
                status,
                &binding,
                &LoginView {
                    email: &email,
                    error: Some(error),
                    note: None,
                    no_admin: false,
                },
            ),
            set.clone(),
        )
    };
    if !csrf_ok(&s, "login", &binding, form.get("csrf")) {
        return refuse(
            StatusCode::FORBIDDEN,
            "The sign-in form expired. Try again.",
        );
    }
    let now_ms = s.now_ms();
    let limited = s
        .limiter
        .check(
            &format!("admin-login-ip:{}", ip.as_deref().unwrap_or("-")),
            s.limits.login_per_ip,
            now_ms,
        )
        .and_then(|()| {
            s.limiter.check(
                &format!("admin-login-account:{email}"),
                s.limits.login_per_account,
                now_ms,
            )
        });
    if let Err(retry) = limited {
        let mut resp = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many sign-in attempts. Wait {retry} seconds and try again."),
        );
        resp.headers_mut().insert(header::RETRY_AFTER, retry.into());
        return resp;
    }
    let admin = match s.store.get_admin_user_by_email(&email).await {
        Ok(a) => a,
        Err(e) => return Fail::internal("admin lookup", e).into_response(),
    };
    let phc = admin.as_ref().map_or_else(
        || password::dummy_hash().to_owned(),
        |a| a.password_hash.clone(),
    );
    let pw = form.get("password").to_owned();
    let ok = tokio::task::spawn_blocking(move || password::verify(&pw, &phc))
        .await
        .unwrap_or(false);
    match admin {
        Some(a) if ok && !a.disabled => match start_session(&s, &a.id).await {
            Ok(cookie) => with_cookie(
                done(&s, "/admin", &format!("Signed in as {}.", a.email)),
                Some(cookie),
            ),
            Err(f) => f.into_response(),
        },
        _ => {
            tracing::info!(target: "gatehouse::admin", email = %email, "dashboard sign-in failed");
            refuse(StatusCode::UNAUTHORIZED, WRONG)
        }
    }
}

/// Creates a session and returns its cookie.
async fn start_session(s: &AppState, admin_id: &str) -> Result<HeaderValue, Fail> {
    let secret = crypto::new_secret("");
    let now = s.now();
    let record = AdminSessionRecord {
        hash: secret.hash(),
        admin_id: admin_id.to_owned(),
        created_at: now,
        expires_at: now + SESSION_TTL,
    };
    s.store.create_admin_session(&record).await?;
    Ok(set_cookie(
        s,
        ADMIN_SESSION_COOKIE,
        secret.expose(),
        SESSION_TTL,
    ))
}

/// `POST /admin/logout`.
pub(crate) async fn logout(State(s): State<AppState>, headers: HeaderMap, _post: Post) -> Response {
    if let Some(value) = cookie(&headers, ADMIN_SESSION_COOKIE)
        && let Err(e) = s
            .store
            .delete_admin_session(&Secret::presented(&value).hash())
            .await
    {
        return Fail::internal("ending admin session", e).into_response();
    }
    let mut resp = Redirect::to("/admin/login?signed_out=1").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&s, ADMIN_SESSION_COOKIE, "", 0),
    );
    resp
}

/// Query of the setup page.
#[derive(Deserialize, Default)]
pub(crate) struct SetupQuery {
    #[serde(default)]
    token: String,
}

/// Whether setup is open and the token right; otherwise the page saying why not.
async fn check_setup(s: &AppState, token: &str) -> Result<(), Response> {
    match s.store.list_admin_users().await {
        Ok(list) if !list.is_empty() => {
            let body = "<h1>Setup is complete</h1><p>An administrator already exists, so this setup link no longer works.</p>\
                        <p><a href=\"/admin/login\">Sign in</a></p>";
            Err(bare_page(StatusCode::GONE, "Setup is complete", body))
        }
        Ok(_)
            if aws_lc_rs::constant_time::verify_slices_are_equal(
                setup_token(s).as_bytes(),
                token.as_bytes(),
            )
            .is_err() =>
        {
            let body = "<h1>This setup link is not valid</h1><p>Use the exact link that <code>gatehouse serve</code> printed \
                        when it started (it changes if the master key changes).</p>";
            Err(bare_page(
                StatusCode::FORBIDDEN,
                "Setup link not valid",
                body,
            ))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(Fail::internal("listing administrators", e).into_response()),
    }
}

fn setup_html(
    s: &AppState,
    status: StatusCode,
    binding: &str,
    token: &str,
    email: &str,
    error: Option<&str>,
) -> Response {
    let error = error
        .map(|e| {
            format!(
                "<div class=\"notice error\" role=\"alert\">{}</div>",
                esc(e)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>Create the first administrator</h1><p>This account signs in to the dashboard and can create more \
         administrators' API keys. The setup link stops working once it exists.</p>{error}\
         <form method=\"post\" action=\"/admin/setup\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">{email}{password}{confirm}\
         <button type=\"submit\">Create administrator</button></form>",
        csrf = esc(&csrf_for(s, "login", binding)),
        token = esc(token),
        email = Field::text("email", "Email", email)
            .kind("email")
            .attrs("required autocomplete=\"username\"")
            .html(),
        password = Field::text("password", "Password", "")
            .kind("password")
            .hint("At least 8 characters.")
            .attrs("required minlength=\"8\" autocomplete=\"new-password\"")
            .html(),
        confirm = Field::text("confirm", "Repeat the password", "")
            .kind("password")
            .attrs("required minlength=\"8\" autocomplete=\"new-password\"")
            .html(),
    );
    bare_page(status, "Create the first administrator", &body)
}

/// `GET /admin/setup?token=…`.
pub(crate) async fn setup_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SetupQuery>,
) -> Response {
    if let Err(resp) = check_setup(&s, &q.token).await {
        return resp;
    }
    let (binding, set) = pre_binding(&s, &headers);
    with_cookie(
        setup_html(&s, StatusCode::OK, &binding, &q.token, "", None),
        set,
    )
}

/// `POST /admin/setup`: creates the first administrator and signs them in.
pub(crate) async fn setup(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let token = form.get("token");
    if let Err(resp) = check_setup(&s, token).await {
        return resp;
    }
    let (binding, set) = pre_binding(&s, &headers);
    let email = form.get("email").trim();
    let again = |status, error: &str| {
        with_cookie(
            setup_html(&s, status, &binding, token, email, Some(error)),
            set.clone(),
        )
    };
    if !csrf_ok(&s, "login", &binding, form.get("csrf")) {
        return again(StatusCode::FORBIDDEN, "The form expired. Try again.");
    }
    if form.get("password") != form.get("confirm") {
        return again(
            StatusCode::BAD_REQUEST,
            "The two passwords are not the same.",
        );
    }
    let admin =
        match admin::create_admin_user(&*s.store, email, form.get("password"), s.now()).await {
            Ok(a) => a,
            Err(AdminError::Invalid(m) | AdminError::Conflict(m)) => {
                return again(StatusCode::BAD_REQUEST, &m);
            }
            Err(e) => return Fail::from(e).into_response(),
        };
    tracing::info!(target: "gatehouse::admin", admin = %admin.id, "first administrator created through the setup link");
    match start_session(&s, &admin.id).await {
        Ok(cookie) => with_cookie(
            done(
                &s,
                "/admin",
                &format!("Welcome. You are signed in as {}.", admin.email),
            ),
            Some(cookie),
        ),
        Err(f) => f.into_response(),
    }
}
