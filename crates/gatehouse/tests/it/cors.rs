//! CORS: metadata for any origin; token, registration and revocation for the environment's
//! allowed origins (any loopback origin in a development environment).

use gatehouse_store::Profile;
use reqwest::{Method, StatusCode, header};

use crate::harness::TestApp;

async fn preflight(app: &TestApp, url: &str, origin: &str) -> reqwest::Response {
    app.http
        .request(Method::OPTIONS, url)
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "content-type, authorization",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn mcp_inspector_origin_works_in_dev_and_others_are_refused_and_logged() {
    let app = TestApp::spawn().await;
    for path in ["/token", "/register", "/revoke"] {
        let url = format!("{}{path}", app.base);
        let ok = preflight(&app, &url, "http://localhost:6274").await;
        assert_eq!(ok.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(
            ok.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://localhost:6274"
        );
        assert!(
            ok.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS]
                .to_str()
                .unwrap()
                .contains("Authorization")
        );
        let refused = preflight(&app, &url, "https://evil.example").await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(
            refused
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
    }
    let e = app
        .events("dev")
        .await
        .into_iter()
        .find(|e| e.event == "cors")
        .expect("refusal logged");
    assert_eq!(e.error.as_deref(), Some("origin_not_allowed"));
    assert!(
        e.error_detail
            .unwrap()
            .contains("--allowed-origin https://evil.example"),
        "the log says how to fix it"
    );
    // The actual (non-preflight) response carries the header too.
    let r = app
        .http
        .post(format!("{}/token", app.base))
        .header(header::ORIGIN, "http://127.0.0.1:6274")
        .form(&[("grant_type", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://127.0.0.1:6274"
    );
}

#[tokio::test]
async fn production_allows_only_listed_origins() {
    let app = TestApp::spawn().await;
    app.add_env("prod", Profile::Production).await;
    let url = format!("{}/prod/token", app.base);
    assert_eq!(
        preflight(&app, &url, "http://localhost:6274")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let mut env = app.store.get_environment("prod").await.unwrap().unwrap();
    env.settings
        .allowed_origins
        .push("http://inspector.example:6274".into());
    let err = gatehouse_server::admin::update_environment(&*app.store, &env)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("https"),
        "production origins must be https or loopback: {err}"
    );
    let check = |o| gatehouse_server::admin::check_origin(o, Profile::Production).unwrap();
    env.settings.allowed_origins = vec![
        check("https://app.example.com/"),
        check("http://localhost:6274"),
    ];
    gatehouse_server::admin::update_environment(&*app.store, &env)
        .await
        .unwrap();
    app.reload().await;
    for origin in ["https://app.example.com", "http://localhost:6274"] {
        let ok = preflight(&app, &url, origin).await;
        assert_eq!(ok.status(), StatusCode::NO_CONTENT, "{origin}");
        assert_eq!(ok.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], origin);
    }
    // Listed one by one: another loopback port is still refused.
    assert_eq!(
        preflight(&app, &url, "http://localhost:6275")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}
