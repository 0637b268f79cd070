//! The token endpoint: authorization_code exchange and every way it must refuse.

use reqwest::{StatusCode, header};
use serde_json::Value;

use crate::harness::{AuthRequest, TestApp, jwt_parts, pkce_pair, verify_access_token};

const CB: &str = "http://127.0.0.1:8765/callback";
const MCP: &str = "http://127.0.0.1:3000/mcp";

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read todo:write").await;
    app.add_user("dev", "alice@example.com").await;
    let client = app.register_public("dev", CB).await;
    (app, client)
}

fn assert_error(
    resp: &(StatusCode, reqwest::header::HeaderMap, Value),
    status: StatusCode,
    code: &str,
) {
    assert_eq!(resp.0, status, "{}", resp.2);
    assert_eq!(resp.2["error"], code, "{}", resp.2);
    assert!(
        resp.2["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(resp.1[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn code_exchange_issues_an_audience_bound_rfc9068_token() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let req = AuthRequest::new(&client, CB, &p)
        .scope("todo:read offline_access")
        .resource("HTTP://127.0.0.1:3000/mcp/");
    let (_, code) = app.code_flow("dev", &req).await;
    let (status, headers, body) = app
        .token(
            "dev",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("client_id", &client),
                ("code_verifier", &p.verifier),
                ("resource", MCP),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "todo:read offline_access");
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|r| r.starts_with("ghr_"))
    );
    let at = body["access_token"].as_str().unwrap();
    let (header, _) = jwt_parts(at);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    let claims = verify_access_token(&app, "dev", at).await;
    assert_eq!(claims.iss, app.base);
    assert_eq!(
        claims.aud, MCP,
        "aud is the registered resource URI, exactly"
    );
    assert_eq!(claims.client_id, client);
    assert_eq!(claims.scope, "todo:read offline_access");
    assert!(claims.sub.starts_with("usr_"));
    assert_eq!(claims.exp - claims.iat, 3600);
    assert!(!claims.jti.is_empty());
    assert!(claims.auth_time.is_some());
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_what_it_issued() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let (_, code) = app
        .code_flow(
            "dev",
            &AuthRequest::new(&client, CB, &p).scope("todo:read offline_access"),
        )
        .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", client.as_str()),
        ("code_verifier", p.verifier.as_str()),
    ];
    let first = app.token("dev", &form).await;
    assert_eq!(first.0, StatusCode::OK);
    let second = app.token("dev", &form).await;
    assert_error(&second, StatusCode::BAD_REQUEST, "invalid_grant");
    let rt = first.2["refresh_token"].as_str().unwrap();
    let refresh = app
        .token(
            "dev",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("client_id", &client),
            ],
        )
        .await;
    assert_error(&refresh, StatusCode::BAD_REQUEST, "invalid_grant");
    let events = app.events("dev").await;
    assert!(events.iter().any(|e| {
        e.error_detail
            .as_deref()
            .is_some_and(|d| d.contains("code replay"))
    }));
}

#[tokio::test]
async fn concurrent_redemptions_of_one_code_issue_at_most_once_and_revoke_the_grant() {
    // One redemption consumes the code; every concurrent replay revokes the grant
    // (RFC 6749 §4.1.2). Depending on timing the winner either finishes first (and its
    // refresh token is then revoked) or sees the grant already revoked: never two winners,
    // and never a token that outlives the replay.
    let (app, client) = setup().await;
    let p = pkce_pair();
    let (_, code) = app
        .code_flow(
            "dev",
            &AuthRequest::new(&client, CB, &p).scope("todo:read offline_access"),
        )
        .await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (http, url, code, client, v) = (
            app.http.clone(),
            format!("{}/token", app.base),
            code.clone(),
            client.clone(),
            p.verifier.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("client_id", client.as_str()),
                ("code_verifier", v.as_str()),
            ];
            let r = http.post(url).form(&form).send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let winners: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, b)| b)
        .collect();
    assert!(winners.len() <= 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|(s, b)| *s == StatusCode::OK || b["error"] == "invalid_grant"),
        "{results:?}"
    );
    for w in winners {
        let rt = w["refresh_token"].as_str().unwrap();
        let r = app
            .token(
                "dev",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt),
                    ("client_id", &client),
                ],
            )
            .await;
        assert_eq!(
            r.2["error"], "invalid_grant",
            "the winner's tokens are revoked by the replays"
        );
    }
}

