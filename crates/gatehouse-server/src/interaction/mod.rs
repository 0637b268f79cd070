//! The browser side of an authorization: `/authorize`, the login and consent pages, and the
//! step that issues the code. A pending authorization (stored, at least 10 minutes) carries
//! the validated request between pages; it is bound to the browser that started it by a
//! cookie, and every form carries a CSRF token derived from both.

pub mod authorize;
pub mod consent;
pub mod login;

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_oauth::authorize::Prompt;
use gatehouse_oauth::redirect::{RedirectKind, VerifiedRedirect};
use gatehouse_oauth::scope::ScopeSet;
use gatehouse_oauth::secret::Secret;
use gatehouse_oauth::{ErrorCode, OAuthError};
use gatehouse_store::{
    AuthCodeRecord, ClientKind, ClientRecord, ConsentRecord, GrantRecord,
    PendingAuthorizationRecord, SessionRecord,
};

use crate::audit::Ev;
use crate::clients::Client;
use crate::crypto;
use crate::env::EnvHandle;
use crate::http::{cookie, set_cookie};
use crate::pages::{self, ErrorPage};
use crate::respond::internal;
use crate::state::AppState;

/// Base name of the cookie binding a pending authorization to a browser.
pub const BROWSER_COOKIE: &str = "gh_browser";

/// The session cookie name of an environment.
pub fn session_cookie(env: &EnvHandle) -> String {
    env.cookie_name(&format!("gh_session_{}", env.id()))
}

/// The browser-binding cookie value, creating one if the browser has none.
pub fn browser_id(env: &EnvHandle, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    let name = env.cookie_name(BROWSER_COOKIE);
    match cookie(headers, &name).filter(|v| v.len() >= 32 && v.len() <= 64) {
        Some(v) => (v, None),
        None => {
            let v = gatehouse_oauth::secret::b64url(&crypto::random_bytes::<32>());
            let set = set_cookie(&name, &v, 30 * 24 * 3600, env.https);
            (v, Some(set))
        }
    }
}

/// The session of this browser in this environment, if any, with its user's consent for
/// `client` and the MCP server `resource_id` (read in the same trip to the store: an
/// authorization with a remembered consent needs both).
///
/// The user is not read: disabling a user or resetting their password ends their sessions,
/// and the code exchange checks the user again before anything is issued.
pub async fn current_session(
    state: &AppState,
    env: &EnvHandle,
    headers: &HeaderMap,
    client: &Client,
    resource_id: &str,
) -> Result<Option<(SessionRecord, Option<ConsentRecord>)>, OAuthError> {
    let Some(value) = cookie(headers, &session_cookie(env)) else {
        return Ok(None);
    };
    let hash = Secret::presented(&value).hash();
    state
        .store
        .get_session_with_consent(
            env.id(),
            &hash,
            state.now(),
            client.consent_key(),
            resource_id,
        )
        .await
        .map_err(|e| internal("session lookup", e))
}

/// A user's consent for an authorization's client and MCP server, already read: `consent`
/// is `None` when the user has none.
pub struct KnownConsent<'a> {
    /// Whose.
    pub user_id: &'a str,
    /// The consent.
    pub consent: Option<&'a ConsentRecord>,
}

/// A pending authorization loaded for a page, checked against the browser.
pub struct Loaded {
    /// The request handle (clear; it is in the page URL).
    pub handle: String,
    /// The record.
    pub pending: PendingAuthorizationRecord,
    /// The browser-binding value.
    pub browser: String,
    /// The client.
    pub client: Arc<Client>,
}

