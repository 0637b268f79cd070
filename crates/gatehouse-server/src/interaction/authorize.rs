//! The authorization endpoint (RFC 6749 §3.1, §4.1.1; OIDC Core §3.1.2).
//!
//! 1. `client_id` and `redirect_uri` are checked first; while either is unverified, errors
//!    render a page that names the redirect URI received, the ones registered and what to do,
//!    and never redirect (RFC 6749 §4.1.2.1).
//! 2. Everything else is validated by the protocol core; errors go back to the client.
//! 3. The browser goes straight back with a code when the user is signed in and has consented
//!    before; otherwise a pending authorization is stored and the browser goes to login or
//!    consent.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use gatehouse_oauth::authorize::{self, AuthorizeError, ClientView};
use gatehouse_oauth::client::GrantType;
use gatehouse_oauth::params::Params;
use gatehouse_oauth::redirect::{self, VerifiedRedirect};
use gatehouse_oauth::scope::ScopeSet;
use gatehouse_oauth::secret::Secret;
use gatehouse_oauth::{ErrorCode, OAuthError};
use gatehouse_store::PendingAuthorizationRecord;

use super::{
    KnownConsent, Step, browser_id, complete, current_session, emit_failure, error_redirect,
    next_step, redirect as redirect_to, server_error_page,
};
use crate::admin::client_has_grant;
use crate::audit::Ev;
use crate::clients::known::{self, KnownClient};
use crate::clients::{self, Client, Unknown};
use crate::crypto;
use crate::env::EnvHandle;
use crate::http::{ClientIp, Env};
use crate::pages::ErrorPage;
use crate::respond::internal;
use crate::state::AppState;

/// `GET /authorize`.
pub async fn get(
    State(s): State<AppState>,
    Env(env): Env,
    ip: ClientIp,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(
        &s,
        &env,
        ip,
        &headers,
        Params::parse(q.unwrap_or_default().as_bytes()),
        false,
    )
    .await
}

/// `POST /authorize` (OIDC Core §3.1.2.1 allows form posts).
pub async fn post(
    State(s): State<AppState>,
    Env(env): Env,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&s, &env, ip, &headers, Params::parse(&body), true).await
}

struct Ctx<'a> {
    s: &'a AppState,
    env: &'a Arc<EnvHandle>,
    cid: String,
    ip: Option<String>,
}

impl Ctx<'_> {
    async fn log_failure(
        &self,
        client_id: Option<&str>,
        resource: Option<&str>,
        error: &OAuthError,
        data: &[(&str, String)],
    ) {
        let mut ev = Ev::new(self.env.id(), &self.cid, "authorize", self.s.now_ms())
            .client(client_id)
            .resource(resource)
            .ip(self.ip.clone())
            .failed(error);
        for (k, v) in data {
            ev = ev.data(k, v.clone());
        }
        self.s.audit.emit(ev.build()).await;
    }
}

