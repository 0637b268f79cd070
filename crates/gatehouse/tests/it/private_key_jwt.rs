//! `private_key_jwt` client authentication (RFC 7523 §2.2): pre-registered and dynamic
//! clients, and every way an assertion must be refused.

use gatehouse_oauth::jose::{Algorithm, SigningKey};
use gatehouse_server::admin::{self, NewClient};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::TestApp;

const MCP: &str = "http://127.0.0.1:3000/mcp";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn key() -> SigningKey {
    SigningKey::from_pkcs8(
        "client-key-1",
        Algorithm::ES256,
        &SigningKey::generate_pkcs8(Algorithm::ES256).unwrap(),
    )
    .unwrap()
}

fn assertion(key: &SigningKey, claims: Value) -> String {
    key.sign_jwt("JWT", &claims).unwrap()
}

fn claims(app: &TestApp, client: &str, jti: &str) -> Value {
    json!({"iss": client, "sub": client, "aud": format!("{}/token", app.base), "exp": app.now() + 60, "iat": app.now(), "jti": jti})
}

async fn token_with(app: &TestApp, jwt: &str) -> (StatusCode, Value) {
    let r = app
        .token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", jwt),
            ],
        )
        .await;
    (r.0, r.2)
}

async fn setup() -> (TestApp, SigningKey, String) {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let k = key();
    let jwks = json!({"keys": [serde_json::to_value(k.public_jwk()).unwrap()]});
    let c = admin::add_client(
        &*app.store,
        "dev",
        NewClient {
            name: "signed agent".into(),
            grants: vec!["client_credentials".into()],
            jwks: Some(jwks),
            ..Default::default()
        },
        app.now(),
    )
    .await
    .unwrap();
    assert!(c.secret.is_none(), "no secret for private_key_jwt clients");
    (app, k, c.client.client_id)
}

#[tokio::test]
async fn a_signed_assertion_authenticates_once() {
    let (app, k, client) = setup().await;
    let jwt = assertion(&k, claims(&app, &client, "jti-1"));
    let (s, body) = token_with(&app, &jwt).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = token_with(&app, &jwt).await;
    assert_eq!(
        (s, body["error"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
    // The issuer itself is an accepted audience too (RFC 7523 §3).
    let mut c = claims(&app, &client, "jti-2");
    c["aud"] = json!(app.base);
    assert_eq!(token_with(&app, &assertion(&k, c)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn bad_assertions_are_invalid_client() {
    let (app, k, client) = setup().await;
    let other = key();
    let mut cases: Vec<(String, &str)> = Vec::new();
    let mut c = claims(&app, &client, "a");
    c["aud"] = json!("https://elsewhere.example/token");
    cases.push((assertion(&k, c), "aud"));
    let mut c = claims(&app, &client, "b");
    c["exp"] = json!(app.now() - 120);
    cases.push((assertion(&k, c), "expired"));
    let mut c = claims(&app, &client, "c");
    c["exp"] = json!(app.now() + 3600);
    cases.push((assertion(&k, c), "lifetime"));
    let mut c = claims(&app, &client, "d");
    c["iss"] = json!("someone-else");
    cases.push((assertion(&k, c), "iss and sub"));
    let mut c = claims(&app, &client, "e");
    c.as_object_mut().unwrap().remove("jti");
    cases.push((assertion(&k, c), "jti"));
    cases.push((assertion(&other, claims(&app, &client, "f")), "signature"));
    for (jwt, why) in cases {
        let (s, body) = token_with(&app, &jwt).await;
        assert_eq!(
            (s, body["error"].as_str().unwrap()),
            (StatusCode::UNAUTHORIZED, "invalid_client"),
            "{why}"
        );
        assert!(
            body["error_description"].as_str().unwrap().contains(why),
            "{why}: {body}"
        );
    }
    // A secret is not accepted in place of the assertion.
    let r = app
        .token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client),
                ("client_secret", "x"),
            ],
        )
        .await;
    assert_eq!(r.0, StatusCode::UNAUTHORIZED);
    // An unsupported assertion type is a malformed request.
    let r = app
        .token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:x"),
                ("client_assertion", "a.b.c"),
            ],
        )
        .await;
    assert_eq!(
        (r.0, r.2["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
}

#[tokio::test]
async fn a_dynamic_client_can_register_keys_and_use_them() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let k = key();
    let reg = app
        .register(
            "dev",
            json!({"client_name": "signed", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
                   "jwks": {"keys": [k.public_jwk()]}}),
        )
        .await;
    assert!(reg.get("client_secret").is_none());
    let client = reg["client_id"].as_str().unwrap();
    let (s, body) = token_with(&app, &assertion(&k, claims(&app, client, "x1"))).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}
