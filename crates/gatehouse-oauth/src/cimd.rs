//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, as cited by
//! MCP 2025-11-25): a `client_id` that is an https URL names a JSON document the client
//! publishes. These are the rules for the URL (checked before any network fetch) and for the
//! document; fetching, caching and trust policy live in the server.

use url::Url;

use crate::client::{ClientMetadata, RegistrationRequest};
use crate::redirect::RedirectPolicy;

/// Longest client_id URL accepted.
pub const MAX_URL_LEN: usize = 2000;

/// Whether a `client_id` is meant as a metadata document URL (it will then be checked with
/// [`check_url`]; anything starting with `https://` is treated as one, so a malformed URL is
/// reported as such rather than as an unknown client).
pub fn is_url_client_id(client_id: &str) -> bool {
    client_id.len() > 8 && client_id[..8].eq_ignore_ascii_case("https://")
}

/// Draft §3 (REG-30): the client_id URL MUST use https and contain a path, MUST NOT contain
/// single- or double-dot path segments, a fragment or user information, SHOULD NOT contain
/// a query. Gatehouse also requires the URL in canonical form, since the document's
/// `client_id` must equal it by simple string comparison.
pub fn check_url(raw: &str) -> Result<Url, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!(
            "the client_id URL is longer than {MAX_URL_LEN} characters"
        ));
    }
    if !raw.starts_with("https://") {
        return Err("a client_id URL must use https".into());
    }
    if raw.contains('#') {
        return Err("a client_id URL must not have a fragment".into());
    }
    let url = Url::parse(raw).map_err(|e| format!("the client_id is not a valid URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a client_id URL must not contain user information".into());
    }
    if url.query().is_some() {
        return Err("a client_id URL must not have a query".into());
    }
    let path = raw.splitn(4, '/').nth(3).unwrap_or_default();
    if path.is_empty() {
        return Err(
            "a client_id URL must have a path (e.g. https://app.example.com/client.json)".into(),
        );
    }
    let dot_segment = path.split('/').any(|seg| {
        let s = seg.to_ascii_lowercase().replace("%2e", ".");
        s == "." || s == ".."
    });
    if dot_segment {
        return Err("a client_id URL must not contain . or .. path segments".into());
    }
    if url.as_str() != raw {
        return Err(format!(
            "the client_id URL is not in canonical form (expected {})",
            url.as_str()
        ));
    }
    Ok(url)
}

