//! The authorization server's metadata (RFC 8414): where its JWKS lives, and the document
//! the guard can mirror at the MCP origin for 2025-03-26 clients. Fetched lazily, cached
//! for a TTL, fetched by one task at a time (concurrent callers share the result).

use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use serde::Deserialize;

use crate::clock::Clock;
use crate::verify::{FetchError, Fetcher};

/// After a failed fetch, callers get the failure (or the stale document) for this long.
const FAILURE_BACKOFF_SECS: i64 = 5;

/// A fetched metadata document.
#[derive(Debug)]
pub(crate) struct AsMetadata {
    /// The document as served by the authorization server.
    pub(crate) raw: Bytes,
    /// `jwks_uri`.
    pub(crate) jwks_uri: Option<String>,
}

#[derive(Deserialize)]
struct Fields {
    issuer: String,
    jwks_uri: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct State {
    doc: Option<Arc<AsMetadata>>,
    fetched_at: i64,
    attempts: u64,
    failed_at: Option<i64>,
    error: Option<FetchError>,
}

/// The metadata of one issuer.
pub(crate) struct Discovery {
    issuer: String,
    fetcher: Fetcher,
    clock: Arc<dyn Clock>,
    ttl: i64,
    state: RwLock<State>,
    gate: tokio::sync::Mutex<()>,
}

/// RFC 8414 §3.1: `/.well-known/oauth-authorization-server` inserted between the host and
/// the issuer's path; for an issuer with a path, also the appended form some servers use.
pub(crate) fn metadata_urls(issuer: &str) -> Vec<String> {
    const WK: &str = "/.well-known/oauth-authorization-server";
    let Ok(url) = url::Url::parse(issuer) else {
        return vec![format!("{issuer}{WK}")];
    };
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    if path.is_empty() {
        vec![format!("{origin}{WK}")]
    } else {
        vec![format!("{origin}{WK}{path}"), format!("{origin}{path}{WK}")]
    }
}

impl Discovery {
    pub(crate) fn new(issuer: &str, fetcher: Fetcher, clock: Arc<dyn Clock>, ttl: i64) -> Self {
        Self {
            issuer: issuer.to_owned(),
            fetcher,
            clock,
            ttl,
            state: RwLock::default(),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    fn snapshot(&self) -> State {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The metadata: cached if younger than the TTL, else fetched (single-flight). A failed
    /// refresh serves the stale document if there is one.
    pub(crate) async fn get(&self) -> Result<Arc<AsMetadata>, FetchError> {
        let now = self.clock.now();
        let seen = self.snapshot();
        if let Some(doc) = seen
            .doc
            .as_ref()
            .filter(|_| now - seen.fetched_at < self.ttl)
        {
            return Ok(doc.clone());
        }
        let _gate = self.gate.lock().await;
        let cur = self.snapshot();
        let backing_off = cur
            .failed_at
            .is_some_and(|t| now - t < FAILURE_BACKOFF_SECS);
        if cur.attempts != seen.attempts || backing_off {
            return shared(&cur);
        }
        let result = self.fetch().await;
        let mut st = self.state.write().unwrap_or_else(PoisonError::into_inner);
        st.attempts += 1;
        match result {
            Ok(doc) => {
                st.doc = Some(Arc::new(doc));
                st.fetched_at = now;
                st.failed_at = None;
                st.error = None;
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "authorization server metadata fetch failed");
                st.failed_at = Some(now);
                st.error = Some(e);
            }
        }
        shared(&st)
    }

    async fn fetch(&self) -> Result<AsMetadata, FetchError> {
        let mut last = None;
        for url in metadata_urls(&self.issuer) {
            match self.fetch_one(&url).await {
                Ok(doc) => return Ok(doc),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| FetchError::new(&self.issuer, "no metadata URL")))
    }

    async fn fetch_one(&self, url: &str) -> Result<AsMetadata, FetchError> {
        let raw = self.fetcher.get(url).await?;
        let fields: Fields = serde_json::from_slice(&raw)
            .map_err(|e| FetchError::new(url, format!("not a metadata document: {e}")))?;
        // RFC 8414 §3.3: the issuer in the document MUST be identical to the one used.
        if fields.issuer != self.issuer {
            return Err(FetchError::new(
                url,
                format!(
                    "issuer {:?} differs from the configured {:?}",
                    fields.issuer, self.issuer
                ),
            ));
        }
        Ok(AsMetadata {
            raw,
            jwks_uri: fields.jwks_uri,
        })
    }
}

fn shared(st: &State) -> Result<Arc<AsMetadata>, FetchError> {
    match (&st.doc, &st.error) {
        (Some(doc), _) => Ok(doc.clone()),
        (None, Some(e)) => Err(e.clone()),
        (None, None) => Err(FetchError::new("metadata", "not fetched yet")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_follow_rfc_8414_insertion() {
        let cases: &[(&str, &[&str])] = &[
            (
                "https://auth.example.com",
                &["https://auth.example.com/.well-known/oauth-authorization-server"],
            ),
            (
                "https://auth.example.com/prod",
                &[
                    "https://auth.example.com/.well-known/oauth-authorization-server/prod",
                    "https://auth.example.com/prod/.well-known/oauth-authorization-server",
                ],
            ),
            (
                "http://127.0.0.1:8080",
                &["http://127.0.0.1:8080/.well-known/oauth-authorization-server"],
            ),
        ];
        for (issuer, expected) in cases {
            assert_eq!(metadata_urls(issuer), *expected, "{issuer}");
        }
    }
}
