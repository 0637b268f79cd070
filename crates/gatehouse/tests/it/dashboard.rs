//! The dashboard over real HTTP: sign-in, the setup link, CSRF, environment scoping, and each
//! form's happy path and a validation error. (The browser tests in `tests/browser/` drive the
//! same pages in headless Chromium.)

use gatehouse_server::admin;
use gatehouse_server::dashboard::setup_link;
use gatehouse_store::Profile;
use reqwest::{StatusCode, header};

use crate::harness::{
    ADMIN_EMAIL, AuthRequest, Browser, PASSWORD, Page, TestApp, html, pkce_pair, relaxed_limits,
};

const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const CB: &str = "http://127.0.0.1:8765/callback";
const MCP: &str = "http://127.0.0.1:3000/mcp";

/// A signed-in dashboard browser and the CSRF token of its session.
struct Dash {
    app: TestApp,
    b: Browser,
    csrf: String,
}

impl Dash {
    async fn new() -> Self {
        Self::on(TestApp::spawn().await).await
    }

    async fn on(app: TestApp) -> Self {
        let mut b = app.dashboard().await;
        let page = b.get(&format!("{}/admin/env/dev", app.base)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let csrf = page.hidden("csrf").expect("csrf");
        Self { app, b, csrf }
    }

    async fn get(&mut self, path: &str) -> Page {
        let url = format!("{}{path}", self.app.base);
        self.b.get(&url).await
    }

    /// Posts a form with the session's CSRF token; follows a redirect (post/redirect/get).
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let url = format!("{}{path}", self.app.base);
        let page = self.b.post(&url, &form).await;
        match page.location() {
            Some(loc) if page.status == StatusCode::SEE_OTHER => self.get(&loc).await,
            _ => page,
        }
    }

    /// Posts and expects the redirect to a page showing `flash`.
    async fn change(&mut self, path: &str, fields: &[(&str, &str)], flash: &str) -> Page {
        let page = self.post(path, fields).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert!(
            page.body.contains(&html(flash)),
            "{path}: no {flash:?} in {}",
            page.body
        );
        page
    }

    /// Posts and expects the form again with `error` and a 400.
    async fn refused(&mut self, path: &str, fields: &[(&str, &str)], error: &str) -> Page {
        let page = self.post(path, fields).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            page.body
        );
        assert!(
            page.body.contains(&html(error)),
            "{path}: no {error:?} in {}",
            page.body
        );
        page
    }
}

fn cookie_attrs<'a>(page: &'a Page, name: &str) -> &'a str {
    page.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

