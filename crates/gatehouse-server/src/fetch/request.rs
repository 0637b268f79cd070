//! Steps 3-6 of a fetch: one HTTPS GET over a client pinned to the checked addresses, then
//! status, media type and a capped body read.

use std::error::Error as StdError;

use reqwest::dns::{Name, Resolve, Resolving};
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderName, LOCATION};
use reqwest::{Certificate, Client, Response, StatusCode};
use url::Url;

use super::target::Target;
use super::{FetchError, FetchPolicy, Fetched, USER_AGENT};

/// Longest header text copied into an error (redirect target, content type) for the log.
const MAX_LOGGED_HEADER: usize = 256;

/// Sends the GET to the pinned addresses and checks the answer.
pub(super) async fn get(
    url: &Url,
    target: &Target,
    policy: &FetchPolicy,
) -> Result<Fetched, FetchError> {
    let client = pinned_client(target, policy)?;
    let response = client
        .get(url.clone())
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| transport_error(&e, policy))?;
    check_status(&response)?;
    check_media_type(response.headers())?;
    let status = response.status().as_u16();
    let address = response.remote_addr().unwrap_or(target.addrs[0]);
    let content_type = header_text(response.headers(), &CONTENT_TYPE, usize::MAX);
    let cache_control = header_text(response.headers(), &CACHE_CONTROL, usize::MAX);
    let body = read_capped(response, policy).await?;
    Ok(Fetched {
        status,
        content_type,
        cache_control,
        body,
        address,
    })
}

/// A one-shot client that can only reach `target.addrs`.
///
/// - `resolve_to_addrs` pins the URL's DNS name to the checked addresses; the TLS server name
///   (SNI, certificate check) and `Host` stay the name. An IP literal is connected to as is.
/// - Any other lookup reaches [`NoDns`] and fails, so nothing is ever resolved twice.
/// - No proxy (reqwest would otherwise honour `HTTPS_PROXY`, which resolves the name itself),
///   no redirects, https only, no connection kept after the fetch.
/// - The same behaviour whatever reqwest features other crates unify in: HTTP/1.1 only, no
///   content decoding (the cap counts bytes as sent), no automatic retries.
/// - Extra roots are merged into the platform verifier's roots (rustls-platform-verifier's
///   `new_with_extra_roots`, which on Linux also loads the system store).
fn pinned_client(target: &Target, policy: &FetchPolicy) -> Result<Client, FetchError> {
    let mut builder = Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .https_only(true)
        .connect_timeout(policy.connect_timeout)
        .pool_max_idle_per_host(0)
        .http1_only()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .no_zstd()
        .retry(reqwest::retry::never())
        .dns_resolver(NoDns);
    if let Some(domain) = &target.domain {
        builder = builder.resolve_to_addrs(domain, &target.addrs);
    }
    if let Some(pem) = &policy.extra_roots_pem {
        builder = builder.tls_certs_merge(extra_roots(pem)?);
    }
    builder
        .build()
        .map_err(|e| FetchError::Client(error_chain(&e)))
}

fn extra_roots(pem: &[u8]) -> Result<Vec<Certificate>, FetchError> {
    let certs =
        Certificate::from_pem_bundle(pem).map_err(|e| FetchError::BadRoots(error_chain(&e)))?;
    if certs.is_empty() {
        return Err(FetchError::BadRoots("no PEM certificate found".to_owned()));
    }
    Ok(certs)
}

/// The fallback resolver of a pinned client: the fetcher resolved and checked the only name
/// the client may reach, so any other lookup is a bug and must not reach the network.
struct NoDns;

impl Resolve for NoDns {
    fn resolve(&self, name: Name) -> Resolving {
        let message = format!(
            "refusing to resolve {}: the fetcher resolves and pins names itself",
            name.as_str()
        );
        Box::pin(std::future::ready(Err(message.into())))
    }
}

/// REG-35: no redirects (a 3xx is reported, never followed); only `200` is a document
/// (draft-ietf-oauth-client-id-metadata-document-00 §4).
fn check_status(response: &Response) -> Result<(), FetchError> {
    let status = response.status();
    if status.is_redirection() {
        return Err(FetchError::Redirect {
            status: status.as_u16(),
            location: header_text(response.headers(), &LOCATION, MAX_LOGGED_HEADER),
        });
    }
    if status != StatusCode::OK {
        return Err(FetchError::Status(status.as_u16()));
    }
    Ok(())
}

