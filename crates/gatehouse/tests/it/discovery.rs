//! Discovery (RFC 8414, OIDC Discovery) at every path variant, and the JWKS.

use gatehouse_store::Profile;
use reqwest::{StatusCode, header};
use serde_json::Value;

use crate::harness::TestApp;

async fn get_json(app: &TestApp, url: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let resp = app.http.get(url).send().await.expect("GET");
    crate::harness::split(resp).await
}

fn assert_complete(doc: &Value, issuer: &str) {
    assert_eq!(
        doc["issuer"], issuer,
        "issuer must equal the issuer exactly (RFC 8414 §3.3)"
    );
    for (field, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("registration_endpoint", "/register"),
        ("jwks_uri", "/jwks.json"),
        ("revocation_endpoint", "/revoke"),
        ("introspection_endpoint", "/introspect"),
        ("userinfo_endpoint", "/userinfo"),
    ] {
        assert_eq!(doc[field], format!("{issuer}{path}"), "{field}");
    }
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!([
            "none",
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert_eq!(doc["client_id_metadata_document_supported"], true);
    let scopes: Vec<&str> = doc["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        scopes.contains(&"offline_access") && scopes.contains(&"openid"),
        "{scopes:?}"
    );
    assert_eq!(
        doc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert!(
        doc["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&Value::from("RS256"))
    );
    assert_eq!(doc["request_uri_parameter_supported"], false);
}

#[tokio::test]
async fn root_issuer_serves_rfc8414_and_oidc_documents() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", "http://127.0.0.1:3000/mcp", "todo:read todo:write")
        .await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let (status, headers, doc) = get_json(&app, &format!("{}{path}", app.base)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_complete(&doc, &app.base);
        let scopes = doc["scopes_supported"].as_array().unwrap();
        assert!(
            scopes.contains(&Value::from("todo:write")),
            "MCP server scopes are listed"
        );
        assert_eq!(
            doc["protected_resources"],
            serde_json::json!(["http://127.0.0.1:3000/mcp"])
        );
    }
}

#[tokio::test]
async fn path_issuer_answers_every_well_known_variant() {
    let app = TestApp::spawn().await;
    let issuer = app.add_env("prod", Profile::Production).await;
    // MCP 2025-11-25 discovery order plus the path-appended RFC 8414 form.
    let variants = [
        format!("{}/.well-known/oauth-authorization-server/prod", app.base),
        format!("{}/.well-known/openid-configuration/prod", app.base),
        format!("{}/prod/.well-known/openid-configuration", app.base),
        format!("{}/prod/.well-known/oauth-authorization-server", app.base),
    ];
    let mut docs = Vec::new();
    for url in &variants {
        let (status, _, doc) = get_json(&app, url).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert_complete(&doc, &issuer);
        docs.push(doc);
    }
    assert!(
        docs.windows(2).all(|w| w[0] == w[1]),
        "all variants serve the same document"
    );
    // The root documents still belong to dev.
    let (_, _, root) = get_json(
        &app,
        &format!("{}/.well-known/oauth-authorization-server", app.base),
    )
    .await;
    assert_eq!(root["issuer"], app.base);
}

#[tokio::test]
async fn jwks_publishes_es256_and_rs256_keys_per_environment() {
    let app = TestApp::spawn().await;
    app.add_env("prod", Profile::Production).await;
    let (status, headers, dev) = get_json(&app, &format!("{}/jwks.json", app.base)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let algs: Vec<&str> = dev["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs.len(), 2);
    assert!(algs.contains(&"ES256") && algs.contains(&"RS256"));
    for k in dev["keys"].as_array().unwrap() {
        assert!(k["kid"].as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(k["use"], "sig");
        assert!(k.get("d").is_none(), "no private material");
    }
    let (_, _, prod) = get_json(&app, &format!("{}/prod/jwks.json", app.base)).await;
    let kids = |v: &Value| {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(
        kids(&dev).iter().all(|k| !kids(&prod).contains(k)),
        "environments never share keys"
    );
}

#[tokio::test]
async fn metadata_is_readable_cross_origin_including_preflight() {
    let app = TestApp::spawn().await;
    let url = format!("{}/.well-known/oauth-authorization-server", app.base);
    let resp = app
        .http
        .get(&url)
        .header(header::ORIGIN, "https://any.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let pre = app
        .http
        .request(reqwest::Method::OPTIONS, &url)
        .header(header::ORIGIN, "http://localhost:6274")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "mcp-protocol-version",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), StatusCode::NO_CONTENT);
    assert_eq!(pre.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(
        pre.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap()
            .contains("MCP-Protocol-Version")
    );
}

#[tokio::test]
async fn registration_endpoint_is_not_advertised_when_registration_is_off() {
    let app = TestApp::spawn().await;
    let mut env = app.store.get_environment("dev").await.unwrap().unwrap();
    env.settings.registration = gatehouse_store::RegistrationMode::Off;
    gatehouse_server::admin::update_environment(&*app.store, &env)
        .await
        .unwrap();
    app.reload().await;
    let (_, _, doc) = get_json(
        &app,
        &format!("{}/.well-known/oauth-authorization-server", app.base),
    )
    .await;
    assert!(doc.get("registration_endpoint").is_none());
    let resp = app
        .http
        .post(format!("{}/register", app.base))
        .json(&serde_json::json!({"redirect_uris": ["http://127.0.0.1/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unknown_paths_explain_which_issuers_exist() {
    let app = TestApp::spawn().await;
    let (status, _, body) = get_json(
        &app,
        &format!("{}/.well-known/oauth-authorization-server/nope", app.base),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains(&app.base),
        "{body}"
    );
}
