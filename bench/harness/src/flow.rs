//! A scripted browser and OAuth client for the authorization-code scenarios: cookies, the
//! login and consent forms of whichever server it talks to (Gatehouse's, oidc-provider's dev
//! interactions, or none for servers that approve at once), PKCE S256 per flow, the code
//! exchange and dynamic client registration.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use gatehouse_oauth::secret::b64url;
use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::client::{Client, Reply, basic};

/// What one authorization-code flow needs to know.
#[derive(Clone, Debug)]
pub(crate) struct FlowConfig {
    pub(crate) authorize_url: String,
    pub(crate) token_url: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<String>,
    pub(crate) redirect_uri: String,
    pub(crate) scope: String,
    pub(crate) resource: Option<String>,
    pub(crate) user: String,
    pub(crate) password: String,
}

/// Cookies by name (one host, so domain and path are ignored).
#[derive(Clone, Debug, Default)]
pub(crate) struct Jar(BTreeMap<String, String>);

impl Jar {
    pub(crate) fn absorb(&mut self, reply: &Reply) {
        for v in reply.headers.get_all(http::header::SET_COOKIE) {
            let Ok(text) = v.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                let expired = text.to_ascii_lowercase().contains("max-age=0")
                    || text
                        .to_ascii_lowercase()
                        .contains("expires=thu, 01 jan 1970");
                if expired || value.is_empty() {
                    self.0.remove(name.trim());
                } else {
                    self.0
                        .insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
        }
    }

    pub(crate) fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A PKCE verifier and its S256 challenge.
pub(crate) fn pkce(rng: &SystemRandom) -> Result<(String, String)> {
    let mut raw = [0u8; 32];
    rng.fill(&mut raw).map_err(|_| anyhow!("no randomness"))?;
    let verifier = b64url(&raw);
    let challenge = b64url(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref());
    Ok((verifier, challenge))
}

fn random_state(rng: &SystemRandom) -> Result<String> {
    let mut raw = [0u8; 12];
    rng.fill(&mut raw).map_err(|_| anyhow!("no randomness"))?;
    Ok(b64url(&raw))
}

/// The authorization request URL of one flow.
pub(crate) fn authorize_request(cfg: &FlowConfig, challenge: &str, state: &str) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", &cfg.client_id)
        .append_pair("redirect_uri", &cfg.redirect_uri)
        .append_pair("scope", &cfg.scope)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", state);
    if let Some(r) = &cfg.resource {
        q.append_pair("resource", r);
    }
    format!("{}?{}", cfg.authorize_url, q.finish())
}

/// The `code` of a redirect to the client, if `location` is one.
fn code_of(cfg: &FlowConfig, location: &str) -> Option<Result<String>> {
    if !location.starts_with(&cfg.redirect_uri) {
        return None;
    }
    let u = match url::Url::parse(location) {
        Ok(u) => u,
        Err(e) => return Some(Err(e.into())),
    };
    let pairs: BTreeMap<String, String> = u.query_pairs().into_owned().collect();
    Some(match pairs.get("code") {
        Some(c) => Ok(c.clone()),
        None => Err(anyhow!(
            "redirected to the client without a code: {}",
            pairs
                .get("error_description")
                .or(pairs.get("error"))
                .map_or(location, |v| v)
        )),
    })
}

fn resolve(base: &str, location: &str) -> Result<String> {
    Ok(url::Url::parse(base)?.join(location)?.to_string())
}

/// Runs one authorization request through login and consent as a browser would (following
/// redirects, submitting the first form of each page with the user's credentials and the
/// first named button), until the redirect to the client. Returns the code and verifier.
pub(crate) async fn interactive_code(
    client: &mut Client,
    cfg: &FlowConfig,
    jar: &mut Jar,
    rng: &SystemRandom,
) -> Result<(String, String)> {
    let (verifier, challenge) = pkce(rng)?;
    let mut url = authorize_request(cfg, &challenge, &random_state(rng)?);
    let mut form: Option<Vec<(String, String)>> = None;
    for _ in 0..16 {
        let cookie = jar.header();
        let reply = match form.take() {
            None => client.get(&url, Some(&cookie)).await?,
            Some(fields) => {
                let pairs: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let extra = [(COOKIE, HeaderValue::from_str(&cookie)?)];
                client.post_form(&url, &pairs, &extra).await?
            }
        };
        jar.absorb(&reply);
        if reply.status.is_redirection() {
            let loc = reply
                .header("location")
                .context("redirect without Location")?;
            let next = resolve(&url, loc)?;
            if let Some(code) = code_of(cfg, &next) {
                return Ok((code?, verifier));
            }
            url = next;
            continue;
        }
        if reply.status.is_success() {
            let html = reply.text();
            let page = Form::first(&html)
                .with_context(|| format!("no form on the page at {url}: {}", snippet(&html)))?;
            url = resolve(&url, page.action.as_deref().unwrap_or(&url))?;
            form = Some(page.fill(&cfg.user, &cfg.password));
            continue;
        }
        bail!("{} at {url}: {}", reply.status, snippet(&reply.text()));
    }
    bail!("no code after 16 steps")
}

/// One authorization request that must be answered at once with a code (an existing
/// session and a remembered consent). Returns the code and verifier.
pub(crate) async fn silent_code(
    client: &mut Client,
    cfg: &FlowConfig,
    cookie: &str,
    rng: &SystemRandom,
) -> Result<(String, String)> {
    let (verifier, challenge) = pkce(rng)?;
    let url = authorize_request(cfg, &challenge, &random_state(rng)?);
    let reply = client.get(&url, Some(cookie)).await?;
    if !reply.status.is_redirection() {
        bail!(
            "authorize answered {} instead of a redirect: {}",
            reply.status,
            snippet(&reply.text())
        );
    }
    let loc = reply
        .header("location")
        .context("redirect without Location")?;
    let next = resolve(&url, loc)?;
    match code_of(cfg, &next) {
        Some(code) => Ok((code?, verifier)),
        None => {
            bail!("authorize asked for interaction ({next}): session or consent not remembered")
        }
    }
}

/// The token request of a code; returns the token response.
pub(crate) async fn exchange(
    client: &mut Client,
    cfg: &FlowConfig,
    code: &str,
    verifier: &str,
) -> Result<Value> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", cfg.redirect_uri.as_str()),
        ("code_verifier", verifier),
    ];
    if let Some(r) = &cfg.resource {
        form.push(("resource", r));
    }
    let mut extra: Vec<(HeaderName, HeaderValue)> = Vec::new();
    match &cfg.client_secret {
        Some(secret) => extra.push((AUTHORIZATION, basic(&cfg.client_id, secret)?)),
        None => form.push(("client_id", cfg.client_id.as_str())),
    }
    let reply = client.post_form(&cfg.token_url, &form, &extra).await?;
    token_json(&reply)
}

