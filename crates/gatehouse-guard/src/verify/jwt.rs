//! RFC 9068 access tokens verified locally: signature by a key of the issuer's JWKS with an
//! allowed, key-pinned algorithm, `typ` `at+jwt`, then the shared claim rules. Verified
//! tokens are cached by hash until they expire or the key set changes.
//!
//! A token is read once: the header and the claims are each decoded and parsed a single
//! time, before any key is looked up (so forgeries never cause a JWKS fetch), and the
//! signature is then checked with the key the header names.

use std::borrow::Cow;
use std::sync::Arc;

use gatehouse_oauth::claims::ACCESS_TOKEN_TYP;
use gatehouse_oauth::jose::{Algorithm, MAX_JWT_LEN};
use gatehouse_oauth::secret::b64url_decode;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::cache::{TokenCache, TokenKey};
use super::claims::{Claims, Source};
use super::jwks::{JwksCache, JwksTiming, KeySource};
use super::{ClaimRules, Fetcher, InvalidToken, TokenVerifier, VerifyError, VerifyFuture};
use crate::clock::Clock;
use crate::config::GuardConfig;
use crate::discovery::Discovery;
use crate::token::VerifiedToken;

#[derive(Clone, Debug)]
struct Cached {
    token: Arc<VerifiedToken>,
    issuer: usize,
    generation: u64,
}

/// Verifies Gatehouse access tokens against the issuers' JWKS, without calling the
/// authorization server per request. Revocation is not seen until the token expires; use
/// [`super::IntrospectionVerifier`] where that matters.
pub struct JwtVerifier {
    rules: ClaimRules,
    algorithms: Vec<Algorithm>,
    jwks: Vec<JwksCache>,
    cache: TokenCache<Cached>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuers", &self.rules.issuers)
            .field("resource", &self.rules.resource)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// The protected header, borrowed from the decoded bytes where it has no escapes. The
/// key-carrying fields are only checked for presence.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    typ: Option<Cow<'a, str>>,
    crit: Option<IgnoredAny>,
    jku: Option<IgnoredAny>,
    jwk: Option<IgnoredAny>,
    x5u: Option<IgnoredAny>,
}

/// A token that passed the checks that need no key.
struct Unverified<'t> {
    /// `header.payload`, as sent: what the signature covers.
    signing_input: &'t str,
    signature: &'t str,
    alg: Algorithm,
    kid: String,
    issuer: usize,
    claims: Claims,
}

/// `typ` is `at+jwt`, case-insensitively, with an optional `application/` prefix
/// (RFC 9068 §4).
fn is_access_token_typ(typ: &str) -> bool {
    let t = typ.as_bytes();
    let t = match t.get(..12) {
        Some(p) if p.eq_ignore_ascii_case(b"application/") => &t[12..],
        _ => t,
    };
    t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP.as_bytes())
}

impl JwtVerifier {
    /// A verifier for the issuers, resource, algorithms and timings of `config`.
    pub fn new(config: &GuardConfig) -> Self {
        Self::with_discovery(config, &config.discoveries())
    }

    /// Shares the metadata caches the guard already holds (one per issuer, in order).
    pub(crate) fn with_discovery(config: &GuardConfig, discovery: &[Arc<Discovery>]) -> Self {
        let timing = JwksTiming {
            max_age: config.jwks_max_age.as_secs() as i64,
            min_refetch: config.jwks_min_refetch_interval.as_secs() as i64,
        };
        let jwks = config
            .issuers
            .iter()
            .zip(discovery)
            .enumerate()
            .map(|(i, (issuer, d))| {
                let source = match (i, &config.jwks_source) {
                    (0, Some(source)) => KeySource::Custom(source.clone()),
                    _ => KeySource::Http {
                        explicit_uri: (i == 0).then(|| config.jwks_uri.clone()).flatten(),
                        discovery: d.clone(),
                        fetcher: Fetcher::new(config.http.clone()),
                    },
                };
                JwksCache::new(
                    issuer,
                    source,
                    config.clock.clone(),
                    config.algorithms.clone(),
                    timing,
                )
            })
            .collect();
        Self {
            rules: config.claim_rules(),
            algorithms: config.algorithms.clone(),
            jwks,
            cache: TokenCache::new(config.token_cache_capacity),
            clock: config.clock.clone(),
        }
    }

