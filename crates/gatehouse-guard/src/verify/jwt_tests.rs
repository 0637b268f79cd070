//! JWT verification against a tiny local JWKS server, with a clock the tests move.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gatehouse_oauth::claims::AccessTokenClaims;
use gatehouse_oauth::jose::{Algorithm, Jwk, SigningKey};
use gatehouse_oauth::secret::b64url;
use serde_json::{Value, json};

use super::*;
use crate::GuardConfig;

const RESOURCE: &str = "http://127.0.0.1:3000/mcp";
const T0: i64 = 1_800_000_000;

/// What the fake authorization server publishes, and how often it was asked.
#[derive(Default)]
struct Published {
    keys: Mutex<Vec<Jwk>>,
    jwks_fetches: AtomicUsize,
    metadata: Mutex<Option<Value>>,
}

async fn jwks(State(p): State<Arc<Published>>) -> Json<Value> {
    p.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    Json(json!({ "keys": *p.keys.lock().unwrap() }))
}

async fn metadata(State(p): State<Arc<Published>>) -> Response {
    match p.metadata.lock().unwrap().clone() {
        Some(m) => Json(m).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves `/jwks.json`, `/keys` (same keys) and the RFC 8414 metadata; returns the issuer.
async fn serve(p: Arc<Published>) -> String {
    let app = axum::Router::new()
        .route("/jwks.json", get(jwks))
        .route("/keys", get(jwks))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .with_state(p);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn key(alg: Algorithm, kid: &str) -> SigningKey {
    SigningKey::from_pkcs8(kid, alg, &SigningKey::generate_pkcs8(alg).unwrap()).unwrap()
}

struct Fixture {
    issuer: String,
    published: Arc<Published>,
    clock: Arc<AtomicI64>,
    verifier: Arc<JwtVerifier>,
    key: SigningKey,
}

impl Fixture {
    async fn new() -> Self {
        Self::with(|b| b).await
    }

    async fn with(
        tweak: impl FnOnce(crate::GuardConfigBuilder) -> crate::GuardConfigBuilder,
    ) -> Self {
        let published = Arc::new(Published::default());
        let key = key(Algorithm::ES256, "k1");
        published.keys.lock().unwrap().push(key.public_jwk());
        let issuer = serve(published.clone()).await;
        let clock = Arc::new(AtomicI64::new(T0));
        let c = clock.clone();
        let config = tweak(
            GuardConfig::builder(RESOURCE, &issuer)
                .jwks_uri(format!("{issuer}/jwks.json"))
                .clock(move || c.load(Ordering::SeqCst)),
        )
        .build()
        .unwrap();
        Self {
            verifier: Arc::new(JwtVerifier::new(&config)),
            issuer,
            published,
            clock,
            key,
        }
    }

    fn claims(&self) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: "user-1".into(),
            aud: RESOURCE.into(),
            client_id: "client-1".into(),
            scope: "todo:read".into(),
            iat: T0,
            exp: T0 + 600,
            jti: "jti-1".into(),
            auth_time: Some(T0 - 5),
            sid: Some("gr_1".into()),
        }
    }

    fn sign(&self, claims: &impl serde::Serialize) -> String {
        self.key.sign_jwt("at+jwt", claims).unwrap()
    }

    fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    fn fetches(&self) -> usize {
        self.published.jwks_fetches.load(Ordering::SeqCst)
    }

    async fn verify(&self, token: &str) -> Result<VerifiedToken, VerifyError> {
        self.verifier.verify(token).await.map(Arc::unwrap_or_clone)
    }
}

fn invalid(e: InvalidToken) -> Result<(), VerifyError> {
    Err(VerifyError::Invalid(e))
}

#[tokio::test]
async fn valid_token_is_accepted_and_repeat_requests_hit_the_cache() {
    let f = Fixture::new().await;
    let token = f.sign(&f.claims());
    let v = f.verify(&token).await.unwrap();
    assert_eq!(
        (v.subject.as_str(), v.client_id.as_str()),
        ("user-1", "client-1")
    );
    assert_eq!(v.scopes.to_string(), "todo:read");
    assert_eq!(v.session_id.as_deref(), Some("gr_1"));
    assert_eq!(v.token_id.as_deref(), Some("jti-1"));
    assert_eq!(f.verify(&token).await.unwrap(), v);
    assert_eq!(f.fetches(), 1, "JWKS fetched once, lazily");
}

#[tokio::test]
async fn claim_and_header_failures_are_invalid_token() {
    let f = Fixture::new().await;
    let c = f.claims();
    let mut wrong_iss = c.clone();
    wrong_iss.iss = "http://127.0.0.1:1".into();
    let mut wrong_aud = c.clone();
    wrong_aud.aud = "http://127.0.0.1:3000/mcp/".into();
    let mut expired = c.clone();
    expired.exp = T0 - 60;
    let mut nbf = serde_json::to_value(&c).unwrap();
    nbf["nbf"] = json!(T0 + 61);
    let cases: Vec<(String, Result<(), VerifyError>)> = vec![
        (
            f.sign(&wrong_iss),
            invalid(InvalidToken::WrongIssuer("http://127.0.0.1:1".into())),
        ),
        (
            f.sign(&wrong_aud),
            invalid(InvalidToken::WrongAudience(vec![wrong_aud.aud.clone()])),
        ),
        (f.sign(&expired), invalid(InvalidToken::Expired(T0 - 60))),
        (f.sign(&nbf), invalid(InvalidToken::NotYetValid(T0 + 61))),
        (
            f.key.sign_jwt("JWT", &c).unwrap(),
            invalid(InvalidToken::WrongType),
        ),
        (f.key.sign_jwt("application/at+jwt", &c).unwrap(), Ok(())),
        (
            "abc".into(),
            invalid(InvalidToken::Malformed("not a compact JWS")),
        ),
        (
            "a".repeat(9000),
            invalid(InvalidToken::Malformed("token too long")),
        ),
    ];
    for (token, expected) in cases {
        assert_eq!(f.verify(&token).await.map(|_| ()), expected);
    }
}

fn forge(header: Value, claims: &impl serde::Serialize, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(serde_json::to_string(claims).unwrap().as_bytes()),
        b64url(sig)
    )
}

