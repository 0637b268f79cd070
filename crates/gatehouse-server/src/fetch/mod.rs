//! An SSRF-safe HTTPS fetcher for documents named by attacker-controlled URLs: Client ID
//! Metadata Documents (draft-ietf-oauth-client-id-metadata-document-00 §4, REG-31) and,
//! later, `jwks_uri` (attack case 47: inward-pointing metadata URIs go through the same guard).
//!
//! REG-35 (draft §6.5, MCP 2025-11-25 "Authorization Server Abuse Protection") as numbered
//! steps, each in one place:
//!
//! 1. the URL is `https`, without userinfo or fragment (`target.rs`);
//! 2. the host is resolved once and every address must be globally routable
//!    ([`special_use_reason`]) unless the host is in [`FetchPolicy::allow_hosts`];
//! 3. the connection is pinned to those addresses: the client cannot resolve anything
//!    itself, so a DNS rebinding answer is never consulted (`request.rs`);
//! 4. redirects are never followed, only `200` is a document;
//! 5. the media type must be JSON;
//! 6. the body is read with a hard cap (§6.6: 5 KB RECOMMENDED),
//!
//! all under one whole-request timeout and a connect timeout.

mod address;
mod request;
mod target;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use url::Url;

pub use address::special_use_reason;

/// The `User-Agent` of every fetch.
pub const USER_AGENT: &str = concat!("gatehouse/", env!("CARGO_PKG_VERSION"), " (metadata-fetch)");

/// What a fetch may do. The defaults are the production settings.
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    /// Hosts (exact host names, case-insensitive, or IP literals) exempt from the
    /// special-use address check — for tests and local development only. The exemption is
    /// by the URL's host: `127.0.0.1` here does not exempt `localhost`. Default: empty.
    pub allow_hosts: Vec<String>,
    /// Extra trusted root CA certificates (PEM, one or more), added to the platform's roots —
    /// for tests and private PKI. Default: none.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// Largest accepted body in bytes. Default: 5 KiB (draft §6.6: 5 KB RECOMMENDED).
    pub max_bytes: usize,
    /// The whole fetch, DNS lookup and body included. Default: 3 s.
    pub timeout: Duration,
    /// Establishing the TCP connection and TLS session. Default: 2 s.
    pub connect_timeout: Duration,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allow_hosts: Vec::new(),
            extra_roots_pem: None,
            max_bytes: 5 * 1024,
            timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// A fetched JSON document. The body is not parsed: the caller validates it.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// Always `200`.
    pub status: u16,
    /// The `Content-Type` header (an `application/json` or `application/*+json` type).
    pub content_type: Option<String>,
    /// The `Cache-Control` header, for the caller's cache (REG-34, draft §4.4).
    pub cache_control: Option<String>,
    /// The body, at most [`FetchPolicy::max_bytes`] long.
    pub body: Vec<u8>,
    /// The address the connection was made to (one of the checked ones).
    pub address: SocketAddr,
}

/// Why a fetch was refused or failed. Messages are for operators' logs, not for clients:
/// the caller maps every variant to its own protocol error (for a Client ID Metadata
/// Document, `invalid_client`, draft §4.3).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not `https` (REG-30, REG-35).
    #[error("refusing a {scheme} URL: only https is fetched")]
    NotHttps {
        /// The URL's scheme.
        scheme: String,
    },
    /// The URL has a user name or password (REG-30).
    #[error("refusing a URL with userinfo")]
    HasUserinfo,
    /// The URL has a fragment (REG-30).
    #[error("refusing a URL with a fragment")]
    HasFragment,
    /// The URL has no host.
    #[error("refusing a URL without a host")]
    NoHost,
    /// The DNS lookup failed.
    #[error("DNS lookup of {host} failed: {source}")]
    Dns {
        /// The name looked up.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The DNS lookup returned no address.
    #[error("DNS lookup of {host} returned no address")]
    NoAddresses {
        /// The name looked up.
        host: String,
    },
    /// The host is, or resolves to, a special-use address (REG-35).
    #[error("refusing to connect to {host} at {address}: {reason}")]
    Blocked {
        /// The URL's host.
        host: String,
        /// The first refused address.
        address: IpAddr,
        /// Why the address is refused ([`special_use_reason`]).
        reason: &'static str,
    },
    /// The server answered with a redirect, which is never followed (REG-35).
    #[error("refusing to follow a {status} redirect to {}", location.as_deref().unwrap_or("(no Location)"))]
    Redirect {
        /// The 3xx status.
        status: u16,
        /// The `Location` header, cut to 256 characters, for the log.
        location: Option<String>,
    },
    /// The server answered with a status other than `200`.
    #[error("the server answered {0}, not 200")]
    Status(u16),
    /// The response is not JSON by its `Content-Type`.
    #[error("the response is {}, not application/json", content_type.as_deref().unwrap_or("without a content type"))]
    NotJson {
        /// The `Content-Type` header, cut to 256 characters.
        content_type: Option<String>,
    },
    /// The body is larger than the limit (draft §6.6).
    #[error("the response is larger than {limit} bytes")]
    TooLarge {
        /// [`FetchPolicy::max_bytes`].
        limit: usize,
    },
    /// The fetch did not complete within the whole-request timeout.
    #[error("no complete response within {limit:?}")]
    Timeout {
        /// [`FetchPolicy::timeout`].
        limit: Duration,
    },
    /// The connection was not established within the connect timeout.
    #[error("could not connect within {limit:?}")]
    ConnectTimeout {
        /// [`FetchPolicy::connect_timeout`].
        limit: Duration,
    },
    /// The TLS handshake failed (for example an untrusted certificate or a name mismatch).
    #[error("TLS failure: {0}")]
    Tls(String),
    /// The TCP connection failed.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The HTTP exchange failed after connecting (malformed response, connection dropped).
    #[error("HTTP failure: {0}")]
    Http(String),
    /// [`FetchPolicy::extra_roots_pem`] holds no usable certificate.
    #[error("the extra root certificates are unusable: {0}")]
    BadRoots(String),
    /// The HTTP client could not be built (for example no root certificates at all).
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}

/// Fetches the JSON document at `url` under `policy` (REG-31, REG-35; see the module
/// documentation for the steps). Logs the outcome at `debug`, never the body.
pub async fn fetch(url: &Url, policy: &FetchPolicy) -> Result<Fetched, FetchError> {
    let started = Instant::now();
    let attempt = async {
        let target = target::resolve(url, policy).await?;
        request::get(url, &target, policy).await
    };
    let outcome = tokio::time::timeout(policy.timeout, attempt)
        .await
        .unwrap_or(Err(FetchError::Timeout {
            limit: policy.timeout,
        }));
    let elapsed_ms = started.elapsed().as_millis();
    match &outcome {
        Ok(doc) => tracing::debug!(
            %url, address = %doc.address, bytes = doc.body.len(), elapsed_ms,
            "fetched document"
        ),
        Err(error) => tracing::debug!(%url, %error, elapsed_ms, "fetch refused or failed"),
    }
    outcome
}

#[cfg(test)]
mod tests;
