//! Client ID Metadata Documents: URL client_ids resolved by a safe fetch, checked, cached,
//! and subject to the environment's trust policy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{StatusCode as AxStatus, Uri, header};
use axum::response::{IntoResponse, Response};
use gatehouse_store::CimdTrust;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{AuthRequest, PASSWORD, TestApp, pkce_pair};
use crate::tls::{Server, Tls};

const CB: &str = "http://127.0.0.1:8765/callback";
const MCP: &str = "http://127.0.0.1:3000/mcp";

#[derive(Clone)]
struct Canned {
    status: u16,
    content_type: String,
    cache_control: Option<String>,
    location: Option<String>,
    body: String,
}

impl Canned {
    fn json(body: Value) -> Self {
        Self {
            status: 200,
            content_type: "application/json".into(),
            cache_control: None,
            location: None,
            body: body.to_string(),
        }
    }
}

#[derive(Default)]
struct Docs {
    canned: Mutex<HashMap<String, Canned>>,
    hits: Mutex<HashMap<String, usize>>,
}

async fn serve_doc(State(docs): State<Arc<Docs>>, uri: Uri) -> Response {
    *docs
        .hits
        .lock()
        .unwrap()
        .entry(uri.path().to_owned())
        .or_default() += 1;
    let Some(c) = docs.canned.lock().unwrap().get(uri.path()).cloned() else {
        return AxStatus::NOT_FOUND.into_response();
    };
    let mut resp = (AxStatus::from_u16(c.status).unwrap(), c.body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, c.content_type.parse().unwrap());
    if let Some(cc) = c.cache_control {
        h.insert(header::CACHE_CONTROL, cc.parse().unwrap());
    }
    if let Some(loc) = c.location {
        h.insert(header::LOCATION, loc.parse().unwrap());
    }
    resp
}

struct Setup {
    app: TestApp,
    server: Server,
    docs: Arc<Docs>,
}

impl Setup {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        app.add_resource("dev", MCP, "todo:read").await;
        app.add_user("dev", "alice@example.com").await;
        let tls = Tls::new(app.dir.path());
        let docs = Arc::new(Docs::default());
        let server = tls
            .serve(
                axum::Router::new()
                    .fallback(serve_doc)
                    .with_state(docs.clone()),
            )
            .await;
        let setup = Self { app, server, docs };
        setup
            .settings(|c| {
                c.fetch_allow_hosts = vec!["127.0.0.1".into()];
                c.fetch_ca_file = Some(tls.ca_file.display().to_string());
            })
            .await;
        setup
    }

    async fn settings(&self, f: impl FnOnce(&mut gatehouse_store::CimdSettings)) {
        let mut env = self
            .app
            .store
            .get_environment("dev")
            .await
            .unwrap()
            .unwrap();
        f(&mut env.settings.cimd);
        gatehouse_server::admin::update_environment(&*self.app.store, &env)
            .await
            .unwrap();
        self.app.reload().await;
    }

    /// Publishes a client document at `path`; returns its URL (the client_id).
    fn publish(&self, path: &str, edit: impl FnOnce(&mut Value)) -> String {
        let url = self.server.url("127.0.0.1", path);
        let mut doc = json!({"client_id": url, "client_name": "Doc Client", "redirect_uris": [CB]});
        edit(&mut doc);
        self.put(path, Canned::json(doc));
        url
    }

    fn put(&self, path: &str, canned: Canned) {
        self.docs
            .canned
            .lock()
            .unwrap()
            .insert(path.to_owned(), canned);
    }

    fn hits(&self, path: &str) -> usize {
        self.docs
            .hits
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    async fn authorize(&self, client_id: &str) -> crate::harness::Page {
        let p = pkce_pair();
        self.app
            .browser()
            .get(&AuthRequest::new(client_id, CB, &p).url(&self.app.base))
            .await
    }
}

fn assert_refused(page: &crate::harness::Page, mentions: &str) {
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(
        page.location().is_none(),
        "never redirects for an unverified client"
    );
    assert!(page.body.contains("invalid_client"));
    assert!(
        page.body.contains(&crate::harness::html(mentions)),
        "page should mention {mentions:?}: {}",
        page.body
    );
}

