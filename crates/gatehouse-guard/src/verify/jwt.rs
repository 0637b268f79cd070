//! RFC 9068 access tokens verified locally: signature by a key of the issuer's JWKS with an
//! allowed, key-pinned algorithm, `typ` `at+jwt`, then the shared claim rules. Verified
//! tokens are cached by hash until they expire or the key set changes.

use std::sync::Arc;

use gatehouse_oauth::claims::ACCESS_TOKEN_TYP;
use gatehouse_oauth::jose::{self, Algorithm, Header, JwtError, MAX_JWT_LEN};
use gatehouse_oauth::secret::b64url_decode;
use serde::Deserialize;

use super::cache::TokenCache;
use super::claims::{Claims, Source};
use super::jwks::{JwksCache, JwksTiming};
use super::{ClaimRules, Fetcher, InvalidToken, TokenVerifier, VerifyError, VerifyFuture};
use crate::clock::Clock;
use crate::config::GuardConfig;
use crate::discovery::Discovery;
use crate::token::VerifiedToken;

#[derive(Clone, Debug)]
struct Cached {
    token: VerifiedToken,
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

#[derive(Deserialize)]
struct Issuer {
    iss: Option<String>,
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
                JwksCache::new(
                    issuer,
                    (i == 0).then(|| config.jwks_uri.clone()).flatten(),
                    d.clone(),
                    Fetcher::new(config.http.clone()),
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

    async fn verify_token(&self, token: &str) -> Result<VerifiedToken, VerifyError> {
        let now = self.clock.now();
        if token.len() > MAX_JWT_LEN {
            return Err(InvalidToken::Malformed("token too long").into());
        }
        let key = TokenCache::<Cached>::key(token);
        if let Some(hit) = self.cache.get(&key, now) {
            if self.jwks[hit.issuer].fresh_generation(now) == Some(hit.generation) {
                return Ok(hit.token);
            }
            self.cache.remove(&key);
        }
        let (kid, issuer) = self.precheck(token)?;
        let keys = self.jwks[issuer].keys_for(&kid).await?;
        let (_, claims): (Header, Claims) =
            jose::verify(token, &keys.keys, ACCESS_TOKEN_TYP).map_err(jwt_error)?;
        let verified = self.rules.check(claims, Source::Jwt, now)?;
        let cached = Cached {
            token: verified.clone(),
            issuer,
            generation: keys.generation,
        };
        let until = verified.expires_at.saturating_add(self.rules.skew);
        self.cache.insert(key, cached, until, now);
        Ok(verified)
    }

    /// Checks that cost nothing and need no keys, so forgeries never trigger a JWKS fetch:
    /// the header (`typ`, `alg` allow-list, no key-carrying fields) and that the (as yet
    /// unverified) `iss` is one of ours, whose key set is then used. Returns `(kid, issuer)`.
    fn precheck(&self, token: &str) -> Result<(String, usize), InvalidToken> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidToken::Malformed("not a compact JWS"));
        };
        let header: Header = b64url_decode(h)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(InvalidToken::Malformed("bad JWS header"))?;
        let typ = header
            .typ
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if typ.strip_prefix("application/").unwrap_or(&typ) != ACCESS_TOKEN_TYP {
            return Err(InvalidToken::WrongType);
        }
        match Algorithm::parse(&header.alg) {
            Some(alg) if self.algorithms.contains(&alg) => {}
            _ => return Err(InvalidToken::AlgorithmNotAllowed(header.alg)),
        }
        if header.crit.is_some()
            || header.jku.is_some()
            || header.jwk.is_some()
            || header.x5u.is_some()
        {
            return Err(InvalidToken::Header(
                "crit, jku, jwk and x5u are not accepted",
            ));
        }
        let kid = header.kid.ok_or(InvalidToken::UnknownKey)?;
        let iss = b64url_decode(p)
            .and_then(|b| serde_json::from_slice::<Issuer>(&b).ok())
            .ok_or(InvalidToken::Malformed("bad JWT claims"))?
            .iss
            .ok_or(InvalidToken::MissingClaim("iss"))?;
        let issuer = self
            .rules
            .issuer_index(&iss)
            .ok_or(InvalidToken::WrongIssuer(iss))?;
        Ok((kid, issuer))
    }
}

fn jwt_error(e: JwtError) -> InvalidToken {
    match e {
        JwtError::Malformed => InvalidToken::Malformed("not a valid JWS"),
        JwtError::Header(what) => InvalidToken::Header(what),
        JwtError::UnknownKey => InvalidToken::UnknownKey,
        JwtError::BadSignature => InvalidToken::BadSignature,
    }
}

impl TokenVerifier for JwtVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(self.verify_token(token))
    }
}
