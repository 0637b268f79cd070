//! HTTP plumbing: dispatch of a request to its environment, extractors, cookies and CORS.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gatehouse_store::Profile;
use tower::ServiceExt as _;

use crate::audit::Ev;
use crate::env::EnvHandle;
use crate::state::AppState;

/// RFC 8414 well-known suffix.
pub const WK_AS: &str = "/.well-known/oauth-authorization-server";
/// OIDC Discovery well-known suffix.
pub const WK_OIDC: &str = "/.well-known/openid-configuration";

/// The environment a request was dispatched to.
#[derive(Clone)]
pub struct Env(pub Arc<EnvHandle>);

impl<S: Send + Sync> FromRequestParts<S> for Env {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Env>()
            .cloned()
            .ok_or(StatusCode::NOT_FOUND)
    }
}

/// The remote address, when the listener recorded it.
#[derive(Clone, Debug)]
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
        ))
    }
}

/// Finds the environment of a request by host and path, rewrites the path to what follows
/// the issuer path, and hands the request to the per-environment routes.
pub async fn dispatch(state: AppState, routes: Router, mut req: Request) -> Response {
    let host = request_host(&req);
    let path = req.uri().path().to_owned();
    let mut refreshed = false;
    loop {
        let snapshot = state.envs.snapshot();
        let target = well_known_inserted(&snapshot, host.as_deref(), &path).or_else(|| {
            snapshot
                .resolve(host.as_deref(), &path)
                .map(|(e, rest)| (e, rest.to_owned()))
        });
        if let Some((env, rest)) = target {
            rewrite_path(req.uri_mut(), if rest.is_empty() { "/" } else { &rest });
            req.extensions_mut().insert(Env(env));
            return routes
                .oneshot(req)
                .await
                .unwrap_or_else(|never| match never {});
        }
        // The CLI may have just added an environment: look once more after a reload.
        if refreshed {
            return no_environment(&state, host.as_deref(), &path);
        }
        refreshed = true;
        if let Err(e) = state.envs.refresh(state.now(), false).await {
            tracing::error!(error = %e, "reloading environments failed");
        }
    }
}

/// RFC 8414 §3.1 path insertion: `/.well-known/oauth-authorization-server/prod` is the
/// metadata of issuer `…/prod` (and likewise for OIDC, MCP 2025-11-25 discovery order).
fn well_known_inserted(
    snapshot: &crate::env::Snapshot,
    host: Option<&str>,
    path: &str,
) -> Option<(Arc<EnvHandle>, String)> {
    for prefix in [WK_AS, WK_OIDC] {
        if let Some(suffix) = path.strip_prefix(prefix)
            && (suffix.is_empty() || suffix.starts_with('/'))
            && let Some(env) = snapshot.resolve_exact(host, suffix)
        {
            return Some((env, prefix.to_owned()));
        }
    }
    None
}

fn request_host(req: &Request) -> Option<String> {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
}

fn rewrite_path(uri: &mut Uri, path: &str) {
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    if let Ok(new) = Uri::builder().path_and_query(pq).build() {
        *uri = new;
    }
}

fn no_environment(state: &AppState, host: Option<&str>, path: &str) -> Response {
    not_found(
        state,
        format!(
            "no environment serves {path} on host {}",
            host.unwrap_or("(none)")
        ),
    )
}

/// A path under an issuer that is not an endpoint.
pub async fn no_endpoint(
    axum::extract::State(state): axum::extract::State<AppState>,
    Env(env): Env,
    uri: Uri,
) -> Response {
    let what = format!(
        "{} is not an endpoint of issuer {} (see {}/.well-known/oauth-authorization-server)",
        uri.path(),
        env.issuer,
        env.issuer
    );
    not_found(&state, what)
}

/// A JSON 404 that lists the server's issuers, so a wrong URL explains itself.
fn not_found(state: &AppState, what: String) -> Response {
    let issuers: Vec<String> = state
        .envs
        .snapshot()
        .envs
        .iter()
        .map(|e| e.issuer.clone())
        .collect();
    let body = serde_json::json!({
        "error": "not_found",
        "error_description": format!("{what}; this server's issuers are: {}", issuers.join(", ")),
    });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1), if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned())
}