#[tokio::test]
async fn forged_algorithms_are_refused_before_any_key_is_fetched() {
    let f = Fixture::new().await;
    let c = f.claims();
    let cases = [
        (
            json!({"alg": "none", "kid": "k1", "typ": "at+jwt"}),
            invalid(InvalidToken::AlgorithmNotAllowed("none".into())),
        ),
        (
            json!({"alg": "HS256", "kid": "k1", "typ": "at+jwt"}),
            invalid(InvalidToken::AlgorithmNotAllowed("HS256".into())),
        ),
        (
            json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt", "jku": "http://evil/jwks"}),
            invalid(InvalidToken::Header(
                "crit, jku, jwk and x5u are not accepted",
            )),
        ),
        (
            json!({"alg": "ES256", "typ": "at+jwt"}),
            invalid(InvalidToken::UnknownKey),
        ),
    ];
    for (header, expected) in cases {
        let token = forge(header.clone(), &c, b"secret-hmac-or-nothing");
        assert_eq!(f.verify(&token).await.map(|_| ()), expected, "{header}");
    }
    assert_eq!(f.fetches(), 0);
    // RS256 claimed for the ES256 key: the key's algorithm is pinned.
    let confused = forge(
        json!({"alg": "RS256", "kid": "k1", "typ": "at+jwt"}),
        &c,
        &[0; 256],
    );
    assert_eq!(
        f.verify(&confused).await.map(|_| ()),
        invalid(InvalidToken::Header("alg does not match the key"))
    );
    // A valid signature over other claims.
    let good = f.sign(&c);
    let mut evil = c.clone();
    evil.scope = "todo:write".into();
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64url(serde_json::to_string(&evil).unwrap().as_bytes()),
        parts[2]
    );
    assert_eq!(
        f.verify(&tampered).await.map(|_| ()),
        invalid(InvalidToken::BadSignature)
    );
}

#[tokio::test]
async fn algorithm_allow_list_excludes_keys_and_tokens() {
    let f = Fixture::with(|b| b.algorithms([Algorithm::ES256])).await;
    let rsa = key(Algorithm::RS256, "r1");
    f.published.keys.lock().unwrap().push(rsa.public_jwk());
    let token = rsa.sign_jwt("at+jwt", &f.claims()).unwrap();
    assert_eq!(
        f.verify(&token).await.map(|_| ()),
        invalid(InvalidToken::AlgorithmNotAllowed("RS256".into()))
    );
}

#[tokio::test]
async fn unknown_kid_refetches_once_and_rate_limit_prevents_a_storm() {
    let f = Fixture::new().await;
    f.verify(&f.sign(&f.claims())).await.unwrap();
    assert_eq!(f.fetches(), 1);
    let ghost = key(Algorithm::ES256, "ghost")
        .sign_jwt("at+jwt", &f.claims())
        .unwrap();
    // Within the minimum interval of the first fetch: no refetch at all.
    assert_eq!(
        f.verify(&ghost).await.map(|_| ()),
        invalid(InvalidToken::UnknownKey)
    );
    assert_eq!(f.fetches(), 1);
    // Later, many concurrent unknown-kid tokens share one refetch.
    f.advance(31);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (v, t) = (f.verifier.clone(), ghost.clone());
        set.spawn(async move { v.verify(&t).await.map(|_| ()) });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap(), invalid(InvalidToken::UnknownKey));
    }
    assert_eq!(f.fetches(), 2, "one refetch for all concurrent misses");
    f.advance(29);
    f.verify(&ghost).await.unwrap_err();
    assert_eq!(f.fetches(), 2, "rate limited");
    f.advance(2);
    f.verify(&ghost).await.unwrap_err();
    assert_eq!(f.fetches(), 3);
}