#[tokio::test]
async fn a_metadata_document_client_signs_in_and_gets_tokens() {
    let s = Setup::new().await;
    let meta: Value = s
        .app
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            s.app.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    let client = s.publish("/oauth/client.json", |_| {});
    let p = pkce_pair();
    let mut b = s.app.browser();
    let start = b
        .get(
            &AuthRequest::new(&client, CB, &p)
                .scope("todo:read offline_access")
                .url(&s.app.base),
        )
        .await;
    let login = b.follow(start, &s.app.base).await;
    assert!(
        login.body.contains("Doc Client"),
        "the document's name is shown"
    );
    let after = b.login(&login, "alice@example.com", PASSWORD).await;
    let consent = b.follow(after, &s.app.base).await;
    assert!(
        consent
            .body
            .contains("published by <strong>127.0.0.1</strong>"),
        "the document's host is shown: {}",
        consent.body
    );
    assert!(!consent.body.contains("Verified"));
    assert!(
        consent.body.contains("runs on this computer"),
        "localhost-only redirect warning"
    );
    let done = b.decide(&consent, "allow").await;
    let code = crate::harness::query_of(&done.location().unwrap())["code"].clone();
    let (status, _, t) = s
        .app
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
    assert_eq!(status, StatusCode::OK, "{t}");
    let claims =
        crate::harness::verify_access_token(&s.app, "dev", t["access_token"].as_str().unwrap())
            .await;
    assert_eq!(claims.client_id, client);
    let r = s
        .app
        .token(
            "dev",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
                ("client_id", &client),
            ],
        )
        .await;
    assert_eq!(r.0, StatusCode::OK);
    let rows = s.app.store.list_clients("dev").await.unwrap();
    assert!(
        rows.iter()
            .any(|c| c.client_id == client && c.kind == gatehouse_store::ClientKind::Cimd)
    );
    assert_eq!(s.hits("/oauth/client.json"), 1, "fetched once, then cached");
}

#[tokio::test]
async fn malformed_client_id_urls_are_refused_without_any_fetch() {
    let s = Setup::new().await;
    let port = s.server.addr.port();
    let cases = [
        (format!("https://127.0.0.1:{port}"), "path"),
        (format!("https://127.0.0.1:{port}/a/../client.json"), ".."),
        (
            format!("https://127.0.0.1:{port}/a/%2e%2e/client.json"),
            "..",
        ),
        (
            format!("https://127.0.0.1:{port}/client.json#frag"),
            "fragment",
        ),
        (
            format!("https://user:pw@127.0.0.1:{port}/client.json"),
            "user information",
        ),
        (format!("https://127.0.0.1:{port}/client.json?v=1"), "query"),
    ];
    for (url, why) in cases {
        assert_refused(&s.authorize(&url).await, why);
    }
    assert_eq!(
        s.server.connections(),
        0,
        "no network access for a malformed client_id"
    );
}

#[tokio::test]
async fn documents_that_break_the_rules_are_refused() {
    let s = Setup::new().await;
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "/mismatch.json",
            Box::new(|d| d["client_id"] = json!("https://elsewhere.example/client.json")),
            "not its URL",
        ),
        (
            "/basic.json",
            Box::new(|d| d["token_endpoint_auth_method"] = json!("client_secret_basic")),
            "shared secret",
        ),
        (
            "/secret.json",
            Box::new(|d| d["client_secret"] = json!("s3cret")),
            "client_secret",
        ),
        (
            "/noredirect.json",
            Box::new(|d| d["redirect_uris"] = json!([])),
            "redirect_uris",
        ),
        (
            "/noname.json",
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("client_name");
            }),
            "client_name",
        ),
        (
            "/httpredirect.json",
            Box::new(|d| d["redirect_uris"] = json!(["http://evil.example/cb"])),
            "loopback",
        ),
    ];
    for (path, edit, why) in cases {
        let url = s.publish(path, |d| edit(d));
        assert_refused(&s.authorize(&url).await, why);
    }
    // Served as HTML, too large, or not found.
    let html = s.server.url("127.0.0.1", "/page.html");
    s.put(
        "/page.html",
        Canned {
            content_type: "text/html".into(),
            ..Canned::json(json!({"client_id": html}))
        },
    );
    assert_refused(&s.authorize(&html).await, "application/json");
    let big = s.server.url("127.0.0.1", "/big.json");
    s.put(
        "/big.json",
        Canned::json(
            json!({"client_id": big, "client_name": "x".repeat(6000), "redirect_uris": [CB]}),
        ),
    );
    assert_refused(&s.authorize(&big).await, "5120");
    assert_refused(
        &s.authorize(&s.server.url("127.0.0.1", "/missing.json"))
            .await,
        "404",
    );
    // A redirect URI the document does not list is a redirect mismatch, named on the page.
    let ok = s.publish("/ok.json", |_| {});
    let p = pkce_pair();
    let page = s
        .app
        .browser()
        .get(&AuthRequest::new(&ok, "http://127.0.0.1:8765/other", &p).url(&s.app.base))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("http://127.0.0.1:8765/other") && page.body.contains(CB));
    let events = s.app.events("dev").await;
    assert!(
        events
            .iter()
            .filter(|e| e.event == "cimd" && e.outcome == "failure")
            .count()
            >= 8,
        "each failed fetch is logged"
    );
}