/// Draft §4.1 and MCP 2025-11-25: the document is a JSON object whose `client_id` equals the
/// URL (simple string comparison) and which has `client_name` and `redirect_uris`; it MUST
/// NOT use symmetric client authentication nor carry a secret. Everything else follows the
/// registration rules of the environment. A missing `token_endpoint_auth_method` means
/// `none` (the symmetric RFC 7591 default is not allowed here).
pub fn validate_document(
    body: &[u8],
    client_id: &str,
    policy: RedirectPolicy,
) -> Result<ClientMetadata, String> {
    let doc: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("the client metadata document is not valid JSON ({e})"))?;
    let obj = doc
        .as_object()
        .ok_or("the client metadata document is not a JSON object")?;
    match obj.get("client_id").and_then(|v| v.as_str()) {
        Some(id) if id == client_id => {}
        Some(id) => {
            return Err(format!(
                "the document's client_id {id:?} is not its URL {client_id:?}"
            ));
        }
        None => return Err("the document has no client_id".into()),
    }
    if obj
        .get("client_name")
        .and_then(|v| v.as_str())
        .is_none_or(|n| n.trim().is_empty())
    {
        return Err("the document has no client_name".into());
    }
    if obj
        .get("redirect_uris")
        .and_then(|v| v.as_array())
        .is_none_or(|r| r.is_empty())
    {
        return Err("the document has no redirect_uris".into());
    }
    for secret in ["client_secret", "client_secret_expires_at"] {
        if obj.contains_key(secret) {
            return Err(format!(
                "the document must not contain {secret} (draft §4.1)"
            ));
        }
    }
    let mut request: RegistrationRequest = serde_json::from_value(doc.clone())
        .map_err(|e| format!("the document has a field of the wrong type ({e})"))?;
    match request.token_endpoint_auth_method.as_deref() {
        None => request.token_endpoint_auth_method = Some("none".into()),
        Some(m @ ("client_secret_basic" | "client_secret_post" | "client_secret_jwt")) => {
            return Err(format!(
                "token_endpoint_auth_method {m} uses a shared secret, which a metadata document must not (draft §4.1)"
            ));
        }
        Some(_) => {}
    }
    request
        .validate(policy)
        .map_err(|e| e.description.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_rules() {
        let ok = [
            "https://app.example.com/client.json",
            "https://app.example.com:8443/oauth/client-metadata",
        ];
        for u in ok {
            assert!(check_url(u).is_ok(), "{u}");
        }
        let bad = [
            ("http://app.example.com/client.json", "https"),
            ("https://app.example.com", "path"),
            ("https://app.example.com/", "path"),
            ("https://app.example.com/a/../client.json", ".."),
            ("https://app.example.com/a/%2E%2E/client.json", ".."),
            ("https://app.example.com/./client.json", "."),
            ("https://app.example.com/client.json#x", "fragment"),
            (
                "https://user:pw@app.example.com/client.json",
                "user information",
            ),
            ("https://app.example.com/client.json?v=1", "query"),
            ("https://APP.example.com/client.json", "canonical"),
        ];
        for (u, why) in bad {
            let e = check_url(u).unwrap_err();
            assert!(e.contains(why), "{u}: {e}");
        }
        assert!(
            is_url_client_id("https://x/y")
                && !is_url_client_id("ghc_123")
                && is_url_client_id("HTTPS://x/y")
        );
    }

    fn doc(extra: serde_json::Value) -> Vec<u8> {
        let mut d = json!({
            "client_id": "https://app.example.com/client.json",
            "client_name": "App",
            "redirect_uris": ["http://127.0.0.1/callback"],
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                d.as_object_mut().unwrap().remove(k);
            } else {
                d[k] = v.clone();
            }
        }
        d.to_string().into_bytes()
    }

    #[test]
    fn document_rules() {
        let id = "https://app.example.com/client.json";
        let m = validate_document(&doc(json!({})), id, RedirectPolicy::Production).unwrap();
        assert_eq!(m.token_endpoint_auth_method, "none");
        assert_eq!(m.application_type, "native");
        let bad = [
            (
                doc(json!({"client_id": "https://app.example.com/other.json"})),
                "not its URL",
            ),
            (doc(json!({"client_id": null})), "no client_id"),
            (doc(json!({"client_name": null})), "client_name"),
            (doc(json!({"redirect_uris": []})), "redirect_uris"),
            (
                doc(json!({"token_endpoint_auth_method": "client_secret_basic"})),
                "shared secret",
            ),
            (
                doc(json!({"token_endpoint_auth_method": "client_secret_jwt"})),
                "shared secret",
            ),
            (doc(json!({"client_secret": "s3cret"})), "client_secret"),
            (
                doc(json!({"redirect_uris": ["http://evil.example/cb"]})),
                "loopback",
            ),
            (
                doc(json!({"logo_uri": "http://insecure.example/logo.png"})),
                "https",
            ),
            (
                doc(json!({"token_endpoint_auth_method": "private_key_jwt"})),
                "jwks",
            ),
            (b"[1]".to_vec(), "object"),
            (b"<html>".to_vec(), "JSON"),
        ];
        for (body, why) in bad {
            let e = validate_document(&body, id, RedirectPolicy::Production).unwrap_err();
            assert!(e.contains(why), "{}: {e}", String::from_utf8_lossy(&body));
        }
        let pkj = doc(
            json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example.com/jwks.json"}),
        );
        assert_eq!(
            validate_document(&pkj, id, RedirectPolicy::Production)
                .unwrap()
                .token_endpoint_auth_method,
            "private_key_jwt"
        );
    }
}