#[tokio::test]
async fn code_exchange_error_table() {
    let (app, client) = setup().await;
    let other = app.register_public("dev", CB).await;
    let p = pkce_pair();
    let (c, o, v) = (client.as_str(), other.as_str(), p.verifier.as_str());
    let long = "a".repeat(43);
    // "$CODE" stands for a fresh authorization code of `client`.
    type Case<'a> = (Vec<(&'a str, &'a str)>, StatusCode, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![("grant_type", "authorization_code"), ("code", "$CODE")],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "$CODE"),
                ("client_id", "ghc_unknown"),
                ("code_verifier", v),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "$CODE"),
                ("client_id", c),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "$CODE"),
                ("client_id", c),
                ("code_verifier", &long),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "$CODE"),
                ("client_id", c),
                ("code_verifier", "short"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "$CODE"),
                ("client_id", c),
                ("code_verifier", v),
                ("redirect_uri", "http://127.0.0.1:8765/other"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "$CODE"),
                ("client_id", c),
                ("code_verifier", v),
                ("resource", "http://127.0.0.1:3000/elsewhere"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "$CODE"),
                ("client_id", o),
                ("code_verifier", v),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "ghc_code_forged"),
                ("client_id", c),
                ("code_verifier", v),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "$CODE"),
                ("code", "$CODE"),
                ("client_id", c),
                ("code_verifier", v),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("code", "$CODE"),
                ("client_id", c),
            ],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            vec![("client_id", c)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![("grant_type", "client_credentials"), ("client_id", c)],
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
    ];
    for (i, (pairs, status, code)) in cases.into_iter().enumerate() {
        // a fresh code per case, so no case is affected by another one consuming it
        let (_, fresh) = app
            .code_flow("dev", &AuthRequest::new(&client, CB, &p))
            .await;
        let form: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, val)| {
                (
                    *k,
                    if *val == "$CODE" {
                        fresh.as_str()
                    } else {
                        *val
                    },
                )
            })
            .collect();
        let resp = app.token("dev", &form).await;
        assert_eq!(
            (resp.0, resp.2["error"].as_str().unwrap_or_default()),
            (status, code),
            "case {i}: {}",
            resp.2
        );
        assert_eq!(resp.1[header::CACHE_CONTROL], "no-store");
    }
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let (_, code) = app
        .code_flow("dev", &AuthRequest::new(&client, CB, &p))
        .await;
    app.clock.advance(61);
    let resp = app
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
    assert_error(&resp, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(
        resp.2["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn token_requests_must_be_form_posts_without_query_parameters() {
    let (app, client) = setup().await;
    let url = format!("{}/token", app.base);
    let get = app.http.get(&url).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    let json = app
        .http
        .post(&url)
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_error(
        &crate::harness::split(json).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    let query = app
        .http
        .post(format!("{url}?client_secret=leak"))
        .form(&[("grant_type", "authorization_code"), ("client_id", &client)])
        .send()
        .await
        .unwrap();
    assert_error(
        &crate::harness::split(query).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    let huge = app
        .http
        .post(&url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(vec![b'a'; 100 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// MCP Inspector 1.0 refreshes with `Content-Type: application/json,
/// application/x-www-form-urlencoded` and a form body: form is in the list, so it is a form.
#[tokio::test]
async fn a_content_type_list_naming_form_is_a_form_post() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let req = AuthRequest::new(&client, CB, &p).scope("todo:read");
    let (_, code) = app.code_flow("dev", &req).await;
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CB),
            ("client_id", client.as_str()),
            ("code_verifier", p.verifier.as_str()),
        ])
        .finish();
    let resp = app
        .http
        .post(format!("{}/token", app.base))
        .header(
            header::CONTENT_TYPE,
            "application/json, application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, _, body) = crate::harness::split(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string());
}

#[tokio::test]
async fn confidential_client_authentication_methods() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let (id, secret) = app.machine_client("dev", Some("todo:read")).await;
    let url = format!("{}/token", app.base);
    // client_secret_basic
    let ok = app
        .http
        .post(&url)
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    // client_secret_post
    let ok = app
        .token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(ok.0, StatusCode::OK);
    // wrong secret with Basic: 401 + WWW-Authenticate
    let bad = app
        .http
        .post(&url)
        .basic_auth(&id, Some("nope"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(
        bad.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(
        bad.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    // wrong secret with post: 401
    let bad = app
        .token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", "nope"),
            ],
        )
        .await;
    assert_error(&bad, StatusCode::UNAUTHORIZED, "invalid_client");
    // no secret at all for a confidential client
    let bad = app
        .token(
            "dev",
            &[("grant_type", "client_credentials"), ("client_id", &id)],
        )
        .await;
    assert_error(&bad, StatusCode::UNAUTHORIZED, "invalid_client");
    // two methods at once
    let both = app
        .http
        .post(&url)
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_error(
        &crate::harness::split(both).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
}

#[tokio::test]
async fn openid_adds_an_id_token_and_refresh_policy_follows_the_mcp_server() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    app.add_resource_with("dev", "http://127.0.0.1:4000/mcp", "notes:read", |r| {
        r.refresh_without_offline_access = Some(false)
    })
    .await;
    app.add_user("dev", "alice@example.com").await;
    let client = app.register_public("dev", CB).await;
    let p = pkce_pair();
    let exchange = |code: String| {
        let (client, v) = (client.clone(), p.verifier.clone());
        let app = &app;
        async move {
            app.token(
                "dev",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("client_id", &client),
                    ("code_verifier", &v),
                ],
            )
            .await
        }
    };
    // Default policy: a client registered for refresh_token gets one without offline_access.
    let (_, code) = app
        .code_flow(
            "dev",
            &AuthRequest::new(&client, CB, &p)
                .resource(MCP)
                .scope("openid email todo:read")
                .param("nonce", "n-1"),
        )
        .await;
    let r = exchange(code).await;
    assert!(r.2["refresh_token"].is_string(), "{}", r.2);
    let (h, id) = jwt_parts(r.2["id_token"].as_str().unwrap());
    assert_eq!(h["alg"], "RS256");
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["aud"], client);
    assert_eq!(id["iss"], app.base);
    assert_eq!(id["email"], "alice@example.com");
    // Policy off: no refresh token unless offline_access is asked.
    let (_, code) = app
        .code_flow(
            "dev",
            &AuthRequest::new(&client, CB, &p)
                .resource("http://127.0.0.1:4000/mcp")
                .scope("notes:read"),
        )
        .await;
    assert!(exchange(code).await.2.get("refresh_token").is_none());
    let (_, code) = app
        .code_flow(
            "dev",
            &AuthRequest::new(&client, CB, &p)
                .resource("http://127.0.0.1:4000/mcp")
                .scope("notes:read offline_access"),
        )
        .await;
    assert!(exchange(code).await.2["refresh_token"].is_string());
}