#[tokio::test]
async fn fetches_to_private_addresses_are_refused() {
    let s = Setup::new().await;
    // The loopback exemption is explicit: without it, 127.0.0.1 is refused before connecting.
    let url = s.publish("/client.json", |_| {});
    s.settings(|c| c.fetch_allow_hosts.clear()).await;
    assert_refused(&s.authorize(&url).await, "loopback");
    assert_eq!(s.server.connections(), 0);
    // A DNS name that resolves to 127.0.0.1 is refused even when the IP literal is trusted.
    s.settings(|c| c.fetch_allow_hosts = vec!["127.0.0.1".into()])
        .await;
    let by_name = s.server.url("localhost", "/client.json");
    assert_refused(&s.authorize(&by_name).await, "loopback");
    assert_eq!(s.server.connections(), 0);
    // Cloud metadata and private ranges.
    for target in [
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/client.json",
        "https://[::1]/client.json",
        "https://[::ffff:7f00:1]/client.json",
    ] {
        let page = s.authorize(target).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{target}");
        assert!(
            page.body.contains("fetch failed"),
            "{target}: {}",
            page.body
        );
    }
    // A redirect, here to a private address, is never followed.
    let hop = s.server.url("127.0.0.1", "/hop.json");
    s.put(
        "/hop.json",
        Canned {
            status: 302,
            location: Some("https://10.0.0.1/client.json".into()),
            ..Canned::json(json!({}))
        },
    );
    assert_refused(&s.authorize(&hop).await, "redirect");
    let e = s
        .app
        .events("dev")
        .await
        .into_iter()
        .find(|e| e.event == "cimd" && e.client_id.as_deref() == Some(hop.as_str()))
        .unwrap();
    assert!(
        e.error_detail.unwrap().contains("10.0.0.1"),
        "the log names where it tried to send us"
    );
}

#[tokio::test]
async fn documents_are_cached_within_bounds_and_failures_are_not() {
    let s = Setup::new().await;
    let url = s.publish("/cached.json", |_| {});
    s.put(
        "/cached.json",
        Canned {
            cache_control: Some("max-age=600".into()),
            ..Canned::json(
                json!({"client_id": url, "client_name": "Doc Client", "redirect_uris": [CB]}),
            )
        },
    );
    for _ in 0..3 {
        assert_eq!(s.authorize(&url).await.status, StatusCode::FOUND);
    }
    assert_eq!(s.hits("/cached.json"), 1);
    s.app.clock.advance(601);
    assert_eq!(s.authorize(&url).await.status, StatusCode::FOUND);
    assert_eq!(s.hits("/cached.json"), 2, "fetched again after max-age");
    // A tiny max-age is raised to the minimum (60 s).
    let short = s.server.url("127.0.0.1", "/short.json");
    s.put(
        "/short.json",
        Canned {
            cache_control: Some("max-age=1".into()),
            ..Canned::json(json!({"client_id": short, "client_name": "Doc", "redirect_uris": [CB]}))
        },
    );
    s.authorize(&short).await;
    s.app.clock.advance(30);
    s.authorize(&short).await;
    assert_eq!(s.hits("/short.json"), 1);
    // Errors are not cached: a broken document that gets fixed works at once.
    let flaky = s.server.url("127.0.0.1", "/flaky.json");
    s.put(
        "/flaky.json",
        Canned {
            status: 500,
            ..Canned::json(json!({}))
        },
    );
    assert_eq!(s.authorize(&flaky).await.status, StatusCode::BAD_REQUEST);
    s.put(
        "/flaky.json",
        Canned::json(json!({"client_id": flaky, "client_name": "Doc", "redirect_uris": [CB]})),
    );
    assert_eq!(s.authorize(&flaky).await.status, StatusCode::FOUND);
    assert_eq!(s.hits("/flaky.json"), 2);
}

#[tokio::test]
async fn trust_policies_decide_which_documents_are_fetched() {
    let s = Setup::new().await;
    let url = s.publish("/client.json", |_| {});
    s.settings(|c| {
        c.trust = CimdTrust::AllowList;
        c.allowed_domains = vec!["example.com".into()];
    })
    .await;
    assert_refused(&s.authorize(&url).await, "allowed client domains");
    s.settings(|c| c.trust = CimdTrust::KnownClients).await;
    assert_refused(&s.authorize(&url).await, "known MCP clients");
    assert_eq!(s.server.connections(), 0, "untrusted URLs are not fetched");
    s.settings(|c| c.allowed_domains = vec!["127.0.0.1".into()])
        .await;
    s.settings(|c| c.trust = CimdTrust::AllowList).await;
    assert_eq!(s.authorize(&url).await.status, StatusCode::FOUND);
    s.settings(|c| c.enabled = false).await;
    let meta: Value = s
        .app
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            s.app.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(meta.get("client_id_metadata_document_supported").is_none());
    assert_refused(&s.authorize(&url).await, "disabled");
}