    /// A token verified before, while it is unexpired and its key set unchanged.
    fn cached(&self, key: &TokenKey, now: i64) -> Option<Arc<VerifiedToken>> {
        let hit = self.cache.get(key, now)?;
        if self.jwks[hit.issuer].fresh_generation(now) == Some(hit.generation) {
            return Some(hit.token);
        }
        self.cache.remove(key);
        None
    }

    async fn verify_token(&self, token: &str) -> Result<Arc<VerifiedToken>, VerifyError> {
        let now = self.clock.now();
        if token.len() > MAX_JWT_LEN {
            return Err(InvalidToken::Malformed("token too long").into());
        }
        let key = self.cache.enabled().then(|| TokenKey::of(token));
        if let Some(hit) = key.as_ref().and_then(|k| self.cached(k, now)) {
            return Ok(hit);
        }
        let t = self.precheck(token)?;
        let keys = self.jwks[t.issuer].keys_for(&t.kid).await?;
        let signer = keys
            .keys
            .iter()
            .find(|k| k.kid() == t.kid)
            .ok_or(InvalidToken::UnknownKey)?;
        if signer.alg() != t.alg {
            return Err(InvalidToken::Header("alg does not match the key").into());
        }
        let signature =
            b64url_decode(t.signature).ok_or(InvalidToken::Malformed("not a valid JWS"))?;
        signer
            .verify_signature(t.signing_input.as_bytes(), &signature)
            .map_err(|_| InvalidToken::BadSignature)?;
        let verified = Arc::new(self.rules.check(t.claims, Source::Jwt, now)?);
        if let Some(key) = key {
            let cached = Cached {
                token: verified.clone(),
                issuer: t.issuer,
                generation: keys.generation,
            };
            let until = verified.expires_at.saturating_add(self.rules.skew);
            self.cache.insert(key, cached, until, now);
        }
        Ok(verified)
    }

    /// Checks that cost nothing and need no keys, so forgeries never trigger a JWKS fetch:
    /// the header (`typ`, `alg` allow-list, no key-carrying fields) and that the (as yet
    /// unverified) `iss` is one of ours, whose key set is then used. The header and the
    /// claims are parsed here, once.
    fn precheck<'t>(&self, token: &'t str) -> Result<Unverified<'t>, InvalidToken> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidToken::Malformed("not a compact JWS"));
        };
        let header_json = b64url_decode(h).ok_or(InvalidToken::Malformed("bad JWS header"))?;
        let header: Header<'_> = serde_json::from_slice(&header_json)
            .map_err(|_| InvalidToken::Malformed("bad JWS header"))?;
        if !header.typ.as_deref().is_some_and(is_access_token_typ) {
            return Err(InvalidToken::WrongType);
        }
        let alg = match Algorithm::parse(&header.alg) {
            Some(alg) if self.algorithms.contains(&alg) => alg,
            _ => return Err(InvalidToken::AlgorithmNotAllowed(header.alg.into_owned())),
        };
        if header.crit.is_some()
            || header.jku.is_some()
            || header.jwk.is_some()
            || header.x5u.is_some()
        {
            return Err(InvalidToken::Header(
                "crit, jku, jwk and x5u are not accepted",
            ));
        }
        let kid = header.kid.ok_or(InvalidToken::UnknownKey)?.into_owned();
        let claims: Claims = b64url_decode(p)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(InvalidToken::Malformed("bad JWT claims"))?;
        let iss = claims
            .iss
            .as_deref()
            .ok_or(InvalidToken::MissingClaim("iss"))?;
        let issuer = self
            .rules
            .issuer_index(iss)
            .ok_or_else(|| InvalidToken::WrongIssuer(iss.to_owned()))?;
        Ok(Unverified {
            signing_input: &token[..h.len() + 1 + p.len()],
            signature: s,
            alg,
            kid,
            issuer,
            claims,
        })
    }
}

impl TokenVerifier for JwtVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(self.verify_token(token))
    }
}

#[cfg(test)]
mod tests {
    use super::is_access_token_typ;

    #[test]
    fn typ_is_compared_like_rfc_9068_says() {
        for ok in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+Jwt",
        ] {
            assert!(is_access_token_typ(ok), "{ok}");
        }
        for bad in [
            "",
            "JWT",
            "application/",
            "at+jwt ",
            "application/jwt",
            "xpplication/at+jwt",
        ] {
            assert!(!is_access_token_typ(bad), "{bad}");
        }
    }
}
