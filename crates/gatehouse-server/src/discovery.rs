//! Discovery (RFC 8414, OIDC Discovery 1.0) and the JWKS (RFC 7517), served from memory.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::http::Env;
use crate::state::AppState;

/// How long clients may cache the metadata. Short, because registration and MCP server
/// changes alter it (AS-06).
const METADATA_MAX_AGE: &str = "public, max-age=60";
/// How long clients may cache the JWKS. Key rotation publishes a new key at least twice
/// this long before it signs (see `keys rotate --activate-after`).
pub const JWKS_MAX_AGE_SECS: i64 = 300;

fn json(body: String, cache: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

/// The metadata document, at every well-known path of the issuer.
pub async fn metadata(Env(env): Env) -> Response {
    json(env.metadata_json.as_ref().clone(), METADATA_MAX_AGE)
}

/// The JWKS.
pub async fn jwks(
    axum::extract::State(state): axum::extract::State<AppState>,
    Env(env): Env,
) -> Response {
    json(
        env.keys.jwks_json(state.now()).as_ref().clone(),
        "public, max-age=300",
    )
}