#[tokio::test]
async fn the_setup_link_creates_the_first_admin_and_then_stops_working() {
    let app = TestApp::spawn().await;
    let link = setup_link(&app.state, &app.base)
        .await
        .unwrap()
        .expect("a link while no admin exists");
    assert!(
        link.starts_with(&format!("{}/admin/setup?token=", app.base)),
        "{link}"
    );
    let token = link.split_once("token=").unwrap().1.to_owned();
    let mut b = app.browser();
    let wrong = b
        .get(&format!("{}/admin/setup?token=x{token}", app.base))
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let form = b.get(&link).await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.headers[header::CONTENT_SECURITY_POLICY], CSP);
    let csrf = form.hidden("csrf").unwrap();
    let url = format!("{}/admin/setup", app.base);
    let mismatch = b
        .post(
            &url,
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("email", "root@example.com"),
                ("password", PASSWORD),
                ("confirm", "other password"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    assert!(
        mismatch.body.contains("not the same")
            && mismatch.body.contains("value=\"root@example.com\""),
        "input kept"
    );
    let no_csrf = b
        .post(
            &url,
            &[
                ("token", &token),
                ("email", "root@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let created = b
        .post(
            &url,
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("email", "root@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        (created.status, created.location().as_deref()),
        (StatusCode::SEE_OTHER, Some("/admin"))
    );
    let attrs = cookie_attrs(&created, "gh_admin");
    for a in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(attrs.contains(a), "{attrs}");
    }
    assert!(!attrs.contains("Secure"), "plain http public URL: {attrs}");
    let home = b.get(&format!("{}/admin/env/dev", app.base)).await;
    assert!(
        home.body
            .contains("Welcome. You are signed in as root@example.com."),
        "{}",
        home.body
    );
    assert_eq!(setup_link(&app.state, &app.base).await.unwrap(), None);
    let gone = b.get(&link).await;
    assert_eq!(gone.status, StatusCode::GONE);
    let again = b
        .post(
            &url,
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("email", "second@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(
        app.store
            .get_admin_user_by_email("second@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn sign_in_failures_are_generic_and_sessions_expire() {
    let app = TestApp::spawn().await;
    admin::create_admin_user(&*app.store, ADMIN_EMAIL, PASSWORD, app.now())
        .await
        .unwrap();
    let mut b = app.browser();
    let anon = b.get(&format!("{}/admin/env/dev", app.base)).await;
    assert_eq!(
        (anon.status, anon.location().as_deref()),
        (StatusCode::SEE_OTHER, Some("/admin/login"))
    );
    let login = b.get(&format!("{}/admin/login", app.base)).await;
    let csrf = login.hidden("csrf").unwrap();
    let url = format!("{}/admin/login", app.base);
    let wrong = b
        .post(
            &url,
            &[
                ("csrf", &csrf),
                ("email", ADMIN_EMAIL),
                ("password", "not the password"),
            ],
        )
        .await;
    let unknown = b
        .post(
            &url,
            &[
                ("csrf", &csrf),
                ("email", "nobody@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    for page in [&wrong, &unknown] {
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(
            page.body.contains("Wrong email or password."),
            "{}",
            page.body
        );
    }
    // End-user accounts are not administrators.
    app.add_user("dev", "alice@example.com").await;
    let end_user = b
        .post(
            &url,
            &[
                ("csrf", &csrf),
                ("email", "alice@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(end_user.status, StatusCode::UNAUTHORIZED);
    let ok = b
        .post(
            &url,
            &[
                ("csrf", &csrf),
                ("email", ADMIN_EMAIL),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let page = b.get(&format!("{}/admin/env/dev", app.base)).await;
    assert_eq!(page.status, StatusCode::OK);
    for (h, v) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        assert_eq!(page.headers[&h], v, "{h}");
    }
    assert!(
        !page.body.contains(" style=")
            && !page.body.contains("<style")
            && !page.body.contains("<script>"),
        "no inline style or script"
    );
    // The stylesheet and script are cached for long.
    let css = page
        .body
        .split("href=\"/admin/assets/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let asset = app
        .http
        .get(format!("{}/admin/assets/{css}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        asset.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    // The session cookie works for the admin API too (GET).
    let api = b
        .get(&format!("{}/admin/api/v1/environments", app.base))
        .await;
    assert_eq!(api.status, StatusCode::OK);
    app.clock.advance(13 * 3600);
    let expired = b.get(&format!("{}/admin/env/dev", app.base)).await;
    assert_eq!(
        expired.location().as_deref(),
        Some("/admin/login?expired=1")
    );
    let again = b.get(&format!("{}/admin/login?expired=1", app.base)).await;
    assert!(again.body.contains("Your session has expired"));
}

#[tokio::test]
async fn sign_in_is_rate_limited() {
    let mut limits = relaxed_limits();
    limits.login_per_account = gatehouse_server::ratelimit::Rate::new(1, 3);
    let app = TestApp::spawn_with(limits).await;
    let mut b = app.browser();
    let csrf = b
        .get(&format!("{}/admin/login", app.base))
        .await
        .hidden("csrf")
        .unwrap();
    let url = format!("{}/admin/login", app.base);
    let mut statuses = vec![];
    for _ in 0..4 {
        statuses.push(
            b.post(
                &url,
                &[
                    ("csrf", &csrf),
                    ("email", ADMIN_EMAIL),
                    ("password", "guess"),
                ],
            )
            .await
            .status,
        );
    }
    assert_eq!(statuses[..3], [StatusCode::UNAUTHORIZED; 3]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused() {
    let mut d = Dash::new().await;
    let url = format!("{}/admin/env/dev/users", d.app.base);
    let fields = [("email", "mallory@example.com"), ("password", PASSWORD)];
    let none = d.b.post(&url, &fields).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    // Another administrator's session has another token.
    admin::create_admin_user(&*d.app.store, "other@example.com", PASSWORD, d.app.now())
        .await
        .unwrap();
    let mut other = d.app.browser();
    let csrf = other
        .get(&format!("{}/admin/login", d.app.base))
        .await
        .hidden("csrf")
        .unwrap();
    other
        .post(
            &format!("{}/admin/login", d.app.base),
            &[
                ("csrf", &csrf),
                ("email", "other@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let other_csrf = other
        .get(&format!("{}/admin/env/dev", d.app.base))
        .await
        .hidden("csrf")
        .unwrap();
    assert_ne!(other_csrf, d.csrf);
    let foreign =
        d.b.post(
            &url,
            &[
                ("csrf", other_csrf.as_str()),
                ("email", "mallory@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    // Without a session at all, to the sign-in page.
    let anon = d
        .app
        .browser()
        .post(&url, &[("csrf", d.csrf.as_str())])
        .await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    assert!(
        d.app
            .store
            .get_user_by_email("dev", "mallory@example.com")
            .await
            .unwrap()
            .is_none()
    );
    // Sign-out needs the token too, and ends the session.
    let out = d.b.post(&format!("{}/admin/logout", d.app.base), &[]).await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
    let csrf = d.csrf.clone();
    let out =
        d.b.post(
            &format!("{}/admin/logout", d.app.base),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(out.location().as_deref(), Some("/admin/login?signed_out=1"));
    assert_eq!(d.get("/admin/env/dev").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn pages_are_scoped_to_their_environment() {
    let mut d = Dash::new().await;
    d.app.add_env("prod", Profile::Production).await;
    let user = d.app.add_user("dev", "alice@example.com").await;
    let r = d.app.add_resource("dev", MCP, "todo:read").await;
    let (client, _) = d.app.machine_client("dev", None).await;
    assert_eq!(
        d.get(&format!("/admin/env/dev/users/{user}")).await.status,
        StatusCode::OK
    );
    for path in [
        format!("/admin/env/prod/users/{user}"),
        format!("/admin/env/prod/servers/{}", r.id),
        format!("/admin/env/prod/clients/{client}"),
        "/admin/env/nope".into(),
        "/admin/env/nope/logs".into(),
    ] {
        assert_eq!(d.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Changes through another environment's URL do not reach the record.
    let csrf = d.csrf.clone();
    let resp =
        d.b.post(
            &format!("{}/admin/env/prod/users/{user}/disable", d.app.base),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert!(
        !admin::get_user(&*d.app.store, "dev", &user)
            .await
            .unwrap()
            .disabled
    );
    let list = d.get("/admin/env/prod/users").await;
    assert!(!list.body.contains("alice@example.com"));
    // The switcher keeps the section.
    let switched = d.get("/admin/switch?env=prod&section=%2Fusers").await;
    assert_eq!(
        switched.location().as_deref(),
        Some("/admin/env/prod/users")
    );
}

#[tokio::test]
async fn environments_are_created_and_configured_with_the_adm04_rules() {
    let mut d = Dash::new().await;
    d.refused(
        "/admin/environments",
        &[("id", "Bad Name"), ("profile", "production")],
        "must be 1-32 characters",
    )
    .await;
    let page = d
        .change(
            "/admin/environments",
            &[("id", "prod"), ("profile", "production"), ("issuer", "")],
            "Environment prod created",
        )
        .await;
    assert!(
        page.body.contains(&format!("{}/prod", d.app.base)),
        "issuer shown"
    );
    assert!(
        page.body.contains(&format!(
            "{}/.well-known/oauth-authorization-server/prod",
            d.app.base
        )),
        "path-inserted metadata URL"
    );
    // ADM-04: production origins are https, or http on loopback only; the input is kept.
    let refused = d
        .refused(
            "/admin/env/prod/urls",
            &[
                ("allowed_callback_urls", ""),
                (
                    "allowed_origins",
                    "https://app.example.com\nhttp://inspector.test:6274",
                ),
            ],
            "production environments allow https origins, and http only on localhost",
        )
        .await;
    assert!(
        refused
            .body
            .contains("http://inspector.test:6274</textarea>"),
        "input kept"
    );
    d.refused(
        "/admin/env/prod/urls",
        &[
            ("allowed_callback_urls", "https://*.example.com/cb"),
            ("allowed_origins", ""),
        ],
        "Callback URL, line 1",
    )
    .await;
    d.change(
        "/admin/env/prod/urls",
        &[
            ("allowed_callback_urls", "https://app.example.com/callback"),
            (
                "allowed_origins",
                "https://app.example.com/\nhttps://app.example.com\nhttp://localhost:6274",
            ),
        ],
        "Saved 1 allowed callback URL and 2 allowed origins.",
    )
    .await;
    let env = admin::get_environment(&*d.app.store, "prod").await.unwrap();
    assert_eq!(
        env.settings.allowed_origins,
        ["https://app.example.com", "http://localhost:6274"]
    );
    assert_eq!(
        env.settings.allowed_callback_urls,
        ["https://app.example.com/callback"]
    );
    // Development allows http origins.
    d.change(
        "/admin/env/dev/urls",
        &[
            ("allowed_callback_urls", ""),
            ("allowed_origins", "http://inspector.test:6274"),
        ],
        "Saved 0 allowed callback URLs and 1 allowed origin.",
    )
    .await;

    // Settings: every field round-trips; bounds are the CLI's.
    let page = d.get("/admin/env/prod/settings").await;
    let mut fields: Vec<(String, String)> = [
        "code_ttl",
        "pending_ttl",
        "session_ttl",
        "id_token_ttl",
        "refresh_token_ttl",
        "max_unused_dynamic_clients",
        "cimd_min_cache_seconds",
        "cimd_max_cache_seconds",
    ]
    .iter()
    .map(|n| (n.to_string(), input_value(&page, n)))
    .collect();
    fields.extend(
        [
            ("profile", "production"),
            ("registration", "token"),
            ("cimd_enabled", "on"),
            ("cimd_trust", "allow_list"),
            ("cimd_allowed_domains", "example.com"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let with = |grace: &str| {
        let mut f = fields.clone();
        f.push(("refresh_grace".into(), grace.into()));
        f
    };
    let bad = with("100");
    d.refused(
        "/admin/env/prod/settings",
        &borrow(&bad),
        "refresh_grace must be between 0 and 60 seconds",
    )
    .await;
    let bad = with("soon");
    d.refused(
        "/admin/env/prod/settings",
        &borrow(&bad),
        "Enter a whole number",
    )
    .await;
    let good = with("45");
    d.change(
        "/admin/env/prod/settings",
        &borrow(&good),
        "Settings saved.",
    )
    .await;
    let env = admin::get_environment(&*d.app.store, "prod").await.unwrap();
    assert_eq!(
        (env.settings.refresh_grace, env.settings.registration),
        (45, gatehouse_store::RegistrationMode::Token)
    );
    assert_eq!(env.settings.cimd.allowed_domains, ["example.com"]);
    assert_eq!(
        env.settings.allowed_origins,
        ["https://app.example.com", "http://localhost:6274"],
        "other settings untouched"
    );

    // Keys: rotation publishes new keys that sign later.
    let before = d
        .app
        .store
        .list_keys("prod", d.app.now())
        .await
        .unwrap()
        .len();
    let page = d
        .change(
            "/admin/env/prod/keys/rotate",
            &[("activate_after", "600")],
            "New keys",
        )
        .await;
    assert!(page.body.contains("published, not yet signing"));
    assert_eq!(
        d.app
            .store
            .list_keys("prod", d.app.now())
            .await
            .unwrap()
            .len(),
        before + 2
    );
}

fn input_value(page: &Page, name: &str) -> String {
    let needle = format!("name=\"{name}\" type=\"number\" value=\"");
    let start = page
        .body
        .find(&needle)
        .unwrap_or_else(|| panic!("no field {name}"))
        + needle.len();
    page.body[start..].split('"').next().unwrap().to_owned()
}

fn borrow(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[tokio::test]
async fn mcp_servers_are_created_edited_connected_and_deleted() {
    let mut d = Dash::new().await;
    d.refused(
        "/admin/env/dev/servers",
        &[
            ("name", "Todo"),
            ("url", "not a url"),
            ("access_token_ttl", "3600"),
        ],
        "",
    )
    .await;
    let bad_scope = d
        .refused(
            "/admin/env/dev/servers",
            &[
                ("name", "Todo"),
                ("url", MCP),
                ("scope_name", "openid"),
                ("scope_desc", ""),
                ("access_token_ttl", "3600"),
            ],
            "OpenID Connect scope",
        )
        .await;
    assert!(
        bad_scope.body.contains(&format!("value=\"{MCP}\"")),
        "input kept"
    );
    let fields = [
        ("name", "Todo MCP"),
        ("url", MCP),
        ("scope_name", "todo:read"),
        ("scope_desc", "Read your todos"),
        ("scope_name", "todo:write"),
        ("scope_desc", ""),
        ("access_token_ttl", "900"),
        ("refresh_without_offline_access", "on"),
    ];
    let page = d
        .change(
            "/admin/env/dev/servers",
            &fields,
            "MCP server Todo MCP added.",
        )
        .await;
    let r = d
        .app
        .store
        .list_resources("dev")
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(
        (
            r.access_token_ttl,
            r.scopes[0].description.as_str(),
            r.refresh_without_offline_access
        ),
        (900, "Read your todos", true)
    );
    // The connect panel: the exact metadata, challenge, well-known URLs and snippets.
    for needle in [
        "Protected Resource Metadata (JSON)",
        &html(&format!("\"resource\": \"{MCP}\"")),
        &html(&format!(
            "\"authorization_servers\": [\n    \"{}\"",
            d.app.base
        )),
        "http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp",
        "http://127.0.0.1:3000/.well-known/oauth-protected-resource<",
        &html(
            "Bearer resource_metadata=\"http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp\", scope=\"todo:read todo:write\"",
        ),
        "gatehouse_guard",
        "gatehouse proxy",
        "FastMCP",
        "createRemoteJWKSet",
        "data-copy=\"prm-json\"",
    ] {
        assert!(
            page.body.contains(needle),
            "no {needle:?} in the connect panel"
        );
    }
    let path = format!("/admin/env/dev/servers/{}", r.id);
    d.refused(
        &path,
        &[
            ("name", "Todo MCP"),
            ("url", MCP),
            ("access_token_ttl", "5"),
        ],
        "between 60 and 86400",
    )
    .await;
    d.change(
        &path,
        &[
            ("name", "Todos"),
            ("url", MCP),
            ("scope_name", "todo:read"),
            ("scope_desc", "Read"),
            ("access_token_ttl", "3600"),
        ],
        "MCP server Todos saved.",
    )
    .await;
    let r2 = d
        .app
        .store
        .get_resource("dev", &r.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            r2.name.as_str(),
            r2.scopes.len(),
            r2.refresh_without_offline_access
        ),
        ("Todos", 1, false)
    );
    d.change(&format!("{path}/delete"), &[], "MCP server Todos deleted.")
        .await;
    assert!(d.app.store.list_resources("dev").await.unwrap().is_empty());
}

#[tokio::test]
async fn machine_clients_are_created_with_a_secret_shown_once_and_managed() {
    let mut d = Dash::new().await;
    d.app.add_resource("dev", MCP, "todo:read").await;
    d.refused(
        "/admin/env/dev/clients",
        &[
            ("name", "web"),
            ("type", "app"),
            ("redirect_uris", "ftp://x/cb"),
        ],
        "",
    )
    .await;
    let page = d
        .post(
            "/admin/env/dev/clients",
            &[
                ("name", "nightly"),
                ("type", "machine"),
                ("scope", "todo:read"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("shown only once"));
    let client_id = page
        .body
        .split("<pre id=\"client-id\"")
        .nth(1)
        .unwrap()
        .split('>')
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let secret = page
        .body
        .split("<pre id=\"client-secret\"")
        .nth(1)
        .unwrap()
        .split('>')
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("ghs_"));
    assert_eq!(grant(&d.app, &client_id, &secret).await, StatusCode::OK);
    let path = format!("/admin/env/dev/clients/{client_id}");
    let shown = d.get(&path).await;
    assert!(
        !shown.body.contains(&secret),
        "the secret is never shown again"
    );
    d.change(&format!("{path}/disable"), &[], "Client disabled")
        .await;
    assert_eq!(
        grant(&d.app, &client_id, &secret).await,
        StatusCode::UNAUTHORIZED
    );
    d.change(&format!("{path}/enable"), &[], "Client enabled.")
        .await;
    let rotated = d.post(&format!("{path}/rotate-secret"), &[]).await;
    assert!(rotated.body.contains("New client secret") && rotated.body.contains("ghs_"));
    d.change(&format!("{path}/delete"), &[], "deleted").await;
    assert_eq!(
        grant(&d.app, &client_id, &secret).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn grant(app: &TestApp, client_id: &str, secret: &str) -> StatusCode {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("resource", MCP),
    ];
    app.token("dev", &form).await.0
}

#[tokio::test]
async fn users_are_created_disabled_and_reset_and_consents_revoked() {
    let mut d = Dash::new().await;
    d.app.add_resource("dev", MCP, "todo:read").await;
    d.refused(
        "/admin/env/dev/users",
        &[("email", "alice@example.com"), ("password", "short")],
        "at least 8 characters",
    )
    .await;
    d.refused(
        "/admin/env/dev/users",
        &[("email", "not-an-email"), ("password", PASSWORD)],
        "is not an email address",
    )
    .await;
    let page = d
        .change(
            "/admin/env/dev/users",
            &[
                ("email", "alice@example.com"),
                ("name", "Alice"),
                ("password", PASSWORD),
            ],
            "User alice@example.com created.",
        )
        .await;
    let user = d
        .app
        .store
        .get_user_by_email("dev", "alice@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(page.body.contains(&user.id));
    d.refused(
        "/admin/env/dev/users",
        &[("email", "alice@example.com"), ("password", PASSWORD)],
        "already exists",
    )
    .await;

    // A real authorization leaves a session, a consent and a refresh token.
    let client = d.app.register_public("dev", CB).await;
    let pkce = pkce_pair();
    let req = AuthRequest::new(&client, CB, &pkce)
        .scope("todo:read offline_access")
        .resource(MCP);
    let (_, code) = d.app.code_flow("dev", &req).await;
    let (status, _, tokens) = d
        .app
        .token(
            "dev",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("client_id", &client),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let path = format!("/admin/env/dev/users/{}", user.id);
    let page = d.get(&path).await;
    assert!(
        page.body.contains("Test MCP Client") && page.body.contains("End all sessions"),
        "{}",
        page.body
    );
    d.refused(
        &format!("{path}/password"),
        &[("password", "short")],
        "at least 8 characters",
    )
    .await;
    d.change(
        &format!("{path}/end-sessions"),
        &[],
        "1 session of alice@example.com ended.",
    )
    .await;
    // The consent is listed on the client's page too; revoking it there stops the refresh token.
    let row = admin::row_id(&d.app.master, "dev", &client).unwrap();
    let client_page = d.get(&format!("/admin/env/dev/clients/{row}")).await;
    assert!(
        client_page.body.contains("alice@example.com"),
        "{}",
        client_page.body
    );
    let resource = d.app.store.list_resources("dev").await.unwrap()[0]
        .id
        .clone();
    let back = format!("/admin/env/dev/clients/{row}");
    d.change(
        "/admin/env/dev/consents/revoke",
        &[
            ("user_id", &user.id),
            ("client_id", &client),
            ("resource_id", &resource),
            ("back", &back),
        ],
        "Consent revoked",
    )
    .await;
    let (status, _, body) = d
        .app
        .token(
            "dev",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", &client),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    d.change(
        &format!("{path}/password"),
        &[("password", "a new password")],
        "New password set",
    )
    .await;
    d.change(
        &format!("{path}/disable"),
        &[],
        "alice@example.com disabled",
    )
    .await;
    assert!(
        admin::get_user(&*d.app.store, "dev", &user.id)
            .await
            .unwrap()
            .disabled
    );
    d.change(&format!("{path}/enable"), &[], "alice@example.com enabled.")
        .await;
}

#[tokio::test]
async fn the_log_explains_failures_traces_attempts_and_keeps_a_retention() {
    let mut d = Dash::new().await;
    d.app.add_resource("dev", MCP, "todo:read").await;
    let client = d.app.register_public("dev", CB).await;
    let pkce = pkce_pair();
    let sent = "http://127.0.0.1:8765/other";
    let req = AuthRequest::new(&client, sent, &pkce).resource(MCP);
    let resp = d.app.http.get(req.url(&d.app.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let page = d.get("/admin/env/dev/logs?outcome=failure").await;
    assert_eq!(page.status, StatusCode::OK);
    for needle in [
        "redirect_uri mismatch",
        &html(&format!("received \"{sent}\"; registered: {CB}")),
        "What to do:",
        "must match a registered one exactly",
    ] {
        assert!(page.body.contains(needle), "no {needle:?} in {}", page.body);
    }
    let trace = page
        .body
        .split("href=\"/admin/env/dev/logs/trace/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let t = d.get(&format!("/admin/env/dev/logs/trace/{trace}")).await;
    assert!(
        t.body.contains("at step <code>authorize</code>")
            && t.body.contains("redirect_uri mismatch"),
        "{}",
        t.body
    );
    // Filters: by error code, and by a user that matches nothing.
    assert!(
        d.get("/admin/env/dev/logs?error=invalid_request")
            .await
            .body
            .contains("1 event, 1 failed.")
    );
    assert!(
        d.get("/admin/env/dev/logs?user=nobody%40example.com")
            .await
            .body
            .contains("No events match")
    );
    // The export link is the admin API's, which accepts the dashboard session.
    let export = page
        .body
        .split("href=\"/admin/api/v1/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let nd = d.get(&format!("/admin/api/v1/{export}")).await;
    assert_eq!(nd.headers[header::CONTENT_TYPE], "application/x-ndjson");
    assert!(
        nd.body
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
            && nd.body.contains("redirect_uri mismatch")
    );
    d.refused(
        "/admin/env/dev/logs/retention",
        &[("log_retention_days", "0")],
        "log_retention_days must be between 1 and 3650",
    )
    .await;
    d.change(
        "/admin/env/dev/logs/retention",
        &[("log_retention_days", "7")],
        "kept for 7 days",
    )
    .await;
    assert_eq!(
        admin::get_environment(&*d.app.store, "dev")
            .await
            .unwrap()
            .settings
            .log_retention_days,
        7
    );
}

#[tokio::test]
async fn admin_api_keys_are_shown_once_and_revoked() {
    let mut d = Dash::new().await;
    d.refused(
        "/admin/api-keys",
        &[("name", " "), ("environment", "")],
        "needs a name",
    )
    .await;
    d.refused(
        "/admin/api-keys",
        &[("name", "ci"), ("environment", "nope")],
        "does not exist",
    )
    .await;
    let page = d
        .post("/admin/api-keys", &[("name", "ci"), ("environment", "")])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let key = page
        .body
        .split("<pre id=\"admin-api-key\"")
        .nth(1)
        .unwrap()
        .split('>')
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(key.starts_with("gha_"));
    assert_eq!(call_api(&d.app, &key).await, StatusCode::OK);
    let list = d.get("/admin/api-keys").await;
    assert!(list.body.contains("/admin/api/v1/openapi.json") && !list.body.contains(&key));
    let id = d.app.store.list_admin_keys().await.unwrap()[0].id.clone();
    d.change(
        &format!("/admin/api-keys/{id}/revoke"),
        &[],
        "API key revoked.",
    )
    .await;
    assert_eq!(call_api(&d.app, &key).await, StatusCode::UNAUTHORIZED);
}

async fn call_api(app: &TestApp, key: &str) -> StatusCode {
    app.http
        .get(format!("{}/admin/api/v1/environments", app.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
}
