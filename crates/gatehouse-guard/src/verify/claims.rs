//! The claims of an access token (from a JWT payload or an introspection response) and the
//! rules both verifiers apply to them.

use std::sync::Arc;

use gatehouse_oauth::scope::ScopeSet;
use serde::{Deserialize, Deserializer};

use super::InvalidToken;
use crate::token::VerifiedToken;

/// The claims the guard reads. Unlike `gatehouse_oauth::claims::AccessTokenClaims` every
/// field is optional (so a missing one is reported by name), `aud` may be an array
/// (RFC 7519 §4.1.3), and `nbf`, `active` and `token_type` are understood.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct Claims {
    pub(crate) iss: Option<String>,
    pub(crate) sub: Option<String>,
    pub(crate) aud: Option<Audience>,
    pub(crate) client_id: Option<String>,
    pub(crate) scope: Option<String>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub(crate) iat: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub(crate) exp: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub(crate) nbf: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub(crate) auth_time: Option<i64>,
    pub(crate) jti: Option<String>,
    pub(crate) sid: Option<String>,
    /// RFC 7662 §2.2 only.
    pub(crate) active: Option<bool>,
    /// RFC 7662 §2.2 only.
    pub(crate) token_type: Option<String>,
}

/// RFC 7519 §4.1.3: one string or an array of strings.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(a) => vec![a],
            Self::Many(v) => v,
        }
    }
}

/// RFC 7519 §2 NumericDate: a JSON number of seconds, possibly fractional.
fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let n = Option::<f64>::deserialize(d)?;
    Ok(n.filter(|n| n.is_finite()).map(|n| n.floor() as i64))
}

/// Which claims a source must carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// RFC 9068 §2.2: `iss`, `exp`, `aud`, `sub`, `client_id`, `iat`, `jti` are required.
    Jwt,
    /// RFC 7662 §2.2: only `active` is required; the guard also needs `aud`, `exp`, `sub`
    /// and `client_id` to judge and describe the token.
    Introspection,
}

/// The checks shared by both verifiers.
#[derive(Clone, Debug)]
pub(crate) struct ClaimRules {
    pub(crate) issuers: Arc<[String]>,
    pub(crate) resource: String,
    pub(crate) skew: i64,
}

impl ClaimRules {
    /// The index of `iss` among the configured issuers (exact string comparison, RS-23).
    pub(crate) fn issuer_index(&self, iss: &str) -> Option<usize> {
        self.issuers.iter().position(|i| i == iss)
    }

    /// Applies the rules at `now` and builds the verified token.
    pub(crate) fn check(
        &self,
        c: Claims,
        source: Source,
        now: i64,
    ) -> Result<VerifiedToken, InvalidToken> {
        let jwt = source == Source::Jwt;
        let issuer = match c.iss {
            Some(iss) if self.issuer_index(&iss).is_some() => iss,
            Some(iss) => return Err(InvalidToken::WrongIssuer(iss)),
            None if jwt => return Err(InvalidToken::MissingClaim("iss")),
            None => self.issuers[0].clone(),
        };
        let audience = c.aud.ok_or(InvalidToken::MissingClaim("aud"))?.into_vec();
        if !audience.contains(&self.resource) {
            return Err(InvalidToken::WrongAudience(audience));
        }
        let expires_at = c.exp.ok_or(InvalidToken::MissingClaim("exp"))?;
        self.check_times(expires_at, c.nbf, c.iat, now)?;
        if jwt && c.iat.is_none() {
            return Err(InvalidToken::MissingClaim("iat"));
        }
        if jwt && c.jti.is_none() {
            return Err(InvalidToken::MissingClaim("jti"));
        }
        let scopes = ScopeSet::parse(c.scope.as_deref().unwrap_or_default())
            .map_err(|_| InvalidToken::BadScope)?;
        Ok(VerifiedToken {
            subject: c.sub.ok_or(InvalidToken::MissingClaim("sub"))?,
            client_id: c.client_id.ok_or(InvalidToken::MissingClaim("client_id"))?,
            scopes,
            audience,
            issuer,
            expires_at,
            issued_at: c.iat,
            auth_time: c.auth_time,
            token_id: c.jti,
            session_id: c.sid,
        })
    }

