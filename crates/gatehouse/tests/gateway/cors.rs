//! Browser clients (MCP Inspector at http://localhost:6274): preflight without a token,
//! readable challenges, other origins refused.

use reqwest::StatusCode;

use crate::harness::TestApp;
use crate::support::proxy;
use crate::upstream::Upstream;

const INSPECTOR: &str = "http://localhost:6274";

#[tokio::test]
async fn cors_preflight_from_inspector_succeeds_without_a_token_and_exposes_the_headers() {
    let app = TestApp::spawn().await;
    let upstream = Upstream::spawn().await;
    let args = [
        "--upstream",
        upstream.url.as_str(),
        "--allow-loopback-origins",
    ];
    let proxy = proxy(&app, &["dev"], &app.issuer("dev"), &args, &[]).await;
    let pre = app
        .http
        .request(reqwest::Method::OPTIONS, &proxy.resource)
        .header("origin", INSPECTOR)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, mcp-protocol-version",
        )
        .send()
        .await
        .unwrap();
    assert!(pre.status().is_success(), "{}", pre.status());
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], INSPECTOR);
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "content-type",
        "mcp-protocol-version",
        "mcp-session-id",
    ] {
        assert!(allowed.contains(name), "{allowed}");
    }
    let exposed = h["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("www-authenticate") && exposed.contains("mcp-session-id"),
        "{exposed}"
    );
    assert!(
        upstream.seen().is_empty(),
        "preflights are answered by the gateway"
    );

    let challenge = app
        .http
        .post(&proxy.resource)
        .header("origin", INSPECTOR)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.headers()["access-control-allow-origin"],
        INSPECTOR
    );
    assert!(
        challenge.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("WWW-Authenticate")
    );

    let evil = app
        .http
        .post(&proxy.resource)
        .header("origin", "https://evil.example")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), StatusCode::FORBIDDEN);
    assert!(evil.headers().get("access-control-allow-origin").is_none());

    // Under /.well-known/ (Inspector's 2025-03-26 fallback probe) a 404 without CORS headers
    // (see `Front::public`); elsewhere a 404 an allowed origin can read. A foreign origin
    // never gets CORS headers.
    let probe = format!("{}/.well-known/oauth-authorization-server", proxy.origin);
    let elsewhere = format!("{}/not-mcp", proxy.origin);
    for (probe, origin, status, readable) in [
        (&probe, INSPECTOR, StatusCode::NOT_FOUND, false),
        (&probe, "https://evil.example", StatusCode::FORBIDDEN, false),
        (&elsewhere, INSPECTOR, StatusCode::NOT_FOUND, true),
        (
            &elsewhere,
            "https://evil.example",
            StatusCode::NOT_FOUND,
            false,
        ),
    ] {
        let resp = app
            .http
            .get(probe)
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{probe} {origin}");
        assert_eq!(
            resp.headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_owned()),
            readable.then(|| origin.to_owned()),
            "{probe} {origin}"
        );
    }
    proxy.proc.terminate().await;
}