/// Loads the pending authorization named by `request`, or renders why it cannot continue.
/// `env` is reloaded if the request names an MCP server this node has not loaded yet (the
/// authorization may have started at another node just after the server was added).
pub async fn load_pending(
    state: &AppState,
    env: &mut Arc<EnvHandle>,
    headers: &HeaderMap,
    handle: Option<&str>,
) -> Result<Loaded, Response> {
    let Some(handle) = handle else {
        return Err(expired_page("The sign-in link is incomplete."));
    };
    let hash = Secret::presented(handle).hash();
    let pending = match state.store.get_pending(env.id(), &hash, state.now()).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Err(expired_page(
                "This sign-in request has expired or was already completed.",
            ));
        }
        Err(e) => return Err(server_error_page(&internal("pending lookup", e))),
    };
    if env.resource_by_id(&pending.resource_id).is_none() {
        *env = state.envs.latest(env, state.now()).await;
    }
    let browser = cookie(headers, &env.cookie_name(BROWSER_COOKIE)).unwrap_or_default();
    if !pending.browser_hash.matches(&browser) {
        return Err(ErrorPage {
            status: StatusCode::FORBIDDEN,
            title: "Open this page in the browser that started the sign-in",
            message: "This sign-in request was started in another browser (or your cookies were cleared), so it cannot \
                      be continued here."
                .into(),
            facts: vec![],
            fixes: vec!["Go back to your application and connect again; it will open a fresh sign-in page.".into()],
            code: "invalid_request",
        }
        .render());
    }
    let client = match crate::clients::resolve(state, env, &pending.client_id).await {
        Ok(Ok(c)) => c,
        Ok(Err(_)) => {
            return Err(expired_page(
                "The application that started this sign-in is no longer registered or was disabled.",
            ));
        }
        Err(e) => return Err(server_error_page(&e)),
    };
    Ok(Loaded {
        handle: handle.to_owned(),
        pending,
        browser,
        client,
    })
}

/// The page for a request that was already completed or has expired.
pub fn request_gone_page() -> Response {
    expired_page("This sign-in request has expired or was already completed.")
}

fn expired_page(message: &str) -> Response {
    ErrorPage {
        status: StatusCode::BAD_REQUEST,
        title: "This sign-in link can no longer be used",
        message: message.to_owned(),
        facts: vec![],
        fixes: vec![
            "Go back to your application and connect again; it will open a fresh sign-in page."
                .into(),
        ],
        code: "invalid_request",
    }
    .render()
}

/// A 500 page for an unexpected failure (already logged by [`internal`]).
pub fn server_error_page(e: &OAuthError) -> Response {
    ErrorPage {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        title: "Something went wrong",
        message: e.description.to_string(),
        facts: vec![],
        fixes: vec![
            "Try again in a moment. If it keeps happening, the server log names the cause.".into(),
        ],
        code: e.code.as_str(),
    }
    .render()
}

/// A page for a CSRF or binding failure on a form post.
pub fn forbidden_page() -> Response {
    ErrorPage {
        status: StatusCode::FORBIDDEN,
        title: "This form could not be accepted",
        message: "The form was not submitted from the page this server showed you (its security token does not match)."
            .into(),
        facts: vec![],
        fixes: vec!["Go back to your application and connect again.".into()],
        code: "invalid_request",
    }
    .render()
}

/// What to show next for a pending authorization.
pub enum Step {
    /// Show the login page.
    Login,
    /// Show the consent page to this signed-in user.
    Consent {
        /// The user.
        user_id: String,
        /// When they authenticated.
        auth_time: i64,
    },
    /// Everything is settled: issue the code.
    Complete {
        /// The user.
        user_id: String,
        /// When they authenticated.
        auth_time: i64,
    },
    /// `prompt=none` and interaction would be needed.
    Fail(OAuthError),
}

