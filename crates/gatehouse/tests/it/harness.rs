//! Test harness: a real Gatehouse on 127.0.0.1 (real SQLite in a temp dir, real HTTP), a
//! clock the test can move, and a cookie-keeping "browser" that fills the HTML forms.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use gatehouse_oauth::pkce;
use gatehouse_oauth::secret::b64url;
use gatehouse_server::admin::{self, NewClient, NewResource};
use gatehouse_server::clock::{Clock, SystemClock};
use gatehouse_server::config::RateLimits;
use gatehouse_server::crypto::{MasterKey, random_bytes};
use gatehouse_server::state::AppState;
use gatehouse_store::{AuditEvent, AuditQuery, Profile, ResourceRecord, Store};
use gatehouse_store_sqlite::SqliteStore;
use reqwest::{StatusCode, header};
use serde_json::Value;

/// A clock that starts at the real time and moves only when the test says so.
#[derive(Default)]
pub struct TestClock {
    offset_ms: AtomicI64,
}

impl TestClock {
    pub fn advance(&self, secs: i64) {
        self.offset_ms.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.offset_ms.load(Ordering::SeqCst)
    }
}

pub struct TestApp {
    pub base: String,
    pub addr: SocketAddr,
    pub state: AppState,
    pub store: Arc<dyn Store>,
    pub master: MasterKey,
    pub clock: Arc<TestClock>,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

pub const PASSWORD: &str = "correct horse battery";

/// Limits high enough that ordinary tests never meet them.
pub fn relaxed_limits() -> RateLimits {
    let r = gatehouse_server::ratelimit::Rate::new(0, 0);
    RateLimits {
        token_per_client: r,
        token_per_ip: r,
        register_per_ip: r,
        login_per_ip: r,
        login_per_account: r,
        register_per_fingerprint: r,
        cimd_fetch_per_host: r,
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(relaxed_limits()).await
    }

    pub async fn spawn_with(limits: RateLimits) -> Self {
        Self::spawn_in(tempfile::tempdir().expect("tempdir"), limits).await
    }

    /// A second server process on the same data directory (the first keeps running).
    pub async fn restart(self) -> Self {
        Self::spawn_in(self.dir, relaxed_limits()).await
    }

    /// A server on an existing data directory (same database and master key).
    pub async fn spawn_in(dir: tempfile::TempDir, limits: RateLimits) -> Self {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("gatehouse.db")).expect("open store"));
        let master = MasterKey::load_or_create(dir.path(), None).expect("master key");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}");
        let clock = Arc::new(TestClock::default());
        let state = gatehouse_server::start(gatehouse_server::Options {
            store: store.clone(),
            master: master.clone(),
            public_url: url::Url::parse(&base).expect("url"),
            limits,
            clock: clock.clone(),
        })
        .await
        .expect("start");
        let app = gatehouse_server::router(state.clone())
            .into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            base,
            addr,
            state,
            store,
            master,
            clock,
            http,
            dir,
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn clock_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Makes the server see changes made behind its back (as its background task does
    /// every 250 ms).
    pub async fn reload(&self) {
        self.state
            .envs
            .refresh(self.now(), true)
            .await
            .expect("reload");
    }

    pub async fn add_resource(&self, env: &str, url: &str, scopes: &str) -> ResourceRecord {
        self.add_resource_with(env, url, scopes, |_| {}).await
    }

    pub async fn add_resource_with(
        &self,
        env: &str,
        url: &str,
        scopes: &str,
        tweak: impl FnOnce(&mut NewResource),
    ) -> ResourceRecord {
        let defs = admin::scope_defs(
            scopes,
            &[("todo:read".into(), "Read your todo lists".into())]
                .into_iter()
                .filter(|(n, _)| scopes.split(' ').any(|s| s == n))
                .collect::<Vec<_>>(),
            "Todo MCP",
        )
        .expect("scopes");
        let mut new = NewResource {
            name: "Todo MCP".into(),
            url: url.into(),
            scopes: defs,
            access_token_ttl: None,
            refresh_without_offline_access: None,
        };
        tweak(&mut new);
        let r = admin::add_resource(&*self.store, env, new, self.now())
            .await
            .expect("add resource");
        self.reload().await;
        r
    }

    pub async fn add_user(&self, env: &str, email: &str) -> String {
        admin::add_user(
            &*self.store,
            env,
            email,
            PASSWORD,
            Some("Alice Example"),
            self.now(),
        )
        .await
        .expect("add user")
        .id
    }

    pub async fn add_env(&self, id: &str, profile: Profile) -> String {
        let issuer = format!("{}/{id}", self.base);
        admin::create_environment(
            &*self.store,
            &self.master,
            id,
            Some(&issuer),
            profile,
            self.now(),
        )
        .await
        .expect("env");
        self.reload().await;
        issuer
    }

    /// A confidential machine client; returns (client_id, secret).
    pub async fn machine_client(&self, env: &str, scopes: Option<&str>) -> (String, String) {
        let c = admin::add_client(
            &*self.store,
            env,
            NewClient {
                name: "nightly-agent".into(),
                grants: vec!["client_credentials".into()],
                scopes: scopes.map(str::to_owned),
                ..Default::default()
            },
            self.now(),
        )
        .await
        .expect("client");
        (
            c.client.client_id,
            c.secret.expect("secret").expose().to_owned(),
        )
    }

    /// The issuer of an environment (`dev` is the base URL).
    pub fn issuer(&self, env: &str) -> String {
        if env == "dev" {
            self.base.clone()
        } else {
            format!("{}/{env}", self.base)
        }
    }

    /// Registers a client through DCR and returns the response body.
    pub async fn register(&self, env: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}/register", self.issuer(env)))
            .json(&body)
            .send()
            .await
            .expect("register");
        assert_eq!(resp.status(), StatusCode::CREATED, "registration failed");
        resp.json().await.expect("json")
    }

    /// A typical MCP client registration: public, loopback redirect, refresh_token grant.
    pub async fn register_public(&self, env: &str, redirect: &str) -> String {
        let body = serde_json::json!({
            "client_name": "Test MCP Client",
            "redirect_uris": [redirect],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
        });
        self.register(env, body).await["client_id"]
            .as_str()
            .expect("client_id")
            .to_owned()
    }

    pub async fn token(
        &self,
        env: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, HeaderMapOwned, Value) {
        let resp = self
            .http
            .post(format!("{}/token", self.issuer(env)))
            .form(form)
            .send()
            .await
            .expect("token");
        split(resp).await
    }

    pub async fn events(&self, env: &str) -> Vec<AuditEvent> {
        gatehouse_server::flush_audit(&self.state).await;
        self.store
            .list_events(&AuditQuery {
                env_id: env.into(),
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .expect("events")
    }

    pub fn browser(&self) -> Browser {
        Browser {
            http: self.http.clone(),
            cookies: HashMap::new(),
        }
    }

    /// Runs a whole code flow (authorize, login, consent) and returns the code.
    pub async fn code_flow(&self, env: &str, req: &AuthRequest) -> (Browser, String) {
        let mut b = self.browser();
        let cb = b
            .authorize_and_consent(&self.issuer(env), req, "alice@example.com", PASSWORD)
            .await;
        let code = cb.get("code").cloned().expect("code in callback");
        (b, code)
    }

    /// A whole code flow for the public `client` at `redirect`, then the code exchange: the
    /// token response.
    pub async fn user_tokens(&self, env: &str, client: &str, redirect: &str, scope: &str) -> Value {
        let p = pkce_pair();
        let (_, code) = self
            .code_flow(env, &AuthRequest::new(client, redirect, &p).scope(scope))
            .await;
        let (status, _, tokens) = self
            .token(
                env,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("client_id", client),
                    ("code_verifier", &p.verifier),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        tokens
    }
}

pub type HeaderMapOwned = reqwest::header::HeaderMap;

pub async fn split(resp: reqwest::Response) -> (StatusCode, HeaderMapOwned, Value) {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

/// A PKCE pair.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

pub fn pkce_pair() -> Pkce {
    let verifier = b64url(&random_bytes::<32>());
    Pkce {
        challenge: pkce::s256(&verifier),
        verifier,
    }
}

/// An authorization request.
#[derive(Clone)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Option<String>,
    pub resource: Option<String>,
    pub state: String,
    pub challenge: Option<String>,
    pub method: Option<String>,
    pub extra: Vec<(String, String)>,
}

impl AuthRequest {
    pub fn new(client_id: &str, redirect_uri: &str, pkce: &Pkce) -> Self {
        Self {
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            scope: None,
            resource: None,
            state: "st-123".into(),
            challenge: Some(pkce.challenge.clone()),
            method: Some("S256".into()),
            extra: vec![],
        }
    }

    pub fn scope(mut self, s: &str) -> Self {
        self.scope = Some(s.into());
        self
    }

    pub fn resource(mut self, r: &str) -> Self {
        self.resource = Some(r.into());
        self
    }

    pub fn param(mut self, k: &str, v: &str) -> Self {
        self.extra.push((k.into(), v.into()));
        self
    }

    pub fn url(&self, issuer: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("response_type", "code");
        q.append_pair("client_id", &self.client_id);
        q.append_pair("redirect_uri", &self.redirect_uri);
        q.append_pair("state", &self.state);
        if let Some(c) = &self.challenge {
            q.append_pair("code_challenge", c);
        }
        if let Some(m) = &self.method {
            q.append_pair("code_challenge_method", m);
        }
        if let Some(s) = &self.scope {
            q.append_pair("scope", s);
        }
        if let Some(r) = &self.resource {
            q.append_pair("resource", r);
        }
        for (k, v) in &self.extra {
            q.append_pair(k, v);
        }
        format!("{issuer}/authorize?{}", q.finish())
    }
}

/// A browser: keeps cookies, does not follow redirects by itself, fills forms.
pub struct Browser {
    pub http: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMapOwned,
    pub body: String,
    pub url: String,
}

impl Page {
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Value of a hidden input.
    pub fn hidden(&self, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&needle)? + needle.len();
        let end = self.body[start..].find('"')? + start;
        Some(unescape(&self.body[start..end]))
    }

    /// Query parameters of the Location header.
    pub fn location_params(&self) -> HashMap<String, String> {
        let loc = self.location().expect("a Location header");
        query_of(&loc)
    }
}

pub fn query_of(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, url: &str, resp: reqwest::Response) -> Page {
        for v in resp.headers().get_all(header::SET_COOKIE) {
            let text = v.to_str().unwrap_or_default();
            if let Some((k, rest)) = text.split_once('=') {
                let value = rest.split(';').next().unwrap_or_default();
                self.cookies.insert(k.to_owned(), value.to_owned());
            }
        }
        Page {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap_or_default(),
            url: url.to_owned(),
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let resp = self
            .http
            .get(url)
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.finish(url, resp).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let resp = self
            .http
            .post(url)
            .header(header::COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("POST");
        self.finish(url, resp).await
    }

    /// Follows redirects within the authorization server; stops at the first response that
    /// is not a redirect to it.
    pub async fn follow(&mut self, mut page: Page, issuer_origin: &str) -> Page {
        for _ in 0..10 {
            match page.location() {
                Some(loc) if loc.starts_with(issuer_origin) => page = self.get(&loc).await,
                _ => return page,
            }
        }
        page
    }

    /// Submits the login form on `page`.
    pub async fn login(&mut self, page: &Page, email: &str, password: &str) -> Page {
        let action = page.url.split('?').next().expect("url").to_owned();
        let request = page.hidden("request").expect("request field");
        let csrf = page.hidden("csrf").expect("csrf field");
        self.post(
            &action,
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    /// Submits the consent form on `page`.
    pub async fn decide(&mut self, page: &Page, decision: &str) -> Page {
        let action = page.url.split('?').next().expect("url").to_owned();
        let request = page.hidden("request").expect("request field");
        let csrf = page.hidden("csrf").expect("csrf field");
        self.post(
            &action,
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("decision", decision),
            ],
        )
        .await
    }

    /// Authorize → login (if asked) → consent (if asked) → the callback parameters.
    pub async fn authorize_and_consent(
        &mut self,
        issuer: &str,
        req: &AuthRequest,
        email: &str,
        password: &str,
    ) -> HashMap<String, String> {
        let origin = origin_of(issuer);
        let first = self.get(&req.url(issuer)).await;
        let mut page = self.follow(first, &origin).await;
        if page.url.contains("/login") && page.status == StatusCode::OK {
            let after = self.login(&page, email, password).await;
            assert!(
                after.status.is_redirection(),
                "login failed: {} {}",
                after.status,
                after.body
            );
            page = self.follow(after, &origin).await;
        }
        if page.url.contains("/consent") && page.status == StatusCode::OK {
            let after = self.decide(&page, "allow").await;
            page = self.follow(after, &origin).await;
        }
        let loc = page
            .location()
            .unwrap_or_else(|| panic!("no redirect to the client: {} {}", page.status, page.body));
        query_of(&loc)
    }
}

pub fn origin_of(url: &str) -> String {
    let u = url::Url::parse(url).expect("url");
    u.origin().ascii_serialization()
}

/// Decodes a JWT's header and claims without verifying.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let dec = |s: &str| {
        serde_json::from_slice(&gatehouse_oauth::secret::b64url_decode(s).expect("b64"))
            .expect("json")
    };
    (
        dec(it.next().expect("header")),
        dec(it.next().expect("claims")),
    )
}

/// Verifies an access token against the environment's JWKS, as a resource server would.
pub async fn verify_access_token(
    app: &TestApp,
    env: &str,
    token: &str,
) -> gatehouse_oauth::claims::AccessTokenClaims {
    let jwks: Value = app
        .http
        .get(format!("{}/jwks.json", app.issuer(env)))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let keys: Vec<gatehouse_oauth::jose::VerifyingKey> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            gatehouse_oauth::jose::VerifyingKey::from_jwk(
                &serde_json::from_value(k.clone()).expect("jwk"),
            )
            .expect("key")
        })
        .collect();
    gatehouse_oauth::jose::verify(token, &keys, "at+jwt")
        .expect("valid access token")
        .1
}

/// HTML-escapes like the pages do, to look for values in page bodies.
pub fn html(s: &str) -> String {
    gatehouse_server::pages::esc(s)
}

/// The dashboard administrator the tests sign in as.
pub const ADMIN_EMAIL: &str = "admin@example.com";

impl TestApp {
    /// A browser signed in to the dashboard (`/admin`) as [`ADMIN_EMAIL`], created if needed.
    pub async fn dashboard(&self) -> Browser {
        if self
            .store
            .get_admin_user_by_email(ADMIN_EMAIL)
            .await
            .expect("admin lookup")
            .is_none()
        {
            admin::create_admin_user(&*self.store, ADMIN_EMAIL, PASSWORD, self.now())
                .await
                .expect("admin user");
        }
        let mut b = self.browser();
        let login = b.get(&format!("{}/admin/login", self.base)).await;
        let csrf = login.hidden("csrf").expect("csrf field");
        let done = b
            .post(
                &format!("{}/admin/login", self.base),
                &[
                    ("csrf", &csrf),
                    ("email", ADMIN_EMAIL),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(
            done.status,
            StatusCode::SEE_OTHER,
            "sign-in failed: {}",
            done.body
        );
        b
    }
}