    /// `exp` must be in the future, `nbf` and `iat` not, each within the skew.
    pub(crate) fn check_times(
        &self,
        exp: i64,
        nbf: Option<i64>,
        iat: Option<i64>,
        now: i64,
    ) -> Result<(), InvalidToken> {
        if now >= exp.saturating_add(self.skew) {
            return Err(InvalidToken::Expired(exp));
        }
        if let Some(nbf) = nbf.filter(|n| *n > now.saturating_add(self.skew)) {
            return Err(InvalidToken::NotYetValid(nbf));
        }
        if let Some(iat) = iat.filter(|i| *i > now.saturating_add(self.skew)) {
            return Err(InvalidToken::IssuedInFuture(iat));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuers: vec![
                "https://auth.example.com".to_owned(),
                "https://auth.example.com/prod".to_owned(),
            ]
            .into(),
            resource: "https://mcp.example.com/mcp".into(),
            skew: 60,
        }
    }

    fn base() -> serde_json::Value {
        json!({
            "iss": "https://auth.example.com", "sub": "u1", "aud": "https://mcp.example.com/mcp",
            "client_id": "c1", "scope": "todo:read", "iat": NOW - 10, "exp": NOW + 300, "jti": "j1",
        })
    }

    fn check(patch: serde_json::Value, source: Source) -> Result<VerifiedToken, InvalidToken> {
        let mut v = base();
        for (k, val) in patch.as_object().unwrap() {
            if val.is_null() {
                v.as_object_mut().unwrap().remove(k);
            } else {
                v[k] = val.clone();
            }
        }
        rules().check(serde_json::from_value(v).unwrap(), source, NOW)
    }

    #[test]
    fn claim_rules_table() {
        use InvalidToken as E;
        let mcp = "https://mcp.example.com/mcp";
        let cases: Vec<(serde_json::Value, Result<(), InvalidToken>)> = vec![
            (json!({}), Ok(())),
            (json!({"iss": "https://auth.example.com/prod"}), Ok(())),
            (json!({"aud": ["https://other", mcp]}), Ok(())),
            (json!({"exp": NOW - 59}), Ok(())), // within skew
            (json!({"exp": NOW - 60}), Err(E::Expired(NOW - 60))),
            (json!({"exp": (NOW + 10) as f64 + 0.5}), Ok(())),
            (json!({"nbf": NOW + 60}), Ok(())),
            (json!({"nbf": NOW + 61}), Err(E::NotYetValid(NOW + 61))),
            (json!({"iat": NOW + 61}), Err(E::IssuedInFuture(NOW + 61))),
            (
                json!({"iss": "https://auth.example.com/"}),
                Err(E::WrongIssuer("https://auth.example.com/".into())),
            ),
            (
                json!({"iss": "https://AUTH.example.com"}),
                Err(E::WrongIssuer("https://AUTH.example.com".into())),
            ),
            (
                json!({"aud": format!("{mcp}/")}),
                Err(E::WrongAudience(vec![format!("{mcp}/")])),
            ),
            (
                json!({"aud": ["https://other"]}),
                Err(E::WrongAudience(vec!["https://other".into()])),
            ),
            (json!({"scope": "a\"b"}), Err(E::BadScope)),
            (json!({"iss": null}), Err(E::MissingClaim("iss"))),
            (json!({"aud": null}), Err(E::MissingClaim("aud"))),
            (json!({"exp": null}), Err(E::MissingClaim("exp"))),
            (json!({"iat": null}), Err(E::MissingClaim("iat"))),
            (json!({"jti": null}), Err(E::MissingClaim("jti"))),
            (json!({"sub": null}), Err(E::MissingClaim("sub"))),
            (
                json!({"client_id": null}),
                Err(E::MissingClaim("client_id")),
            ),
        ];
        for (patch, expected) in cases {
            assert_eq!(
                check(patch.clone(), Source::Jwt).map(|_| ()),
                expected,
                "{patch}"
            );
        }
    }

    #[test]
    fn introspection_may_omit_iss_iat_and_jti() {
        let t = check(
            json!({"iss": null, "iat": null, "jti": null}),
            Source::Introspection,
        )
        .unwrap();
        assert_eq!(t.issuer, "https://auth.example.com");
        assert_eq!(t.token_id, None);
    }

    #[test]
    fn verified_token_carries_the_claims() {
        let t = check(json!({"sid": "gr_1", "auth_time": NOW - 100}), Source::Jwt).unwrap();
        assert_eq!(t.subject, "u1");
        assert_eq!(t.client_id, "c1");
        assert_eq!(t.scopes.to_string(), "todo:read");
        assert_eq!(t.audience, ["https://mcp.example.com/mcp"]);
        assert_eq!(t.expires_at, NOW + 300);
        assert_eq!(t.session_id.as_deref(), Some("gr_1"));
        assert_eq!(t.auth_time, Some(NOW - 100));
        assert_eq!(t.token_id.as_deref(), Some("j1"));
    }
}
