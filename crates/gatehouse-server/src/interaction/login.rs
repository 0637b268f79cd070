//! The login page: email and password, checked against argon2id hashes, rate limited per
//! IP and per account.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use gatehouse_oauth::params::Params;
use gatehouse_store::SessionRecord;

use super::{Loaded, forbidden_page, load_pending, proceed, server_error_page, session_cookie};
use crate::audit::Ev;
use crate::crypto::{self, password};
use crate::env::EnvHandle;
use crate::http::{ClientIp, Env, set_cookie};
use crate::pages::{self, ErrorPage, LoginView};
use crate::respond::internal;
use crate::state::AppState;

/// `GET /login?request=…`
pub async fn page(
    State(s): State<AppState>,
    Env(mut env): Env,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = Params::parse(q.unwrap_or_default().as_bytes());
    match load_pending(&s, &mut env, &headers, q.get("request")).await {
        Ok(loaded) => render(&s, &env, &loaded, StatusCode::OK, "", None),
        Err(resp) => resp,
    }
}

fn render(
    s: &AppState,
    env: &EnvHandle,
    l: &Loaded,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
) -> Response {
    let resource = env.resource_by_id(&l.pending.resource_id);
    pages::login(
        status,
        &LoginView {
            action: &env.url("/login"),
            request: &l.handle,
            csrf: &s.master.csrf_token(&l.handle, &l.browser),
            client_name: l.client.name(),
            resource_name: resource.map_or("this MCP server", |r| r.record.name.as_str()),
            email,
            error,
        },
    )
}

/// `POST /login`
pub async fn submit(
    State(s): State<AppState>,
    Env(mut env): Env,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Params::parse(&body);
    let loaded = match load_pending(&s, &mut env, &headers, form.get("request")).await {
        Ok(l) => l,
        Err(resp) => return resp,
    };
    if !s.master.csrf_valid(
        &loaded.handle,
        &loaded.browser,
        form.get("csrf").unwrap_or_default(),
    ) {
        return forbidden_page();
    }
    let email = form
        .get("email")
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let now_ms = s.now_ms();
    let limits = &s.limits;
    let limited = s
        .limiter
        .check(
            &format!("login-ip:{}:{}", env.id(), ip.as_deref().unwrap_or("-")),
            limits.login_per_ip,
            now_ms,
        )
        .and_then(|()| {
            s.limiter.check(
                &format!("login-account:{}:{email}", env.id()),
                limits.login_per_account,
                now_ms,
            )
        });
    if let Err(retry) = limited {
        log_login(
            &s,
            &env,
            &loaded,
            ip.clone(),
            None,
            Some(("rate_limited", format!("too many attempts for {email}"))),
        )
        .await;
        return rate_limited_page(retry);
    }
    let user = match s.store.get_user_by_email(env.id(), &email).await {
        Ok(u) => u,
        Err(e) => return server_error_page(&internal("user lookup", e)),
    };
    let pw = form.get("password").unwrap_or_default().to_owned();
    let phc = user.as_ref().map_or_else(
        || password::dummy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    let ok = tokio::task::spawn_blocking(move || password::verify(&pw, &phc))
        .await
        .unwrap_or(false);
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        other => {
            let why = match other {
                None => format!("no user {email} in environment {}", env.id()),
                Some(u) if u.disabled => format!("user {} is disabled", u.id),
                Some(u) => format!("wrong password for user {}", u.id),
            };
            log_login(&s, &env, &loaded, ip, None, Some(("access_denied", why))).await;
            return render(
                &s,
                &env,
                &loaded,
                StatusCode::UNAUTHORIZED,
                &email,
                Some("Incorrect email or password."),
            );
        }
    };
    let now = s.now();
    let session_secret = crypto::new_secret("");
    let session = SessionRecord {
        hash: session_secret.hash(),
        env_id: env.id().to_owned(),
        user_id: user.id.clone(),
        auth_time: now,
        expires_at: now + env.record.settings.session_ttl,
    };
    if let Err(e) = s.store.create_session(&session).await {
        return server_error_page(&internal("creating session", e));
    }
    match s
        .store
        .set_pending_user(env.id(), &loaded.pending.hash, &user.id, now, now)
        .await
    {
        Ok(true) => {}
        Ok(false) => return super::request_gone_page(),
        Err(e) => return server_error_page(&internal("recording login", e)),
    }
    log_login(&s, &env, &loaded, ip, Some(&user.id), None).await;
    let mut loaded = loaded;
    loaded.pending.user_id = Some(user.id.clone());
    loaded.pending.auth_time = Some(now);
    let mut resp = proceed(&s, &env, &loaded, Some(&session), true).await;
    let cookie = set_cookie(
        &session_cookie(&env),
        session_secret.expose(),
        env.record.settings.session_ttl,
        env.https,
    );
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    resp
}

async fn log_login(
    s: &AppState,
    env: &Arc<EnvHandle>,
    l: &Loaded,
    ip: Option<String>,
    user: Option<&str>,
    failure: Option<(&str, String)>,
) {
    let resource = env
        .resource_by_id(&l.pending.resource_id)
        .map(|r| r.record.uri.clone());
    let mut ev = Ev::new(env.id(), &l.pending.correlation_id, "login", s.now_ms())
        .client(Some(&l.pending.client_id))
        .resource(resource.as_deref())
        .user(user)
        .ip(ip);
    if let Some((code, detail)) = failure {
        ev = ev.failed_with(code, detail);
    }
    s.audit.emit(ev.build()).await;
}

fn rate_limited_page(retry_after: u64) -> Response {
    let mut resp = ErrorPage {
        status: StatusCode::TOO_MANY_REQUESTS,
        title: "Too many sign-in attempts",
        message: format!("Please wait {retry_after} seconds before trying again."),
        facts: vec![],
        fixes: vec![],
        code: "temporarily_unavailable",
    }
    .render();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, retry_after.into());
    resp
}
