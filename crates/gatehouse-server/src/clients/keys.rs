//! Public keys of clients that authenticate with `private_key_jwt` (RFC 7523): inline `jwks`
//! or a `jwks_uri`, fetched through the SSRF-safe fetcher and cached briefly.

use std::collections::HashMap;
use std::sync::Mutex;

use gatehouse_oauth::jose::VerifyingKey;

use super::Client;
use crate::env::EnvHandle;
use crate::fetch;
use crate::state::AppState;

/// How long a fetched `jwks_uri` is trusted before it is fetched again.
const JWKS_URI_TTL: i64 = 300;

/// Fetched client key sets.
#[derive(Default)]
pub struct Cache {
    sets: Mutex<HashMap<String, (Vec<VerifyingKey>, i64)>>,
}

fn parse_set(set: &serde_json::Value) -> Result<Vec<VerifyingKey>, String> {
    let keys = set
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("the client's key set has no \"keys\" array")?;
    let parsed: Vec<VerifyingKey> = keys
        .iter()
        .filter_map(|k| VerifyingKey::from_client_jwk(k).ok())
        .collect();
    if parsed.is_empty() {
        return Err("the client's key set has no usable ES256 or RS256 signing key".into());
    }
    Ok(parsed)
}

/// The client's verification keys.
pub async fn verifying_keys(
    state: &AppState,
    env: &EnvHandle,
    client: &Client,
) -> Result<Vec<VerifyingKey>, String> {
    let m = &client.record.metadata;
    if let Some(set) = &m.jwks {
        return parse_set(set);
    }
    let uri = m
        .jwks_uri
        .as_deref()
        .ok_or("the client registered no keys (jwks or jwks_uri)")?;
    let key = format!("{}\u{0}{uri}", env.id());
    let now = state.now();
    if let Some((keys, until)) = state
        .clients
        .keys
        .sets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        && *until > now
    {
        return Ok(keys.clone());
    }
    let url = url::Url::parse(uri).map_err(|_| format!("jwks_uri {uri:?} is not a URL"))?;
    let policy = super::cimd::fetch_policy(&env.record.settings.cimd)?;
    let fetched = fetch::fetch(&url, &policy)
        .await
        .map_err(|e| format!("fetching jwks_uri {uri}: {e}"))?;
    let set: serde_json::Value = serde_json::from_slice(&fetched.body)
        .map_err(|e| format!("jwks_uri {uri} is not JSON: {e}"))?;
    let keys = parse_set(&set)?;
    let mut sets = state
        .clients
        .keys
        .sets
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if sets.len() > 10_000 {
        sets.clear();
    }
    sets.insert(key, (keys.clone(), now + JWKS_URI_TTL));
    Ok(keys)
}

/// The caches of client resolution, held in the application state.
#[derive(Default)]
pub struct Caches {
    /// Metadata documents.
    pub cimd: super::cimd::Cache,
    /// Client key sets.
    pub keys: Cache,
}
