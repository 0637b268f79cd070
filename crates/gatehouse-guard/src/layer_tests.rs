//! The layer over a plain tower service (no axum, no network): a fake verifier, `oneshot`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::HeaderValue;
use http::header::ORIGIN;
use http_body_util::Full;
use tower::ServiceExt as _;

use super::*;
use crate::verify::{InvalidToken, TokenVerifier, VerifyError, VerifyFuture};
use crate::{GuardConfig, ScopeSet, VerifiedToken};

const MCP: &str = "https://mcp.example.com/mcp";

/// Accepts `read`, `write` and `down` (unavailable); counts calls.
#[derive(Default)]
struct Fake(AtomicUsize);

impl TokenVerifier for Fake {
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let scope = match token {
                "read" => "todo:read",
                "write" => "todo:write",
                "down" => return Err(VerifyError::Unavailable("AS down".into())),
                _ => return Err(InvalidToken::BadSignature.into()),
            };
            Ok(Arc::new(VerifiedToken {
                subject: "alice".into(),
                client_id: "c".into(),
                scopes: ScopeSet::parse(scope).unwrap(),
                audience: vec![MCP.into()],
                issuer: "https://auth.example.com".into(),
                expires_at: i64::MAX,
                issued_at: None,
                auth_time: None,
                token_id: None,
                session_id: None,
            }))
        })
    }
}

fn guard(verifier: Arc<Fake>) -> Guard {
    let config = GuardConfig::builder(MCP, "https://auth.example.com")
        .scope_implies("todo:write", ["todo:read"])
        .tool_scopes("list_todos", ["todo:read"])
        .tool_scopes("add_todo", ["todo:write"])
        .allowed_origins(["https://app.example.com"])
        .build()
        .unwrap();
    Guard::with_verifier(config, verifier)
}

/// Echoes the subject and the body it received.
async fn echo(req: Request<GuardBody<Full<Bytes>>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let sub = req
        .extensions()
        .get::<VerifiedToken>()
        .map(|t| t.subject.clone())
        .unwrap_or_default();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let text = format!("{sub}:{}", String::from_utf8_lossy(&body));
    Ok(Response::new(Full::new(Bytes::from(text))))
}

async fn send(verifier: &Arc<Fake>, req: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, String) {
    let svc = guard(verifier.clone())
        .layer()
        .layer(tower::service_fn(echo));
    let resp = svc.oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn post(token: Option<&str>, body: &str) -> Request<Full<Bytes>> {
    let mut b = Request::post(MCP);
    if let Some(t) = token {
        b = b.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(Full::new(Bytes::from(body.to_owned()))).unwrap()
}

const LIST: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_todos"}}"#;
const ADD: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add_todo"}}"#;

#[tokio::test]
async fn plain_tower_service_gets_the_token_and_the_unchanged_body() {
    let v = Arc::new(Fake::default());
    let cases: &[(Option<&str>, &str, u16, &str)] = &[
        (Some("read"), LIST, 200, "alice:"),
        (Some("write"), LIST, 200, "alice:"), // hierarchy
        (Some("read"), ADD, 403, "insufficient_scope"),
        (Some("write"), ADD, 200, "alice:"),
        (Some("forged"), LIST, 401, "invalid_token"),
        (Some("down"), LIST, 503, "temporarily_unavailable"),
        (None, LIST, 401, "unauthorized"),
        (Some("read"), "not json", 400, "invalid_request"),
    ];
    for (token, body, status, needle) in cases {
        let (s, _, text) = send(&v, post(*token, body)).await;
        assert_eq!(s.as_u16(), *status, "{token:?} {body}");
        assert!(text.contains(needle), "{text}");
        if *status == 200 {
            assert_eq!(text, format!("alice:{body}"), "body re-attached unchanged");
        }
    }
}

#[tokio::test]
async fn preflight_and_metadata_never_reach_the_verifier_or_the_service() {
    let v = Arc::new(Fake::default());
    let pre = Request::options(MCP)
        .header(ORIGIN, "https://app.example.com")
        .header("access-control-request-method", "POST")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (s, h, body) = send(&v, pre).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert!(body.is_empty());
    let prm = Request::get("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (s, h, body) = send(&v, prm).await;
    assert_eq!(
        (s, &h["access-control-allow-origin"]),
        (StatusCode::OK, &HeaderValue::from_static("*"))
    );
    assert!(
        body.contains("\"resource\":\"https://mcp.example.com/mcp\""),
        "{body}"
    );
    let put = Request::put("https://mcp.example.com/.well-known/oauth-protected-resource")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(&v, put).await.0, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(v.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn foreign_origin_is_refused_before_the_token_is_looked_at() {
    let v = Arc::new(Fake::default());
    let mut req = post(Some("read"), LIST);
    req.headers_mut()
        .insert(ORIGIN, HeaderValue::from_static("https://evil.example.com"));
    let (s, h, _) = send(&v, req).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(h.get("access-control-allow-origin").is_none());
    assert_eq!(v.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn get_and_delete_need_a_token_but_no_body() {
    let v = Arc::new(Fake::default());
    for method in [Method::GET, Method::DELETE] {
        let req = Request::builder()
            .method(method.clone())
            .uri(MCP)
            .header(AUTHORIZATION, "Bearer read")
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(send(&v, req).await.0, StatusCode::OK, "{method}");
    }
}

/// A refused request's body is read before the answer, so the connection stays usable; one
/// too large to read (or on HTTP/2, where the header does not exist) is answered without it,
/// and HTTP/1 is told the connection closes.
#[tokio::test]
async fn refusals_drain_the_body_or_say_the_connection_closes() {
    let v = Arc::new(Fake::default());
    let connection = |h: &HeaderMap| h.get(CONNECTION).cloned();
    let (s, h, _) = send(&v, post(None, LIST)).await;
    assert_eq!((s, connection(&h)), (StatusCode::UNAUTHORIZED, None));
    let big = "x".repeat(DRAIN_LIMIT + 1);
    let (s, h, _) = send(&v, post(None, &big)).await;
    assert_eq!(
        (s, connection(&h)),
        (
            StatusCode::UNAUTHORIZED,
            Some(HeaderValue::from_static("close"))
        )
    );
    let mut h2 = post(None, &big);
    *h2.version_mut() = Version::HTTP_2;
    let (s, h, _) = send(&v, h2).await;
    assert_eq!((s, connection(&h)), (StatusCode::UNAUTHORIZED, None));
    // From a disallowed origin: refused all the same, body drained.
    let mut foreign = post(Some("read"), LIST);
    foreign
        .headers_mut()
        .insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
    let (s, h, _) = send(&v, foreign).await;
    assert_eq!((s, connection(&h)), (StatusCode::FORBIDDEN, None));
}