async fn handle(
    s: &AppState,
    env: &Arc<EnvHandle>,
    ip: ClientIp,
    headers: &HeaderMap,
    params: Params,
    after_post: bool,
) -> Response {
    let env = &s.envs.knowing_resources(env, &params, s.now()).await;
    let cx = Ctx {
        s,
        env,
        cid: crypto::new_correlation_id("ar_"),
        ip: ip.0,
    };
    // Step 0: values with control characters (a NUL in `state`…) were set aside by the
    // parser; say so rather than act on a request that lost parameters.
    if let Err(e) = params.check_characters() {
        cx.log_failure(None, None, &e, &[]).await;
        return invalid_request_page(&e);
    }
    // Step 1: the client and its redirect URI. Until both are verified, nothing redirects.
    let (client, redirect) = match verify_client_and_redirect(&cx, &params).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    // Step 2: the rest of the request.
    let resources = env.resource_views();
    let allowed = client
        .record
        .metadata
        .scope
        .as_deref()
        .map(|sc| ScopeSet::from_tokens(sc.split(' ')));
    let view = ClientView {
        authorization_code_allowed: client_has_grant(&client.record, GrantType::AuthorizationCode),
        allowed_scopes: allowed.as_ref(),
    };
    let valid = match authorize::validate(&params, &redirect, &view, &resources) {
        Ok(v) => v,
        Err(AuthorizeError::RenderLocally(e)) => {
            cx.log_failure(Some(client.id()), params.get("resource"), &e, &[])
                .await;
            return invalid_request_page(&e);
        }
        Err(AuthorizeError::Redirect { to, state, error }) => {
            cx.log_failure(
                Some(client.id()),
                params.get("resource"),
                &error,
                &[("redirect_uri", to.as_str().to_owned())],
            )
            .await;
            return error_redirect(
                env,
                &client.record,
                &to,
                state.as_deref(),
                &error,
                after_post,
                false,
            );
        }
    };
    let resource = &env.resources[valid.resource];
    // Step 3: decide where the browser goes. The request is stored (as a pending
    // authorization) only if a page must be shown; a signed-in user who consented before gets
    // the code at once, without the store round trips of a pending authorization.
    let (browser, set_browser) = browser_id(env, headers);
    let handle = crypto::new_secret("");
    let now = s.now();
    let pending = PendingAuthorizationRecord {
        hash: handle.hash(),
        env_id: env.id().to_owned(),
        client_id: client.id().to_owned(),
        redirect_uri: redirect.as_str().to_owned(),
        resource_id: resource.record.id.clone(),
        scope: valid.scope.to_string(),
        state: valid.state.clone(),
        nonce: valid.nonce.clone(),
        code_challenge: valid.code_challenge.as_str().to_owned(),
        prompt: valid.prompt.to_param(),
        max_age: valid.max_age,
        browser_hash: Secret::presented(&browser).hash(),
        correlation_id: cx.cid.clone(),
        user_id: None,
        auth_time: None,
        created_at: now,
        expires_at: now + env.record.settings.pending_ttl.max(600),
    };
    let signed_in = match current_session(s, env, headers, &client, &pending.resource_id).await {
        Ok(v) => v,
        Err(e) => return server_error_page(&e),
    };
    let session = signed_in.as_ref().map(|(session, _)| session);
    let known = signed_in.as_ref().map(|(session, consent)| KnownConsent {
        user_id: &session.user_id,
        consent: consent.as_ref(),
    });
    let step = match next_step(s, env, &client, &pending, session, known).await {
        Ok(step) => step,
        Err(e) => return server_error_page(&e),
    };
    let authorize_event = Ev::new(env.id(), &cx.cid, "authorize", s.now_ms())
        .client(Some(client.id()))
        .resource(Some(&resource.record.uri))
        .ip(cx.ip.clone())
        .data("redirect_uri", redirect.as_str().to_owned())
        .data("scope", pending.scope.clone())
        .data("prompt", pending.prompt.clone())
        .data(
            "resource_requested",
            params.get("resource").unwrap_or_default().to_owned(),
        )
        .build();
    let mut resp = match step {
        Step::Complete { user_id, auth_time } => {
            s.audit.emit(authorize_event).await;
            complete(s, env, &pending, &client, &user_id, auth_time, after_post)
                .await
                .unwrap_or_else(|e| server_error_page(&e))
        }
        Step::Fail(error) => {
            s.audit.emit(authorize_event).await;
            emit_failure(s, env, &pending, "authorize", &error).await;
            error_redirect(
                env,
                &client.record,
                &redirect,
                pending.state.as_deref(),
                &error,
                after_post,
                false,
            )
        }
        Step::Login | Step::Consent { .. } => {
            let mut pending = pending;
            let page = match step {
                Step::Consent { user_id, auth_time } => {
                    // Signed in through the session: the consent page needs to know who.
                    pending.user_id = Some(user_id);
                    pending.auth_time = Some(auth_time);
                    "/consent"
                }
                _ => "/login",
            };
            if let Err(e) = s.store.create_pending(&pending).await {
                return server_error_page(&internal("storing pending authorization", e));
            }
            s.audit.emit(authorize_event).await;
            redirect_to(
                &format!("{}?request={}", env.url(page), handle.expose()),
                after_post,
            )
        }
    };
    if let Some(c) = set_browser {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

async fn verify_client_and_redirect(
    cx: &Ctx<'_>,
    params: &Params,
) -> Result<(Arc<Client>, VerifiedRedirect), Response> {
    for name in ["client_id", "redirect_uri"] {
        if params.is_repeated(name) {
            let e =
                OAuthError::invalid_request(format!("parameter {name:?} was sent more than once"));
            cx.log_failure(params.get("client_id"), None, &e, &[]).await;
            return Err(invalid_request_page(&e));
        }
    }
    let Some(client_id) = params.get("client_id") else {
        let e = OAuthError::invalid_request("missing required parameter \"client_id\"");
        cx.log_failure(None, None, &e, &[]).await;
        return Err(invalid_request_page(&e));
    };
    let client = match clients::resolve(cx.s, cx.env, client_id).await {
        Ok(Ok(c)) => c,
        Ok(Err(unknown)) => {
            let e = unknown.error(cx.env, client_id);
            let redirect_uri = params.get("redirect_uri").unwrap_or_default().to_owned();
            let mut data = vec![("redirect_uri", redirect_uri)];
            if let Some(k) = known::guess(params.get("redirect_uri"), None) {
                data.push(("likely_client", k.name.clone()));
                data.push(("remedy", k.clear_cache.clone()));
            }
            cx.log_failure(Some(client_id), None, &e, &data).await;
            return Err(unknown_client_page(
                cx.env,
                client_id,
                &unknown,
                params.get("redirect_uri"),
            ));
        }
        Err(e) => return Err(server_error_page(&e)),
    };
    let Some(requested) = params.get("redirect_uri") else {
        let e = OAuthError::invalid_request("missing required parameter \"redirect_uri\"");
        cx.log_failure(Some(client_id), None, &e, &[]).await;
        return Err(redirect_mismatch_page(&client, None));
    };
    match redirect::verify(requested, &client.record.metadata.redirect_uris) {
        Some(_) if !callback_allowed(cx.env, &client, requested) => {
            let allowed = cx.env.record.settings.allowed_callback_urls.join(", ");
            let e = OAuthError::invalid_request(
                "redirect_uri is not one of this environment's allowed callback URLs",
            )
            .with_detail(format!(
                "received {requested:?}; allowed callback URLs: {allowed}"
            ));
            cx.log_failure(
                Some(client_id),
                None,
                &e,
                &[("redirect_uri", requested.to_owned())],
            )
            .await;
            Err(callback_not_allowed_page(cx.env, &client, requested))
        }
        Some(v) => Ok((client, v)),
        None => {
            let e = OAuthError::invalid_request(
                "redirect_uri does not match any redirect URI registered for this client",
            )
            .with_detail(format!(
                "received {requested:?}; registered: {}",
                client.record.metadata.redirect_uris.join(", ")
            ));
            cx.log_failure(
                Some(client_id),
                None,
                &e,
                &[("redirect_uri", requested.to_owned())],
            )
            .await;
            Err(redirect_mismatch_page(&client, Some(requested)))
        }
    }
}

/// Dynamic and metadata-document clients are bound by the environment's allowed callback
/// URLs when it has some; pre-registered clients were vetted by an administrator.
fn callback_allowed(env: &EnvHandle, client: &Client, redirect_uri: &str) -> bool {
    let allowed = &env.record.settings.allowed_callback_urls;
    client.record.kind == gatehouse_store::ClientKind::Static
        || allowed.is_empty()
        || redirect::callback_allowed(redirect_uri, allowed)
}

fn callback_not_allowed_page(env: &EnvHandle, client: &Client, received: &str) -> Response {
    let mut facts = vec![
        ("client_id", client.id().to_owned()),
        ("redirect_uri received", received.to_owned()),
    ];
    for uri in &env.record.settings.allowed_callback_urls {
        facts.push(("allowed callback URL", uri.clone()));
    }
    ErrorPage {
        status: StatusCode::BAD_REQUEST,
        title: "The application's redirect address is not allowed here",
        message: "This environment only lets applications return to its allowed callback URLs, and this \
                  application's redirect URI is not one of them."
            .into(),
        facts,
        fixes: vec![
            format!("An administrator can add the URL to the allowed callback URLs of the {} environment (dashboard, or gatehouse env set {} --allowed-callback-url …).", env.id(), env.id()),
        ],
        code: ErrorCode::InvalidRequest.as_str(),
    }
    .render()
}

fn invalid_request_page(e: &OAuthError) -> Response {
    ErrorPage {
        status: StatusCode::BAD_REQUEST,
        title: "The application sent an invalid sign-in request",
        message: e.description.to_string(),
        facts: vec![],
        fixes: vec![
            "This is a problem in the application (MCP client); report it to its developers."
                .into(),
        ],
        code: e.code.as_str(),
    }
    .render()
}

/// Steps that make a client forget a stale registration: the likely client's first, then
/// every other known client's.
fn cache_fixes(likely: Option<&KnownClient>) -> Vec<String> {
    let mut fixes = vec![
        "Make the application forget its stored registration so that it registers again:"
            .to_owned(),
    ];
    if let Some(k) = likely {
        fixes.push(format!("This looks like {}: {}", k.name, k.clear_cache));
    }
    for k in known::all()
        .iter()
        .filter(|k| likely.is_none_or(|l| l.id != k.id))
    {
        fixes.push(format!("{}: {}", k.name, k.clear_cache));
    }
    fixes
}

fn unknown_client_page(
    env: &EnvHandle,
    client_id: &str,
    unknown: &Unknown,
    redirect_uri: Option<&str>,
) -> Response {
    let likely = known::guess(redirect_uri, None);
    let mut facts = vec![
        ("client_id", client_id.to_owned()),
        ("issuer", env.issuer.clone()),
    ];
    let (title, message, fixes) = match unknown {
        Unknown::NotRegistered => (
            "This application is not registered here",
            format!(
                "The application identified itself with a client_id that the {} environment of this server does not know. \
                 It was probably registered with another server or environment, or before this server's data was reset.",
                env.id()
            ),
            cache_fixes(likely),
        ),
        Unknown::ForeignEnvironment(other) => (
            "This application was registered with another environment",
            match other {
                Some(o) => format!(
                    "The application's client_id was issued by the {o} environment of this server, but it is signing in \
                     to the {} environment ({}). Its stored registration belongs to the other issuer.",
                    env.id(),
                    env.issuer
                ),
                None => "The application's client_id was issued by another authorization server (or before this server's \
                         master key changed), so it is not valid here."
                    .to_owned(),
            },
            cache_fixes(likely),
        ),
        Unknown::Disabled => (
            "This application has been disabled",
            "The administrator of this server disabled this application's registration.".to_owned(),
            vec!["Ask the administrator to enable it again (gatehouse client enable).".to_owned()],
        ),
        Unknown::Metadata(f) => {
            facts.push(("client metadata document", f.url.clone()));
            facts.push(("problem", format!("{}: {}", f.kind.as_str(), f.reason)));
            (
                "This application's metadata document could not be used",
                "The application identified itself by the URL of its client metadata document, and this server could \
                 not use that document."
                    .to_owned(),
                match f.kind {
                    clients::cimd::FailureKind::NotAllowed => vec![
                        "The administrator can allow this client's domain (gatehouse env set … --cimd-trust / --cimd-allow-domain) \
                         or register it in advance."
                            .to_owned(),
                    ],
                    clients::cimd::FailureKind::Invalid => vec![
                        "This is a problem with the application's published metadata; report it to its developers.".to_owned(),
                    ],
                    clients::cimd::FailureKind::Fetch => vec![
                        "Try again in a moment: the document may be temporarily unreachable.".to_owned(),
                        "If it keeps failing, the authentication log names the exact cause.".to_owned(),
                    ],
                },
            )
        }
    };
    ErrorPage {
        status: StatusCode::BAD_REQUEST,
        title,
        message,
        facts,
        fixes,
        code: "invalid_client",
    }
    .render()
}

fn redirect_mismatch_page(client: &Client, received: Option<&str>) -> Response {
    let mut facts = vec![
        ("client_id", client.id().to_owned()),
        (
            "redirect_uri received",
            received.unwrap_or("(none)").to_owned(),
        ),
    ];
    for uri in &client.record.metadata.redirect_uris {
        facts.push(("registered redirect_uri", uri.clone()));
    }
    ErrorPage {
        status: StatusCode::BAD_REQUEST,
        title: "The application's redirect address is not registered",
        message: match received {
            Some(_) => "The redirect_uri in this request does not exactly match any redirect URI registered for this \
                        application, so this server will not send your browser there."
                .into(),
            None => "The request has no redirect_uri, so this server cannot know where to send your browser.".into(),
        },
        facts,
        fixes: vec![
            "If the application changed its address or port, make it register again by clearing its cached registration \
             (mcp-remote: delete ~/.mcp-auth/mcp-remote-<version>; VS Code: \u{201c}Authentication: Remove Dynamic \
             Authentication Provider\u{201d}) and reconnect."
                .into(),
            "For a pre-registered client, add the exact redirect URI to the client (gatehouse client add --redirect-uri).".into(),
        ],
        code: ErrorCode::InvalidRequest.as_str(),
    }
    .render()
}