/// The document must be JSON: `application/json` or `application/<subtype>+json`,
/// parameters such as `charset` allowed.
fn check_media_type(headers: &HeaderMap) -> Result<(), FetchError> {
    let content_type = header_text(headers, &CONTENT_TYPE, MAX_LOGGED_HEADER);
    let essence = content_type
        .as_deref()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let is_json = essence.as_deref().is_some_and(|e| {
        e == "application/json"
            || e.strip_prefix("application/")
                .and_then(|sub| sub.strip_suffix("+json"))
                .is_some_and(|base| !base.is_empty())
    });
    if is_json {
        Ok(())
    } else {
        Err(FetchError::NotJson { content_type })
    }
}

/// draft-ietf-oauth-client-id-metadata-document-00 §6.6: a size cap (5 KB RECOMMENDED).
/// A larger `Content-Length` fails before any of the body is read; otherwise reading stops
/// at the first chunk that crosses the cap.
async fn read_capped(mut response: Response, policy: &FetchPolicy) -> Result<Vec<u8>, FetchError> {
    let limit = policy.max_bytes;
    let too_large = FetchError::TooLarge { limit };
    let announced = response.content_length();
    if announced.is_some_and(|len| len > limit as u64) {
        return Err(too_large);
    }
    let capacity = announced.map_or(limit, |len| len as usize);
    let mut body = Vec::with_capacity(capacity.min(limit));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(&e, policy))?
    {
        if chunk.len() > limit - body.len() {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A header as text for the caller or the log; invalid UTF-8 is replaced, long values cut.
fn header_text(headers: &HeaderMap, name: &HeaderName, max_chars: usize) -> Option<String> {
    let value = headers.get(name)?;
    let text = String::from_utf8_lossy(value.as_bytes());
    Some(text.chars().take(max_chars).collect())
}

/// Classifies a reqwest failure. TLS failures surface from tokio-rustls as an
/// `io::Error` of kind `InvalidData` wrapping the `rustls::Error`; TCP connect failures
/// never have that kind.
fn transport_error(error: &reqwest::Error, policy: &FetchPolicy) -> FetchError {
    let detail = error_chain(error);
    if error.is_timeout() {
        if error.is_connect() {
            return FetchError::ConnectTimeout {
                limit: policy.connect_timeout,
            };
        }
        return FetchError::Timeout {
            limit: policy.timeout,
        };
    }
    if is_tls_failure(error) {
        FetchError::Tls(detail)
    } else if error.is_connect() {
        FetchError::Connect(detail)
    } else {
        FetchError::Http(detail)
    }
}

/// Looks through `source()` and into wrapped `io::Error`s: hyper-rustls wraps the
/// tokio-rustls error in `io::Error::other`, and `io::Error::source` skips the wrapped error.
fn is_tls_failure(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        let mut io = e.downcast_ref::<std::io::Error>();
        while let Some(io_error) = io {
            if io_error.kind() == std::io::ErrorKind::InvalidData {
                return true;
            }
            io = io_error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<std::io::Error>());
        }
        current = e.source();
    }
    false
}

/// An error and its sources, joined for one log line.
fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(e) = current {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        current = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn with_content_type(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(value).expect("valid header"),
        );
        headers
    }

    #[test]
    fn json_media_types_are_accepted_with_parameters_and_any_case() {
        for value in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/jwk-set+json",
            "application/vnd.example+json;charset=UTF-8",
        ] {
            assert!(
                check_media_type(&with_content_type(value)).is_ok(),
                "{value}"
            );
        }
    }

    #[test]
    fn other_media_types_are_not_json() {
        for value in [
            "text/html",
            "text/json",
            "application/jsonx",
            "application/+json",
            "application/json-seq",
            "multipart/mixed+json",
            "",
        ] {
            assert!(
                matches!(
                    check_media_type(&with_content_type(value)),
                    Err(FetchError::NotJson { content_type: Some(ct) }) if ct == value
                ),
                "{value}"
            );
        }
        assert!(matches!(
            check_media_type(&HeaderMap::new()),
            Err(FetchError::NotJson { content_type: None })
        ));
    }
}
