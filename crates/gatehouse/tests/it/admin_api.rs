//! The admin API: every endpoint, and every way of being refused.

use gatehouse_server::admin;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{AuthRequest, TestApp, pkce_pair};

const CB: &str = "http://127.0.0.1:8765/callback";
const MCP: &str = "http://127.0.0.1:3000/mcp";

struct Api {
    app: TestApp,
    key: String,
}

impl Api {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let (_, key) = admin::create_admin_key(&*app.store, "tests", None, app.now())
            .await
            .unwrap();
        Self {
            app,
            key: key.expose().to_owned(),
        }
    }

    async fn call_with(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .app
            .http
            .request(method, format!("{}/admin/api/v1{path}", self.app.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_with(Some(&self.key.clone()), method, path, body)
            .await
    }

    async fn get(&self, path: &str) -> Value {
        let (s, v) = self.call(Method::GET, path, None).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }
}

#[tokio::test]
async fn requests_without_a_valid_key_are_refused() {
    let api = Api::new().await;
    let (s, v) = api
        .call_with(None, Method::GET, "/environments", None)
        .await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let (s, _) = api
        .call_with(Some("gha_wrong"), Method::GET, "/environments", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A key limited to one environment cannot touch another, nor server-wide things.
    api.app
        .add_env("prod", gatehouse_store::Profile::Production)
        .await;
    let (_, scoped) =
        admin::create_admin_key(&*api.app.store, "prod only", Some("prod"), api.app.now())
            .await
            .unwrap();
    let scoped = scoped.expose().to_owned();
    let (s, v) = api
        .call_with(
            Some(&scoped),
            Method::GET,
            "/environments/dev/clients",
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (StatusCode::FORBIDDEN, "forbidden"),
        "{v}"
    );
    let (s, _) = api
        .call_with(
            Some(&scoped),
            Method::GET,
            "/environments/prod/clients",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = api
        .call_with(Some(&scoped), Method::GET, "/environments", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v.as_array().unwrap().len(),
        1,
        "only its environment is listed"
    );
    let (s, _) = api
        .call_with(
            Some(&scoped),
            Method::POST,
            "/admin-keys",
            Some(json!({"name": "escalate"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Unknown environments are 404, revoked keys 401.
    let (s, _) = api
        .call(Method::GET, "/environments/nope/clients", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let keys = api.get("/admin-keys").await;
    let scoped_id = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "prod only")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = api
        .call(Method::DELETE, &format!("/admin-keys/{scoped_id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api
        .call_with(Some(&scoped), Method::GET, "/environments/prod", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Metrics need a key too.
    let r = api
        .app
        .http
        .get(format!("{}/metrics", api.app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let api = Api::new().await;
    let doc = api.get("/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, path, _, _) in gatehouse_server::admin_api::openapi::OPERATIONS {
        let concrete = path
            .replace("{env}", "dev")
            .replace("{id}", "x")
            .replace("{client_id}", "x")
            .replace("{correlation_id}", "x");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = (*method != "get" && *method != "delete").then(|| json!({}));
        let (s, v) = api.call(m, &concrete, body).await;
        assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if s == StatusCode::NOT_FOUND {
            assert!(
                v.get("error").is_some(),
                "{method} {path}: a 404 from the handler, not the router: {v}"
            );
        }
        assert!(
            doc["paths"][path][method].is_object(),
            "documented: {method} {path}"
        );
    }
}

#[tokio::test]
async fn environments_resources_and_the_connect_panel() {
    let api = Api::new().await;
    let (s, env) = api
        .call(
            Method::POST,
            "/environments",
            Some(json!({"id": "staging", "profile": "development"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{env}");
    assert_eq!(env["issuer"], format!("{}/staging", api.app.base));
    let (s, _) = api
        .call(
            Method::POST,
            "/environments",
            Some(json!({"id": "staging"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Settings: a merge patch, with ADM-04 rules enforced.
    let (s, v) = api.call(Method::PATCH, "/environments/staging", Some(json!({"settings": {"allowed_origins": ["http://localhost:6274/", "http://inspector.test:6274"], "registration": "token"}}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["settings"]["allowed_origins"],
        json!(["http://localhost:6274", "http://inspector.test:6274"])
    );
    assert_eq!(v["settings"]["registration"], "token");
    let (s, v) = api
        .call(
            Method::PATCH,
            "/environments/staging",
            Some(json!({"profile": "production"})),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "an http origin off loopback is not allowed in production: {v}"
    );
    let (s, _) = api
        .call(
            Method::PATCH,
            "/environments/staging",
            Some(json!({"settings": {"unknown": 1}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // MCP servers.
    let (s, r) = api
        .call(Method::POST, "/environments/staging/resources", Some(json!({"name": "Todo MCP", "url": MCP, "scopes": [{"name": "todo:read", "description": "Read todos"}, {"name": "todo:write"}]})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_str().unwrap();
    let (s, _) = api
        .call(
            Method::POST,
            "/environments/staging/resources",
            Some(json!({"name": "Dup", "url": format!("{MCP}/")})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "the same MCP server URL twice");
    let (s, r2) = api
        .call(
            Method::PATCH,
            &format!("/environments/staging/resources/{id}"),
            Some(json!({"access_token_ttl": 600})),
        )
        .await;
    assert_eq!(
        (s, r2["access_token_ttl"].as_i64()),
        (StatusCode::OK, Some(600))
    );
    let panel = api
        .get(&format!("/environments/staging/resources/{id}/connect"))
        .await;
    assert_eq!(panel["protected_resource_metadata"]["resource"], MCP);
    assert_eq!(
        panel["protected_resource_metadata"]["authorization_servers"],
        json!([format!("{}/staging", api.app.base)])
    );
    assert_eq!(
        panel["protected_resource_metadata_urls"][0],
        "http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp"
    );
    assert_eq!(
        panel["www_authenticate"],
        "Bearer resource_metadata=\"http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp\", scope=\"todo:read todo:write\""
    );
    for snippet in ["guard", "gateway", "fastmcp", "typescript"] {
        assert!(
            panel["snippets"][snippet].as_str().unwrap().contains(MCP),
            "{snippet}"
        );
    }
    // The running server sees the change at once.
    let meta: Value = api
        .app
        .http
        .get(format!(
            "{}/staging/.well-known/oauth-authorization-server",
            api.app.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        meta["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("todo:write"))
    );
    assert!(
        meta.get("registration_endpoint").is_some(),
        "token-gated registration is still advertised"
    );
    // Keys.
    let keys = api.get("/environments/staging/keys").await;
    assert_eq!(
        keys.as_array()
            .unwrap()
            .iter()
            .filter(|k| k["state"] == "signing")
            .count(),
        2
    );
    let (s, _) = api
        .call(
            Method::POST,
            "/environments/staging/keys/rotate",
            Some(json!({"activate_after": 600})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let keys = api.get("/environments/staging/keys").await;
    assert_eq!(
        keys.as_array()
            .unwrap()
            .iter()
            .filter(|k| k["state"] == "published, not yet signing")
            .count(),
        2
    );
    let (s, t) = api
        .call(
            Method::POST,
            "/environments/staging/registration-tokens",
            Some(json!({"description": "ci"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(
        t["initial_access_token"]
            .as_str()
            .unwrap()
            .starts_with("ghi_")
    );
    let (s, _) = api
        .call(
            Method::DELETE,
            &format!("/environments/staging/resources/{id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        api.get("/environments/staging/resources")
            .await
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn clients_users_consents_and_logs() {
    let api = Api::new().await;
    let app = &api.app;
    app.add_resource("dev", MCP, "todo:read").await;
    // A machine client, secret shown once.
    let (s, c) = api.call(Method::POST, "/environments/dev/clients", Some(json!({"name": "agent", "grant_types": ["client_credentials"], "scope": "todo:read"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (id, secret) = (
        c["client_id"].as_str().unwrap().to_owned(),
        c["client_secret"].as_str().unwrap().to_owned(),
    );
    assert!(
        app.token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret)
            ]
        )
        .await
        .0
        .is_success()
    );
    let (s, rotated) = api
        .call(
            Method::POST,
            &format!("/environments/dev/clients/{id}/rotate-secret"),
            Some(json!({"keep_old_for": 0})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(
        app.token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret)
            ]
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        app.token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", new_secret)
            ]
        )
        .await
        .0
        .is_success()
    );
    // Users.
    let (s, u) = api
        .call(
            Method::POST,
            "/environments/dev/users",
            Some(json!({"email": "alice@example.com", "password": crate::harness::PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{u}");
    let user_id = u["id"].as_str().unwrap().to_owned();
    let (s, _) = api
        .call(
            Method::POST,
            "/environments/dev/users",
            Some(json!({"email": "alice@example.com", "password": "another one"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // A DCR client connects; its consent is visible and revocable, which kills its refresh.
    let client = app.register_public("dev", CB).await;
    let p = pkce_pair();
    let (_, code) = app
        .code_flow(
            "dev",
            &AuthRequest::new(&client, CB, &p).scope("todo:read offline_access"),
        )
        .await;
    let (_, _, t) = app
        .token(
            "dev",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", &client),
                ("code_verifier", &p.verifier),
            ],
        )
        .await;
    let user = api.get(&format!("/environments/dev/users/{user_id}")).await;
    assert_eq!(user["sessions"].as_array().unwrap().len(), 1);
    let consent = user["consents"][0].clone();
    assert_eq!(consent["scope"], "todo:read offline_access");
    let listed = api.get("/environments/dev/clients").await;
    let dynamic = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "dynamic")
        .unwrap();
    assert_eq!(dynamic["registrations"], 1);
    let by_client = api
        .get(&format!("/environments/dev/clients/{client}/consents"))
        .await;
    assert_eq!(by_client.as_array().unwrap().len(), 1);
    let (s, _) = api
        .call(Method::POST, "/environments/dev/consents/revoke", Some(json!({"user_id": user_id, "client_id": consent["client_id"], "resource_id": consent["resource_id"]})))
        .await;
    assert_eq!(s, StatusCode::OK);
    let r = app
        .token(
            "dev",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
                ("client_id", &client),
            ],
        )
        .await;
    assert_eq!(
        r.2["error"], "invalid_grant",
        "revoking the consent revoked the refresh token"
    );
    // Disabling the user ends their sessions.
    let (s, u) = api
        .call(
            Method::PATCH,
            &format!("/environments/dev/users/{user_id}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!((s, u["disabled"].as_bool()), (StatusCode::OK, Some(true)));
    assert_eq!(
        api.get(&format!("/environments/dev/users/{user_id}/sessions"))
            .await
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let (s, _) = api
        .call(
            Method::POST,
            &format!("/environments/dev/users/{user_id}/password"),
            Some(json!({"password": "short"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Disable a dynamic client by one of its client_ids.
    let (s, c) = api
        .call(
            Method::POST,
            &format!("/environments/dev/clients/{client}/disable"),
            None,
        )
        .await;
    assert_eq!((s, c["disabled"].as_bool()), (StatusCode::OK, Some(true)));
    let shown = api
        .get(&format!("/environments/dev/clients/{client}"))
        .await;
    assert_eq!(shown["disabled"], true);
    let (s, c) = api
        .call(
            Method::POST,
            &format!("/environments/dev/clients/{client}/enable"),
            None,
        )
        .await;
    assert_eq!((s, c["disabled"].as_bool()), (StatusCode::OK, Some(false)));
    let (s, _) = api
        .call(
            Method::POST,
            "/environments/dev/clients/ghc_nope/enable",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Logs: failures are there by default, explained, filterable, traceable, exportable.
    let logs = api.get("/environments/dev/logs").await;
    let events = logs["events"].as_array().unwrap();
    let failure = events
        .iter()
        .find(|e| e["outcome"] == "failure")
        .expect("failures are listed by default");
    assert!(failure["explanation"]["summary"].is_string());
    let only_failures = api.get("/environments/dev/logs?outcome=failure").await;
    assert!(
        only_failures["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["outcome"] == "failure")
    );
    let by_user = api
        .get(&format!(
            "/environments/dev/logs?user_id={user_id}&event=login"
        ))
        .await;
    assert_eq!(by_user["events"].as_array().unwrap().len(), 1);
    let authorize = events.iter().find(|e| e["event"] == "authorize").unwrap();
    let trace = api
        .get(&format!(
            "/environments/dev/logs/trace/{}",
            authorize["correlation_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        trace["steps"],
        json!(["authorize", "login", "consent", "code", "token", "refresh"])
    );
    assert_eq!(trace["failed_step"], "refresh");
    assert!(
        trace["explanation"]["summary"]
            .as_str()
            .unwrap()
            .contains("cannot be used"),
        "{trace}"
    );
    let export = app
        .http
        .get(format!(
            "{}/admin/api/v1/environments/dev/logs/export",
            app.base
        ))
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap();
    assert_eq!(export.headers()["content-type"], "application/x-ndjson");
    let text = export.text().await.unwrap();
    assert!(
        text.lines().count() >= 8
            && text
                .lines()
                .all(|l| serde_json::from_str::<Value>(l).is_ok())
    );
    // Metrics with a key.
    let m = app
        .http
        .get(format!("{}/metrics", app.base))
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("gatehouse_tokens_issued_total{grant_type=\"client_credentials\"} 2"),
        "{m}"
    );
    assert!(m.contains("gatehouse_failures_total{step=\"refresh\",error=\"invalid_grant\"} 1"));
}
