//! Revocation (RFC 7009), introspection (RFC 7662) and userinfo (OIDC Core §5.3).

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::harness::{AuthRequest, TestApp, pkce_pair, split};

const CB: &str = "http://127.0.0.1:8765/callback";
const MCP: &str = "http://127.0.0.1:3000/mcp";

struct Setup {
    app: TestApp,
    client: String,
    tokens: Value,
    rs: (String, String),
}

async fn setup(scope: &str) -> Setup {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    app.add_user("dev", "alice@example.com").await;
    let client = app.register_public("dev", CB).await;
    let p = pkce_pair();
    let (_, code) = app
        .code_flow("dev", &AuthRequest::new(&client, CB, &p).scope(scope))
        .await;
    let (_, _, tokens) = app
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
    // The MCP server's own confidential credentials, used for introspection.
    let rs = app.machine_client("dev", Some("todo:read")).await;
    Setup {
        app,
        client,
        tokens,
        rs,
    }
}

impl Setup {
    async fn introspect(&self, token: &str) -> Value {
        let r = self
            .app
            .http
            .post(format!("{}/introspect", self.app.base))
            .basic_auth(&self.rs.0, Some(&self.rs.1))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    async fn revoke(&self, client: &str, token: &str, hint: Option<&str>) -> StatusCode {
        let mut form = vec![("token", token), ("client_id", client)];
        if let Some(h) = hint {
            form.push(("token_type_hint", h));
        }
        self.app
            .http
            .post(format!("{}/revoke", self.app.base))
            .form(&form)
            .send()
            .await
            .unwrap()
            .status()
    }

    fn at(&self) -> &str {
        self.tokens["access_token"].as_str().unwrap()
    }

    fn rt(&self) -> &str {
        self.tokens["refresh_token"].as_str().unwrap()
    }
}

#[tokio::test]
async fn introspection_describes_active_tokens_and_requires_client_authentication() {
    let s = setup("openid todo:read offline_access").await;
    let at = s.introspect(s.at()).await;
    assert_eq!(at["active"], true);
    assert_eq!(at["aud"], MCP);
    assert_eq!(at["client_id"], s.client);
    assert_eq!(at["scope"], "openid todo:read offline_access");
    assert_eq!(at["iss"], s.app.base);
    assert!(
        at["sid"].as_str().is_some_and(|sid| sid.starts_with("gr_")),
        "the grant, for resource servers"
    );
    assert!(at["auth_time"].is_number());
    // A refresh token is described only to its own client, never to a resource server.
    assert_eq!(s.introspect(s.rt()).await, json!({"active": false}));
    assert_eq!(s.introspect("garbage").await, json!({"active": false}));
    // RFC 7662 §2.1: the endpoint is protected.
    let url = format!("{}/introspect", s.app.base);
    let anon = s
        .app
        .http
        .post(&url)
        .form(&[("token", s.at())])
        .send()
        .await
        .unwrap();
    assert_eq!(split(anon).await.2["error"], "invalid_client");
    let public = s
        .app
        .http
        .post(&url)
        .form(&[("token", s.at()), ("client_id", s.client.as_str())])
        .send()
        .await
        .unwrap();
    let (status, _, body) = split(public).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    // expired access tokens are inactive
    s.app.clock.advance(3601);
    assert_eq!(s.introspect(s.at()).await["active"], false);
}

#[tokio::test]
async fn a_public_client_revokes_its_refresh_token_and_the_grant_dies() {
    let s = setup("todo:read offline_access").await;
    assert_eq!(
        s.revoke(&s.client, s.rt(), Some("refresh_token")).await,
        StatusCode::OK
    );
    let r = s
        .app
        .token(
            "dev",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", s.rt()),
                ("client_id", &s.client),
            ],
        )
        .await;
    assert_eq!(r.2["error"], "invalid_grant");
    assert_eq!(
        s.introspect(s.at()).await["active"],
        false,
        "RFC 7009 §2.1: access tokens of the grant go too"
    );
    let e = s
        .app
        .events("dev")
        .await
        .into_iter()
        .find(|e| e.event == "revoke")
        .unwrap();
    assert_eq!(e.outcome, "success");
    assert_eq!(e.data["token_type"], "refresh_token");
}

#[tokio::test]
async fn revoking_an_access_token_leaves_the_refresh_token_working() {
    let s = setup("todo:read offline_access").await;
    assert_eq!(s.revoke(&s.client, s.at(), None).await, StatusCode::OK);
    assert_eq!(s.introspect(s.at()).await["active"], false);
    let r = s
        .app
        .token(
            "dev",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", s.rt()),
                ("client_id", &s.client),
            ],
        )
        .await;
    assert_eq!(r.0, StatusCode::OK);
}

#[tokio::test]
async fn another_clients_token_and_unknown_tokens_are_answered_200_and_left_alone() {
    let s = setup("todo:read offline_access").await;
    let other = s.app.register_public("dev", CB).await;
    assert_eq!(s.revoke(&other, s.rt(), None).await, StatusCode::OK);
    assert_eq!(s.revoke(&other, s.at(), None).await, StatusCode::OK);
    assert_eq!(
        s.introspect(s.at()).await["active"],
        true,
        "not revoked by a stranger (RFC 7009 §2.1)"
    );
    let still = s
        .app
        .token(
            "dev",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", s.rt()),
                ("client_id", &s.client),
            ],
        )
        .await;
    assert_eq!(
        still.0,
        StatusCode::OK,
        "the refresh token was not revoked by a stranger"
    );
    assert_eq!(
        s.revoke(&s.client, "nonsense", None).await,
        StatusCode::OK,
        "RFC 7009 §2.2: invalid tokens are not an error"
    );
    let anon = s
        .app
        .http
        .post(format!("{}/revoke", s.app.base))
        .form(&[("token", s.rt())])
        .send()
        .await
        .unwrap();
    assert_eq!(split(anon).await.2["error"], "invalid_client");
    let unknown = s.revoke("ghc_nobody", s.rt(), None).await;
    assert_eq!(unknown, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn userinfo_answers_for_openid_tokens_only() {
    let s = setup("openid email todo:read").await;
    let url = format!("{}/userinfo", s.app.base);
    let r = s
        .app
        .http
        .get(&url)
        .bearer_auth(s.at())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let (_, id) = crate::harness::jwt_parts(s.tokens["id_token"].as_str().unwrap());
    assert_eq!(body["sub"], id["sub"], "userinfo sub equals ID token sub");
    assert_eq!(body["email"], "alice@example.com");
    let none = s.app.http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(
        none.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let bad = s
        .app
        .http
        .get(&url)
        .bearer_auth("eyJ.bad.token")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(
        bad.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    // A token without openid
    let s2 = setup("todo:read").await;
    let r = s2
        .app
        .http
        .get(format!("{}/userinfo", s2.app.base))
        .bearer_auth(s2.at())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
}