#[tokio::test]
async fn rotated_key_is_accepted_after_refetch() {
    let f = Fixture::new().await;
    f.verify(&f.sign(&f.claims())).await.unwrap();
    let k2 = key(Algorithm::ES256, "k2");
    f.published.keys.lock().unwrap().push(k2.public_jwk());
    f.advance(31);
    let v = f
        .verify(&k2.sign_jwt("at+jwt", &f.claims()).unwrap())
        .await
        .unwrap();
    assert_eq!(v.subject, "user-1");
    assert_eq!(f.fetches(), 2);
}

#[tokio::test]
async fn removed_key_stops_cached_tokens_once_the_jwks_is_refreshed() {
    let f = Fixture::new().await;
    let mut long = f.claims();
    long.exp = T0 + 3600;
    let token = f.sign(&long);
    f.verify(&token).await.unwrap();
    f.published.keys.lock().unwrap().clear();
    f.advance(299);
    f.verify(&token).await.unwrap();
    assert_eq!(f.fetches(), 1, "cached until the JWKS max age");
    f.advance(2);
    assert_eq!(
        f.verify(&token).await.map(|_| ()),
        invalid(InvalidToken::UnknownKey)
    );
    assert_eq!(f.fetches(), 2);
}

#[tokio::test]
async fn cached_token_expires_with_its_exp() {
    let f = Fixture::new().await;
    let token = f.sign(&f.claims());
    f.verify(&token).await.unwrap();
    f.advance(600 + 59);
    f.verify(&token).await.unwrap();
    f.advance(1);
    assert_eq!(
        f.verify(&token).await.map(|_| ()),
        invalid(InvalidToken::Expired(T0 + 600))
    );
}

#[tokio::test]
async fn unreachable_jwks_is_unavailable_not_invalid() {
    let f = Fixture::with(|b| b.jwks_uri("http://127.0.0.1:9/jwks.json")).await;
    let r = f.verify(&f.sign(&f.claims())).await;
    assert!(matches!(r, Err(VerifyError::Unavailable(_))), "{r:?}");
}

#[tokio::test]
async fn jwks_uri_comes_from_metadata_else_the_default_path() {
    let f = Fixture::new().await;
    // A verifier without an explicit jwks_uri, on the same fake AS.
    let c = f.clock.clone();
    let config = GuardConfig::builder(RESOURCE, &f.issuer)
        .clock(move || c.load(Ordering::SeqCst))
        .build()
        .unwrap();
    let token = f.sign(&f.claims());
    // No metadata: falls back to <issuer>/jwks.json.
    JwtVerifier::new(&config).verify(&token).await.unwrap();
    // Metadata naming /keys, whose issuer must match exactly.
    *f.published.metadata.lock().unwrap() =
        Some(json!({"issuer": f.issuer, "jwks_uri": format!("{}/keys", f.issuer)}));
    JwtVerifier::new(&config).verify(&token).await.unwrap();
    *f.published.metadata.lock().unwrap() =
        Some(json!({"issuer": "https://elsewhere", "jwks_uri": "http://127.0.0.1:9/keys"}));
    JwtVerifier::new(&config).verify(&token).await.unwrap();
    assert_eq!(f.fetches(), 3);
}

#[tokio::test]
async fn each_issuer_only_vouches_with_its_own_keys() {
    let a = Fixture::new().await;
    let b = Fixture::new().await;
    let c = a.clock.clone();
    let config = GuardConfig::builder(RESOURCE, &a.issuer)
        .additional_issuer(&b.issuer)
        .clock(move || c.load(Ordering::SeqCst))
        .build()
        .unwrap();
    let v = JwtVerifier::new(&config);
    let mut from_b = b.claims();
    from_b.iss = b.issuer.clone();
    assert_eq!(v.verify(&b.sign(&from_b)).await.unwrap().issuer, b.issuer);
    // B's key (kid "k1" too) cannot vouch for a token claiming issuer A.
    let mut claims_a = b.claims();
    claims_a.iss = a.issuer.clone();
    assert_eq!(
        v.verify(&b.sign(&claims_a)).await.map(|_| ()),
        invalid(InvalidToken::BadSignature)
    );
}