/// Decides the next step. A login done for this very request (recorded on the pending
/// authorization) satisfies `prompt=login` and `max_age`; otherwise the session must. The
/// consent is looked up unless `known` already holds the deciding user's.
pub async fn next_step(
    state: &AppState,
    env: &EnvHandle,
    client: &Client,
    p: &PendingAuthorizationRecord,
    session: Option<&SessionRecord>,
    known: Option<KnownConsent<'_>>,
) -> Result<Step, OAuthError> {
    let prompt = Prompt::from_param(&p.prompt);
    let now = state.now();
    let login = match (&p.user_id, p.auth_time, session) {
        (Some(user), Some(at), _) => Some((user.clone(), at)),
        (None, _, Some(s))
            if !prompt.login
                && !prompt.select_account
                && p.max_age.is_none_or(|m| now - s.auth_time <= m) =>
        {
            Some((s.user_id.clone(), s.auth_time))
        }
        _ => None,
    };
    let Some((user_id, auth_time)) = login else {
        return Ok(if prompt.none {
            Step::Fail(OAuthError::new(
                ErrorCode::LoginRequired,
                "the user must sign in (prompt=none was requested)",
            ))
        } else {
            Step::Login
        });
    };
    let consent = match known {
        Some(k) if k.user_id == user_id => k.consent.cloned(),
        _ => state
            .store
            .get_consent(env.id(), &user_id, client.consent_key(), &p.resource_id)
            .await
            .map_err(|e| internal("consent lookup", e))?,
    };
    let covered = consent.is_some_and(|c| {
        ScopeSet::from_tokens(p.scope.split(' '))
            .is_subset_of(&ScopeSet::from_tokens(c.scope.split(' ')))
    });
    Ok(match (covered && !prompt.consent, prompt.none) {
        (true, _) => Step::Complete { user_id, auth_time },
        (false, true) => Step::Fail(OAuthError::new(
            ErrorCode::ConsentRequired,
            "the user must consent (prompt=none was requested)",
        )),
        (false, false) => Step::Consent { user_id, auth_time },
    })
}

