//! Resolving URL client_ids: trust policy, a bounded cache, the SSRF-safe fetch and the
//! document rules (draft-ietf-oauth-client-id-metadata-document §4; REG-30..REG-35).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gatehouse_oauth::OAuthError;
use gatehouse_oauth::client::ClientMetadata;
use gatehouse_store::{CimdSettings, CimdTrust, ClientKind, ClientRecord};

use super::{Client, Unknown, known};
use crate::audit::Ev;
use crate::env::EnvHandle;
use crate::fetch::{self, FetchPolicy};
use crate::respond::internal;
use crate::state::AppState;

/// What went wrong with a metadata document URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The environment's policy does not accept this URL.
    NotAllowed,
    /// The URL or the document breaks the rules.
    Invalid,
    /// The document could not be fetched.
    Fetch,
}

impl FailureKind {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAllowed => "not allowed",
            Self::Invalid => "invalid",
            Self::Fetch => "fetch failed",
        }
    }
}

/// Why a metadata document URL could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The client_id URL.
    pub url: String,
    /// The class of failure.
    pub kind: FailureKind,
    /// What exactly.
    pub reason: String,
}

struct Cached {
    metadata: ClientMetadata,
    expires_at: i64,
}

/// Fetched documents, per environment and URL. Failures are never cached (draft §4.4).
#[derive(Default)]
pub struct Cache {
    docs: Mutex<HashMap<String, Cached>>,
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Cache {
    fn get(&self, key: &str, now: i64) -> Option<ClientMetadata> {
        let docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        docs.get(key)
            .filter(|c| c.expires_at > now)
            .map(|c| c.metadata.clone())
    }

    fn put(&self, key: String, metadata: ClientMetadata, expires_at: i64) {
        let mut docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        if docs.len() > 10_000 {
            docs.clear();
        }
        docs.insert(
            key,
            Cached {
                metadata,
                expires_at,
            },
        );
    }

    /// One fetch at a time per URL: concurrent requests wait for it instead of fetching too.
    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut fetching = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        if fetching.len() > 10_000 {
            fetching.retain(|_, m| Arc::strong_count(m) > 1);
        }
        fetching.entry(key.to_owned()).or_default().clone()
    }
}

/// The fetch policy of an environment (also used for `jwks_uri`).
pub fn fetch_policy(settings: &CimdSettings) -> Result<FetchPolicy, String> {
    let extra_roots_pem = match &settings.fetch_ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| format!("cannot read the fetch CA file {path}: {e}"))?,
        ),
        None => None,
    };
    Ok(FetchPolicy {
        allow_hosts: settings.fetch_allow_hosts.clone(),
        extra_roots_pem,
        ..FetchPolicy::default()
    })
}

fn check_trust(settings: &CimdSettings, url: &url::Url) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match settings.trust {
        CimdTrust::AnyHttps => Ok(()),
        CimdTrust::AllowList => {
            let allowed = settings.allowed_domains.iter().any(|d| {
                let d = d.trim().trim_start_matches('.').to_ascii_lowercase();
                host == d || host.ends_with(&format!(".{d}"))
            });
            if allowed {
                Ok(())
            } else {
                Err(format!(
                    "{host} is not on this environment's list of allowed client domains"
                ))
            }
        }
        CimdTrust::KnownClients => match known::by_cimd_url(url.as_str()) {
            Some(_) => Ok(()),
            None => Err(
                "this environment accepts only the metadata documents of known MCP clients"
                    .to_owned(),
            ),
        },
    }
}

/// Draft §4.4: respect HTTP caching within the environment's bounds.
fn cache_seconds(cache_control: Option<&str>, settings: &CimdSettings) -> i64 {
    let (min, max) = (
        settings.min_cache_seconds.max(0),
        settings.max_cache_seconds.max(settings.min_cache_seconds),
    );
    let Some(cc) = cache_control else {
        return 3600.clamp(min, max);
    };
    let mut max_age = None;
    for directive in cc.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" {
            return min;
        }
        for name in ["s-maxage=", "max-age="] {
            if let Some(v) = directive
                .strip_prefix(name)
                .and_then(|v| v.trim_matches('"').parse::<i64>().ok())
            {
                // s-maxage applies to shared caches like this one and wins over max-age.
                if name == "s-maxage=" || max_age.is_none() {
                    max_age = Some(v);
                }
            }
        }
    }
    max_age.unwrap_or(3600).clamp(min, max)
}

/// Resolves a URL client_id.
pub async fn resolve(
    state: &AppState,
    env: &EnvHandle,
    client_id: &str,
) -> Result<Result<Client, Unknown>, OAuthError> {
    let fail = |kind, reason: String| {
        Ok(Err(Unknown::Metadata(Failure {
            url: client_id.to_owned(),
            kind,
            reason,
        })))
    };
    let settings = &env.record.settings.cimd;
    if !settings.enabled {
        return fail(
            FailureKind::NotAllowed,
            "client ID metadata documents are disabled in this environment".into(),
        );
    }
    // Everything about the URL is checked before any network access (attack case 43).
    let url = match gatehouse_oauth::cimd::check_url(client_id) {
        Ok(u) => u,
        Err(reason) => return fail(FailureKind::Invalid, reason),
    };
    if let Err(reason) = check_trust(settings, &url) {
        return fail(FailureKind::NotAllowed, reason);
    }
    let row = state
        .store
        .get_client(env.id(), client_id)
        .await
        .map_err(|e| internal("client lookup", e))?;
    if row.as_ref().is_some_and(|r| r.disabled) {
        return Ok(Err(Unknown::Disabled));
    }
    let metadata = match cached_or_fetch(state, env, &url).await {
        Ok(m) => m,
        Err(f) => return Ok(Err(Unknown::Metadata(f))),
    };
    let record = ClientRecord {
        env_id: env.id().to_owned(),
        client_id: client_id.to_owned(),
        kind: ClientKind::Cimd,
        metadata,
        created_at: row.as_ref().map_or(state.now(), |r| r.created_at),
        disabled: false,
        last_used_at: row.as_ref().and_then(|r| r.last_used_at),
        registrations: 1,
    };
    let verified = known::by_cimd_url(client_id);
    Ok(Ok(Client::new(
        record,
        None,
        verified,
        super::Secrets::None,
    )))
}

