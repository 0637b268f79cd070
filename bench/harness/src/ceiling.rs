//! The ceilings: bare axum handlers that measure what this machine allows before a server
//! does any work of its own.
//!
//! - `POST /token` signs one ES256 JWT per request with a key parsed once (aws-lc-rs, as
//!   Gatehouse) and answers a token response. No client authentication, no storage, no log:
//!   what is left is HTTP plus one signature (the ceiling for token issuance).
//! - `GET /jwks.json` answers that key's JWK set, serialized once: a fixed document from
//!   memory with no middleware, the ceiling for any request (discovery, JWKS, introspection).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Result, anyhow};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gatehouse_oauth::secret::b64url;
use serde_json::json;

struct Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    header: String,
    /// The key's JWK set, serialized at start-up.
    jwks: Bytes,
}

/// A JSON response with the given `Cache-Control`.
fn json_response(body: impl IntoResponse, cache_control: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(cache_control),
            ),
        ],
        body,
    )
        .into_response()
}

/// The JWK set, as a document server answers it from memory.
async fn jwk_set(State(s): State<Arc<Signer>>) -> Response {
    json_response(s.jwks.clone(), "public, max-age=300")
}

async fn token(State(s): State<Arc<Signer>>) -> Response {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut jti = [0u8; 16];
    if s.rng.fill(&mut jti).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let claims = json!({
        "iss": "http://127.0.0.1",
        "sub": "bench-client",
        "aud": "http://127.0.0.1:8080/mcp",
        "client_id": "bench-client",
        "scope": "mcp:tools",
        "iat": now,
        "exp": now + 3600,
        "jti": b64url(&jti),
    });
    let input = format!("{}.{}", s.header, b64url(claims.to_string().as_bytes()));
    let Ok(sig) = s.key.sign(&s.rng, input.as_bytes()) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let body = json!({
        "access_token": format!("{input}.{}", b64url(sig.as_ref())),
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "mcp:tools",
    })
    .to_string();
    json_response(body, "no-store")
}

/// Serves `POST /token`, `GET /jwks.json` and `GET /health` on `listen` until killed.
pub(crate) fn serve(listen: &str) -> Result<()> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| anyhow!("key generation failed"))?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| anyhow!("key parsing failed"))?;
    let header = b64url(br#"{"alg":"ES256","typ":"at+jwt","kid":"ceiling"}"#);
    // An uncompressed P-256 point: 0x04, then x and y (32 bytes each).
    let point = key.public_key().as_ref();
    let (x, y) = point[1..].split_at(32);
    let jwks = json!({"keys": [{
        "kty": "EC", "crv": "P-256", "x": b64url(x), "y": b64url(y),
        "kid": "ceiling", "use": "sig", "alg": "ES256",
    }]})
    .to_string()
    .into();
    let signer = Arc::new(Signer {
        key,
        rng,
        header,
        jwks,
    });
    let app = axum::Router::new()
        .route("/token", post(token))
        .route("/jwks.json", get(jwk_set))
        .route("/health", get(|| async { "ok" }))
        .with_state(signer);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        eprintln!("ceiling: POST http://{}/token", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}
