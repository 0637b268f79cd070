//! RFC 7662 token introspection: the authorization server decides per request, so a revoked
//! token is refused at once. Positive answers may be cached for a short TTL (default: not at
//! all), trading that immediacy for fewer round trips.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gatehouse_oauth::jose::MAX_JWT_LEN;
use gatehouse_oauth::secret::Secret;

use super::cache::{TokenCache, TokenKey};
use super::claims::{Claims, Source};
use super::{ClaimRules, Fetcher, InvalidToken, TokenVerifier, VerifyError, VerifyFuture};
use crate::clock::Clock;
use crate::config::{GuardConfig, Introspection};
use crate::token::VerifiedToken;

/// `token_type` values that name an access token (RFC 7662 §2.2 leaves the vocabulary open;
/// Gatehouse says `Bearer`, and `refresh_token` for refresh tokens).
const ACCESS_TOKEN_TYPES: [&str; 3] = [
    "bearer",
    "access_token",
    "urn:ietf:params:oauth:token-type:access_token",
];

/// Asks the authorization server's introspection endpoint about every token (not cached)
/// or every token not seen within the cache TTL.
pub struct IntrospectionVerifier {
    rules: ClaimRules,
    endpoint: String,
    /// `Basic …` of the client's credentials (RFC 6749 §2.3.1), redacted in `Debug`.
    authorization: Secret,
    fetcher: Fetcher,
    clock: Arc<dyn Clock>,
    ttl: i64,
    cache: TokenCache<Arc<VerifiedToken>>,
}

impl std::fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionVerifier")
            .field("endpoint", &self.endpoint)
            .field("authorization", &self.authorization)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// RFC 6749 §2.3.1: client id and secret are form-urlencoded, then joined and base64-ed.
fn basic(client_id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(client_id), enc(secret)))
    )
}

impl IntrospectionVerifier {
    /// A verifier using `introspection` with the issuers and resource of `config`.
    pub fn new(config: &GuardConfig, introspection: &Introspection) -> Self {
        let endpoint = introspection
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("{}/introspect", config.issuers[0]));
        let ttl = introspection.cache_ttl.as_secs() as i64;
        Self {
            rules: config.claim_rules(),
            endpoint,
            authorization: Secret::presented(&basic(
                &introspection.client_id,
                introspection.client_secret.expose(),
            )),
            fetcher: Fetcher::new(config.http.clone()),
            clock: config.clock.clone(),
            ttl,
            cache: TokenCache::new(if ttl > 0 {
                config.token_cache_capacity
            } else {
                0
            }),
        }
    }

    async fn verify_token(&self, token: &str) -> Result<Arc<VerifiedToken>, VerifyError> {
        let now = self.clock.now();
        if token.len() > MAX_JWT_LEN {
            return Err(InvalidToken::Malformed("token too long").into());
        }
        let key = self.cache.enabled().then(|| TokenKey::of(token));
        if let Some(hit) = key.as_ref().and_then(|k| self.cache.get(k, now)) {
            return Ok(hit);
        }
        let claims = self.introspect(token).await?;
        if claims.active != Some(true) {
            return Err(InvalidToken::Inactive.into());
        }
        if let Some(tt) = claims.token_type.as_deref()
            && !ACCESS_TOKEN_TYPES
                .iter()
                .any(|t| tt.eq_ignore_ascii_case(t))
        {
            return Err(InvalidToken::NotAnAccessToken(tt.to_owned()).into());
        }
        let verified = Arc::new(self.rules.check(claims, Source::Introspection, now)?);
        if let Some(key) = key {
            let until = verified.expires_at.min(now.saturating_add(self.ttl));
            self.cache.insert(key, verified.clone(), until, now);
        }
        Ok(verified)
    }

    async fn introspect(&self, token: &str) -> Result<Claims, VerifyError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("token_type_hint", "access_token")
            .finish();
        let (status, body) = self
            .fetcher
            .post_form(&self.endpoint, self.authorization.expose(), form)
            .await
            .map_err(|e| VerifyError::Unavailable(e.to_string()))?;
        if status != 200 {
            // 401 here means the guard's own client credentials are wrong: loud, not a 401
            // for the MCP client.
            tracing::error!(endpoint = %self.endpoint, status, "introspection request refused");
            return Err(VerifyError::Unavailable(format!(
                "{}: status {status}",
                self.endpoint
            )));
        }
        serde_json::from_slice(&body).map_err(|e| {
            VerifyError::Unavailable(format!(
                "{}: not an introspection response: {e}",
                self.endpoint
            ))
        })
    }
}

impl TokenVerifier for IntrospectionVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(self.verify_token(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        // RFC 6749 §2.3.1 + Appendix B: "+" → "%2B", ":" → "%3A", " " → "+".
        let got = basic("rs:1", "a+b c");
        let decoded = STANDARD
            .decode(got.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "rs%3A1:a%2Bb+c");
    }
}