/// Redirect after a GET (302) or after a form POST (303, RFC 9700 §4.12).
pub fn redirect(location: &str, after_post: bool) -> Response {
    let status = if after_post {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::FOUND
    };
    let mut resp = status.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Sends an error to the client's verified redirect URI with `state` and `iss` (RFC 9207).
///
/// Before the user has interacted, an error for a dynamically registered web client (https
/// redirect URI) is shown as an interstitial instead of an automatic redirect, so the server
/// cannot be used as an open redirector (RFC 9700 §4.11.2). Loopback and private-scheme
/// redirect URIs reach only the user's own machine and are redirected directly.
pub fn error_redirect(
    env: &EnvHandle,
    client: &ClientRecord,
    to: &VerifiedRedirect,
    state: Option<&str>,
    error: &OAuthError,
    after_post: bool,
    user_interacted: bool,
) -> Response {
    let mut params: Vec<(&str, &str)> = vec![
        ("error", error.code.as_str()),
        ("error_description", &error.description),
    ];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", &env.issuer));
    let location = to.with_params(&params);
    if !user_interacted && client.kind == ClientKind::Dynamic && to.kind() == RedirectKind::Https {
        let host = url::Url::parse(to.as_str())
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        return pages::redirect_interstitial(&location, &host, &error.description);
    }
    redirect(&location, after_post)
}

/// Issues the authorization code: creates the grant and the code and redirects to the client
/// with `code`, `state` and `iss`.
pub async fn complete(
    state: &AppState,
    env: &EnvHandle,
    p: &PendingAuthorizationRecord,
    client: &Client,
    user_id: &str,
    auth_time: i64,
    after_post: bool,
) -> Result<Response, OAuthError> {
    let now = state.now();
    let grant = GrantRecord {
        id: crypto::new_correlation_id("gr_"),
        env_id: env.id().to_owned(),
        // Revoking a consent revokes the grants made under it (see Client::consent_key).
        client_id: client.consent_key().to_owned(),
        user_id: user_id.to_owned(),
        resource_id: p.resource_id.clone(),
        scope: p.scope.clone(),
        auth_time,
        correlation_id: p.correlation_id.clone(),
        created_at: now,
        revoked_at: None,
        revoked_reason: None,
    };
    let code = crypto::new_ordered_secret("ghc_code_");
    let record = AuthCodeRecord {
        hash: code.hash(),
        env_id: env.id().to_owned(),
        grant_id: grant.id.clone(),
        client_id: p.client_id.clone(),
        user_id: user_id.to_owned(),
        redirect_uri: p.redirect_uri.clone(),
        code_challenge: p.code_challenge.clone(),
        resource_id: p.resource_id.clone(),
        scope: p.scope.clone(),
        nonce: p.nonce.clone(),
        auth_time,
        created_at: now,
        expires_at: now + env.record.settings.code_ttl,
        consumed_at: None,
    };
    // The grant and its code in one transaction.
    state
        .store
        .create_grant_with_code(&grant, &record)
        .await
        .map_err(|e| internal("creating grant and code", e))?;
    let resource = env
        .resource_by_id(&p.resource_id)
        .map(|r| r.record.uri.clone());
    state
        .audit
        .emit(
            Ev::new(env.id(), &p.correlation_id, "code", state.now_ms())
                .client(Some(&p.client_id))
                .resource(resource.as_deref())
                .user(Some(user_id))
                .data("grant_id", grant.id.clone())
                .data("scope", p.scope.clone())
                .data("redirect_uri", p.redirect_uri.clone())
                .build(),
        )
        .await;
    let to = VerifiedRedirect::from_stored(p.redirect_uri.clone());
    let mut params: Vec<(&str, &str)> = vec![("code", code.expose())];
    if let Some(s) = &p.state {
        params.push(("state", s));
    }
    params.push(("iss", &env.issuer));
    Ok(redirect(&to.with_params(&params), after_post))
}

/// Continues a pending authorization after login or from `/authorize`.
pub async fn proceed(
    state: &AppState,
    env: &Arc<EnvHandle>,
    loaded: &Loaded,
    session: Option<&SessionRecord>,
    after_post: bool,
) -> Response {
    let step = match next_step(state, env, &loaded.client, &loaded.pending, session, None).await {
        Ok(s) => s,
        Err(e) => return server_error_page(&e),
    };
    let p = &loaded.pending;
    match step {
        Step::Login => redirect(
            &format!("{}?request={}", env.url("/login"), loaded.handle),
            after_post,
        ),
        Step::Consent { user_id, auth_time } => {
            // Signed in through the session: the consent page needs to know who.
            if p.user_id.is_none() {
                match state
                    .store
                    .set_pending_user(env.id(), &p.hash, &user_id, auth_time, state.now())
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return request_gone_page(),
                    Err(e) => {
                        return server_error_page(&internal("recording the signed-in user", e));
                    }
                }
            }
            redirect(
                &format!("{}?request={}", env.url("/consent"), loaded.handle),
                after_post,
            )
        }
        Step::Fail(error) => {
            let _ = state
                .store
                .take_pending(env.id(), &p.hash, state.now())
                .await;
            emit_failure(state, env, p, "authorize", &error).await;
            let to = VerifiedRedirect::from_stored(p.redirect_uri.clone());
            error_redirect(
                env,
                &loaded.client.record,
                &to,
                p.state.as_deref(),
                &error,
                after_post,
                false,
            )
        }
        Step::Complete { user_id, auth_time } => {
            match state
                .store
                .take_pending(env.id(), &p.hash, state.now())
                .await
            {
                Ok(Some(_)) => {}
                Ok(None) => return expired_page("This sign-in request was already completed."),
                Err(e) => return server_error_page(&internal("taking pending authorization", e)),
            }
            complete(
                state,
                env,
                p,
                &loaded.client,
                &user_id,
                auth_time,
                after_post,
            )
            .await
            .unwrap_or_else(|e| server_error_page(&e))
        }
    }
}

/// Logs a failed step of a pending authorization.
pub async fn emit_failure(
    state: &AppState,
    env: &EnvHandle,
    p: &PendingAuthorizationRecord,
    event: &str,
    error: &OAuthError,
) {
    let resource = env
        .resource_by_id(&p.resource_id)
        .map(|r| r.record.uri.clone());
    state
        .audit
        .emit(
            Ev::new(env.id(), &p.correlation_id, event, state.now_ms())
                .client(Some(&p.client_id))
                .resource(resource.as_deref())
                .user(p.user_id.as_deref())
                .failed(error)
                .build(),
        )
        .await;
}