/// The JSON of a successful token response.
pub(crate) fn token_json(reply: &Reply) -> Result<Value> {
    if !reply.status.is_success() {
        bail!(
            "token endpoint: {} {}",
            reply.status,
            snippet(&reply.text())
        );
    }
    let v: Value = serde_json::from_slice(&reply.body)?;
    if v.get("access_token").and_then(Value::as_str).is_none() {
        bail!(
            "token response without access_token: {}",
            snippet(&reply.text())
        );
    }
    Ok(v)
}

/// Registers a public client (RFC 7591) and returns its client_id.
pub(crate) async fn register(
    client: &mut Client,
    url: &str,
    redirect_uri: &str,
    scope: &str,
    application_type: &str,
) -> Result<String> {
    let body = json!({
        "client_name": "gatehouse-bench",
        "redirect_uris": [redirect_uri],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "application_type": application_type,
        "scope": scope,
    });
    let reply = client.post_json(url, &body, &[]).await?;
    if !reply.status.is_success() {
        bail!("registration: {} {}", reply.status, snippet(&reply.text()));
    }
    let v: Value = serde_json::from_slice(&reply.body)?;
    v.get("client_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("registration response without client_id")
}

/// The start of a text, for error messages.
pub(crate) fn snippet(text: &str) -> String {
    let t: String = text.chars().take(300).collect();
    t.replace('\n', " ")
}

/// The first form of a page.
struct Form {
    action: Option<String>,
    fields: Vec<(String, String, String)>,
    buttons: Vec<(String, String)>,
}

impl Form {
    fn first(html: &str) -> Option<Self> {
        let start = html.find("<form")?;
        let end = html[start..]
            .find("</form>")
            .map_or(html.len(), |e| start + e);
        let body = &html[start..end];
        let tag_end = body.find('>')?;
        let action = attr(&body[..tag_end], "action");
        let mut fields = Vec::new();
        let mut buttons = Vec::new();
        let mut rest = &body[tag_end..];
        while let Some(i) = rest.find('<') {
            rest = &rest[i + 1..];
            let close = rest.find('>').unwrap_or(rest.len());
            let tag = &rest[..close];
            if let Some(t) = tag.strip_prefix("input") {
                if let Some(name) = attr(t, "name") {
                    let kind = attr(t, "type").unwrap_or_else(|| "text".into());
                    fields.push((name, kind, attr(t, "value").unwrap_or_default()));
                }
            } else if let Some(t) = tag.strip_prefix("button")
                && let Some(name) = attr(t, "name")
            {
                buttons.push((name, attr(t, "value").unwrap_or_default()));
            }
        }
        Some(Self {
            action,
            fields,
            buttons,
        })
    }

    fn fill(self, user: &str, password: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .fields
            .into_iter()
            .map(|(name, kind, value)| {
                let v = match (name.as_str(), kind.as_str()) {
                    (_, "password") => password.to_owned(),
                    ("email" | "login" | "username", _) => user.to_owned(),
                    _ => value,
                };
                (name, v)
            })
            .collect();
        if let Some(b) = self.buttons.into_iter().next() {
            out.push(b);
        }
        out
    }
}

/// An attribute of a tag (double or single quotes), with the common entities decoded.
fn attr(tag: &str, name: &str) -> Option<String> {
    let mut search = tag;
    loop {
        let i = search.find(name)?;
        let before_ok = i == 0 || search.as_bytes()[i - 1].is_ascii_whitespace();
        let after = &search[i + name.len()..];
        if before_ok && let Some(rest) = after.trim_start().strip_prefix('=') {
            let rest = rest.trim_start();
            let quote = rest.chars().next()?;
            let value = if quote == '"' || quote == '\'' {
                let inner = &rest[1..];
                &inner[..inner.find(quote)?]
            } else {
                rest.split([' ', '>']).next()?
            };
            return Some(
                value
                    .replace("&quot;", "\"")
                    .replace("&#39;", "'")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&"),
            );
        }
        search = after;
    }
}

/// `gatehouse-bench token`: one authorization-code flow (registering a public client first
/// when asked), printing the access token.
#[derive(Debug, clap::Args)]
pub(crate) struct TokenArgs {
    #[arg(long)]
    authorize_url: String,
    #[arg(long)]
    token_url: String,
    #[arg(long)]
    register_url: Option<String>,
    #[arg(long)]
    client_id: Option<String>,
    #[arg(long)]
    client_secret: Option<String>,
    #[arg(long, default_value = "native")]
    app_type: String,
    #[arg(long, default_value = "http://127.0.0.1:9999/cb")]
    redirect_uri: String,
    #[arg(long, default_value = "mcp:tools")]
    scope: String,
    #[arg(long)]
    resource: Option<String>,
    #[arg(long, default_value = "alice@example.com")]
    user: String,
    #[arg(long, default_value = "bench-password-1")]
    password: String,
}

pub(crate) fn token(a: &TokenArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client_id = match (&a.register_url, &a.client_id) {
            (Some(reg), _) => {
                let mut rc = Client::new(crate::client::Origin::of(reg)?);
                register(&mut rc, reg, &a.redirect_uri, &a.scope, &a.app_type).await?
            }
            (None, Some(id)) => id.clone(),
            (None, None) => bail!("--client-id or --register-url is required"),
        };
        let cfg = FlowConfig {
            authorize_url: a.authorize_url.clone(),
            token_url: a.token_url.clone(),
            client_id,
            client_secret: a.client_secret.clone(),
            redirect_uri: a.redirect_uri.clone(),
            scope: a.scope.clone(),
            resource: a.resource.clone(),
            user: a.user.clone(),
            password: a.password.clone(),
        };
        let mut c = Client::new(crate::client::Origin::of(&cfg.authorize_url)?);
        let (code, verifier) =
            interactive_code(&mut c, &cfg, &mut Jar::default(), &SystemRandom::new()).await?;
        let mut tc = Client::new(crate::client::Origin::of(&cfg.token_url)?);
        let v = exchange(&mut tc, &cfg, &code, &verifier).await?;
        println!("{}", v["access_token"].as_str().unwrap_or_default());
        Ok(())
    })
}
