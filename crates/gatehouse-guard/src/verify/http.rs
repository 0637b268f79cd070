//! The guard's outgoing HTTP: JWKS, authorization server metadata, introspection. It never
//! carries the client's `Authorization` header (RS-22): only the guard's own credentials.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

/// Largest document (JWKS, metadata, introspection response) the guard reads.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// Why a fetch failed (for logs and the `Unavailable` detail).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{url}: {reason}")]
pub(crate) struct FetchError {
    url: String,
    reason: String,
}

impl FetchError {
    pub(crate) fn new(url: &str, reason: impl Into<String>) -> Self {
        Self {
            url: url.to_owned(),
            reason: reason.into(),
        }
    }
}

/// An HTTP client with bounded reads.
#[derive(Clone, Debug)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
}

/// The default client: short timeouts, no redirects (a redirected introspection request
/// would carry credentials elsewhere; JWKS and metadata URLs are configured exactly).
pub(crate) fn default_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gatehouse-guard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

impl Fetcher {
    pub(crate) fn new(client: reqwest::Client) -> Self {
        Self { client }
    }

    /// `GET url` expecting `200` and a body of at most [`MAX_DOCUMENT_BYTES`].
    pub(crate) async fn get(&self, url: &str) -> Result<Bytes, FetchError> {
        let resp = self
            .client
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| FetchError::new(url, e.to_string()))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(FetchError::new(url, format!("status {}", resp.status())));
        }
        read(url, resp).await
    }

    /// `POST url` with a form body and an `Authorization` header; returns status and body.
    pub(crate) async fn post_form(
        &self,
        url: &str,
        authorization: &str,
        form: String,
    ) -> Result<(u16, Bytes), FetchError> {
        let resp = self
            .client
            .post(url)
            .header(http::header::AUTHORIZATION, authorization)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| FetchError::new(url, e.to_string()))?;
        let status = resp.status().as_u16();
        Ok((status, read(url, resp).await?))
    }
}

async fn read(url: &str, mut resp: reqwest::Response) -> Result<Bytes, FetchError> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(FetchError::new(url, "response too large"));
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| FetchError::new(url, e.to_string()))?
    {
        if buf.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(FetchError::new(url, "response too large"));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