/// Records the endpoint, status and latency of every request below an issuer.
pub async fn measure(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let endpoint = crate::metrics::endpoint_of(req.uri().path());
    let start = std::time::Instant::now();
    let resp = next.run(req).await;
    state.metrics.request(
        endpoint,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

/// The value of a cookie.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure when https.
pub fn set_cookie(name: &str, value: &str, max_age: i64, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

enum CorsClass {
    /// Metadata and keys: any origin.
    Public,
    /// Token, registration, revocation, introspection, userinfo: allowed origins only.
    Restricted,
    /// Navigations (authorize, login, consent): no CORS at all (RFC 9700 §2.1).
    None,
}

fn cors_class(path: &str) -> CorsClass {
    match path {
        WK_AS | WK_OIDC | "/jwks.json" => CorsClass::Public,
        "/token" | "/register" | "/revoke" | "/introspect" | "/userinfo" => CorsClass::Restricted,
        _ => CorsClass::None,
    }
}

/// Whether a browser origin may call the environment's restricted endpoints: listed in its
/// allowed origins, or, in a development environment, any loopback origin (so MCP Inspector
/// at `http://localhost:6274` works out of the box).
pub fn origin_allowed(env: &EnvHandle, origin: &str) -> bool {
    let origin = origin.trim_end_matches('/');
    if env
        .record
        .settings
        .allowed_origins
        .iter()
        .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    env.record.profile == Profile::Development
        && url::Url::parse(origin).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && match u.host() {
                    Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    None => false,
                }
        })
}

const ALLOW_HEADERS: &str = "Authorization, Content-Type, MCP-Protocol-Version";

/// CORS for the per-environment routes.
pub async fn cors(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let Some(Env(env)) = req.extensions().get::<Env>().cloned() else {
        return next.run(req).await;
    };
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    let class = cors_class(req.uri().path());
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let (Some(origin), false) = (origin, matches!(class, CorsClass::None)) else {
        return next.run(req).await;
    };
    let allowed = match class {
        CorsClass::Public => Some(HeaderValue::from_static("*")),
        _ if origin_allowed(&env, &origin) => HeaderValue::from_str(&origin).ok(),
        _ => None,
    };
    if preflight {
        let Some(allow_origin) = allowed else {
            let path = req.uri().path().to_owned();
            state
                .audit
                .emit(
                    Ev::new(env.id(), &crate::crypto::new_correlation_id("cors_"), "cors", state.now_ms())
                        .data("origin", origin.clone())
                        .data("endpoint", path)
                        .failed_with(
                            "origin_not_allowed",
                            format!(
                                "browser origin {origin} is not allowed to call this environment; add it to the \
                                 environment's allowed origins (gatehouse env set {} --allowed-origin {origin})",
                                env.id()
                            ),
                        )
                        .build(),
                )
                .await;
            return (
                StatusCode::FORBIDDEN,
                format!("origin {origin} is not allowed for this environment"),
            )
                .into_response();
        };
        let mut resp = StatusCode::NO_CONTENT.into_response();
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        return resp;
    }
    let mut resp = next.run(req).await;
    if let Some(allow_origin) = allowed {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate"),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_only_over_https() {
        let https = set_cookie("__Host-gh_session_prod", "v", 60, true);
        let https = https.to_str().unwrap();
        assert!(
            https.contains("Secure")
                && https.contains("HttpOnly")
                && https.contains("SameSite=Lax")
                && https.contains("Path=/")
        );
        let http = set_cookie("gh_session_dev", "v", 60, false);
        assert!(!http.to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn cookie_lookup_finds_exact_names() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("gh_session_dev2=x; gh_session_dev=y"),
        );
        assert_eq!(cookie(&h, "gh_session_dev").as_deref(), Some("y"));
        assert_eq!(cookie(&h, "gh_session"), None);
    }
}