async fn cached_or_fetch(
    state: &AppState,
    env: &EnvHandle,
    url: &url::Url,
) -> Result<ClientMetadata, Failure> {
    let key = format!("{}\u{0}{url}", env.id());
    let cache = &state.clients.cimd;
    if let Some(m) = cache.get(&key, state.now()) {
        return Ok(m);
    }
    let lock = cache.lock_for(&key);
    let _guard = lock.lock().await;
    if let Some(m) = cache.get(&key, state.now()) {
        return Ok(m);
    }
    let result = fetch_and_validate(state, env, url).await;
    let mut ev = Ev::new(
        env.id(),
        &crate::crypto::new_correlation_id("cimd_"),
        "cimd",
        state.now_ms(),
    )
    .client(Some(url.as_str()));
    match &result {
        Ok((metadata, ttl)) => {
            cache.put(key, metadata.clone(), state.now() + ttl);
            ev.push("cache_seconds", *ttl);
            let row = ClientRecord {
                env_id: env.id().to_owned(),
                client_id: url.to_string(),
                kind: ClientKind::Cimd,
                metadata: metadata.clone(),
                created_at: state.now(),
                disabled: false,
                last_used_at: None,
                registrations: 1,
            };
            if let Err(e) = state.store.save_client_metadata(&row).await {
                tracing::warn!(error = %e, "could not store client metadata document");
            }
        }
        Err(f) => {
            ev = ev.failed_with(
                &format!("cimd_{}", f.kind.as_str().replace(' ', "_")),
                f.reason.clone(),
            )
        }
    }
    state.audit.emit(ev.build()).await;
    result.map(|(m, _)| m)
}

async fn fetch_and_validate(
    state: &AppState,
    env: &EnvHandle,
    url: &url::Url,
) -> Result<(ClientMetadata, i64), Failure> {
    let fail = |kind, reason: String| Failure {
        url: url.to_string(),
        kind,
        reason,
    };
    let settings = &env.record.settings.cimd;
    let host = url.host_str().unwrap_or_default();
    if let Err(retry) = state.limiter.check(
        &format!("cimd-host:{host}"),
        state.limits.cimd_fetch_per_host,
        state.now_ms(),
    ) {
        return Err(fail(
            FailureKind::Fetch,
            format!("too many metadata document fetches from {host}; retry in {retry} s"),
        ));
    }
    let policy = fetch_policy(settings).map_err(|r| fail(FailureKind::Fetch, r))?;
    let fetched = fetch::fetch(url, &policy)
        .await
        .map_err(|e| fail(FailureKind::Fetch, e.to_string()))?;
    let metadata = gatehouse_oauth::cimd::validate_document(
        &fetched.body,
        url.as_str(),
        env.redirect_policy(),
    )
    .map_err(|r| fail(FailureKind::Invalid, r))?;
    Ok((
        metadata,
        cache_seconds(fetched.cache_control.as_deref(), settings),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_lifetime_respects_headers_within_bounds() {
        let s = CimdSettings {
            min_cache_seconds: 60,
            max_cache_seconds: 86_400,
            ..Default::default()
        };
        let cases = [
            (None, 3600),
            (Some("max-age=300"), 300),
            (Some("public, max-age=5"), 60),
            (Some("max-age=999999"), 86_400),
            (Some("max-age=300, s-maxage=900"), 900),
            (Some("no-store"), 60),
            (Some("no-cache, max-age=600"), 60),
            (Some("private"), 3600),
        ];
        for (cc, expected) in cases {
            assert_eq!(cache_seconds(cc, &s), expected, "{cc:?}");
        }
    }

    #[test]
    fn trust_policies() {
        let url = |u: &str| url::Url::parse(u).unwrap();
        let any = CimdSettings::default();
        assert!(check_trust(&any, &url("https://anything.example/c.json")).is_ok());
        let list = CimdSettings {
            trust: CimdTrust::AllowList,
            allowed_domains: vec!["example.com".into()],
            ..Default::default()
        };
        assert!(check_trust(&list, &url("https://example.com/c.json")).is_ok());
        assert!(check_trust(&list, &url("https://app.example.com/c.json")).is_ok());
        assert!(check_trust(&list, &url("https://badexample.com/c.json")).is_err());
        let known = CimdSettings {
            trust: CimdTrust::KnownClients,
            ..Default::default()
        };
        assert!(
            check_trust(
                &known,
                &url("https://vscode.dev/oauth/client-metadata.json")
            )
            .is_ok()
        );
        assert!(
            check_trust(
                &known,
                &url("https://vscode.dev.evil.example/oauth/client-metadata.json")
            )
            .is_err()
        );
    }
}
