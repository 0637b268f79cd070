//! The authentication log follows a connection from authorize to token with one correlation
//! id, explains failures, and nothing secret is ever stored in clear.

use std::collections::HashSet;

use reqwest::StatusCode;

use crate::harness::{AuthRequest, TestApp, pkce_pair};

const CB: &str = "http://127.0.0.1:8765/callback";

#[tokio::test]
async fn one_authorization_is_one_correlated_trail() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", "http://127.0.0.1:3000/mcp", "todo:read")
        .await;
    let user = app.add_user("dev", "alice@example.com").await;
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
    let (s, _, _) = app
        .token(
            "dev",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
                ("client_id", &client),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let events = app.events("dev").await;
    let authorize = events.iter().find(|e| e.event == "authorize").unwrap();
    let trail: Vec<&str> = events
        .iter()
        .rev()
        .filter(|e| e.correlation_id == authorize.correlation_id)
        .map(|e| e.event.as_str())
        .collect();
    assert_eq!(
        trail,
        vec!["authorize", "login", "consent", "code", "token", "refresh"]
    );
    for e in events
        .iter()
        .filter(|e| e.correlation_id == authorize.correlation_id)
    {
        assert_eq!(e.client_id.as_deref(), Some(client.as_str()), "{}", e.event);
        assert_eq!(
            e.resource.as_deref(),
            Some("http://127.0.0.1:3000/mcp"),
            "{}",
            e.event
        );
        assert_eq!(e.outcome, "success");
        if e.event != "authorize" {
            assert_eq!(e.user_id.as_deref(), Some(user.as_str()), "{}", e.event);
        }
    }
    let register = events.iter().find(|e| e.event == "register").unwrap();
    assert_eq!(register.client_id.as_deref(), Some(client.as_str()));
    assert_eq!(authorize.data["redirect_uri"], CB);
}

#[tokio::test]
async fn no_token_code_secret_or_verifier_is_stored_in_clear() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", "http://127.0.0.1:3000/mcp", "todo:read")
        .await;
    app.add_user("dev", "alice@example.com").await;
    let client = app.register_public("dev", CB).await;
    let (machine, machine_secret) = app.machine_client("dev", None).await;
    let p = pkce_pair();
    let (browser, code) = app
        .code_flow(
            "dev",
            &AuthRequest::new(&client, CB, &p).scope("openid todo:read offline_access"),
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
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let (_, _, t2) = app
        .token(
            "dev",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt1),
                ("client_id", &client),
            ],
        )
        .await;
    // a failure that carries secrets in the request
    app.token(
        "dev",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &machine),
            ("client_secret", "wrong-secret-value"),
        ],
    )
    .await;
    let (_, _, m) = app
        .token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &machine),
                ("client_secret", &machine_secret),
            ],
        )
        .await;
    app.events("dev").await; // flush the log
    let mut secrets: HashSet<String> = [
        code,
        p.verifier.clone(),
        rt1,
        machine_secret,
        "wrong-secret-value".to_owned(),
        t["access_token"].as_str().unwrap().to_owned(),
        t["id_token"].as_str().unwrap().to_owned(),
        t2["refresh_token"].as_str().unwrap().to_owned(),
        t2["access_token"].as_str().unwrap().to_owned(),
        m["access_token"].as_str().unwrap().to_owned(),
        crate::harness::PASSWORD.to_owned(),
    ]
    .into();
    secrets.extend(browser.cookies.values().cloned());
    // Read every byte SQLite wrote (database and WAL).
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(app.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "key") {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    let haystack = String::from_utf8_lossy(&bytes);
    assert!(
        haystack.contains(&client) && haystack.contains("alice@example.com"),
        "the scan reads the stored data"
    );
    for s in &secrets {
        // JWTs: their signature part is what would make a leak usable.
        let needle = s.rsplit('.').next().unwrap();
        assert!(
            !haystack.contains(needle),
            "found a secret in the database files: {}…",
            &s[..12.min(s.len())]
        );
    }
}
