//! Scopes (RFC 6749 §3.3): space-delimited, case-sensitive tokens.

use std::fmt;

use crate::error::OAuthError;

/// OpenID Connect scopes that every environment understands (OIDC Core §5.4, §11).
pub const OPENID: &str = "openid";
/// Requests a refresh token for offline use (OIDC Core §11).
pub const OFFLINE_ACCESS: &str = "offline_access";
/// Standard OIDC identity scopes, served by the AS itself rather than an MCP server.
pub const IDENTITY_SCOPES: [&str; 4] = [OPENID, "profile", "email", OFFLINE_ACCESS];

/// Longest single scope token accepted.
pub const MAX_SCOPE_LEN: usize = 128;
/// Most scope tokens accepted in one request.
pub const MAX_SCOPES: usize = 64;

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_valid_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SCOPE_LEN
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// An ordered set of valid scope tokens (first occurrence wins, duplicates dropped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet(Vec<String>);

impl ScopeSet {
    /// Parses a `scope` parameter. Empty or whitespace-only input gives an empty set.
    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        let mut set = Self::default();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            if !is_valid_scope_token(token) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {:?} is not a valid scope token (RFC 6749 §3.3)",
                    truncate(token)
                )));
            }
            set.insert(token);
        }
        if set.0.len() > MAX_SCOPES {
            return Err(OAuthError::invalid_scope("too many scopes requested"));
        }
        Ok(set)
    }

    /// Builds a set from trusted tokens (configuration, storage).
    pub fn from_tokens<I, S>(tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = Self::default();
        for t in tokens {
            set.insert(t.as_ref());
        }
        set
    }

    /// Adds a token if absent.
    pub fn insert(&mut self, token: &str) {
        if !self.contains(token) {
            self.0.push(token.to_owned());
        }
    }

    /// Whether the token is in the set (case-sensitive).
    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.0.iter().all(|t| other.contains(t))
    }

    /// Tokens of `self` missing from `other`.
    pub fn missing_from(&self, other: &ScopeSet) -> Vec<&str> {
        self.0
            .iter()
            .filter(|t| !other.contains(t))
            .map(String::as_str)
            .collect()
    }

    /// The union, keeping `self`'s order first.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        let mut out = self.clone();
        for t in &other.0 {
            out.insert(t);
        }
        out
    }

    /// Tokens of `self` that are also in `other`.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(
            self.0
                .iter()
                .filter(|t| other.contains(t))
                .cloned()
                .collect(),
        )
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates the tokens in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let cases: &[(&str, Result<&[&str], ()>)] = &[
            ("", Ok(&[])),
            ("todo:read", Ok(&["todo:read"])),
            ("a  b a", Ok(&["a", "b"])),
            ("openid offline_access", Ok(&["openid", "offline_access"])),
            ("a\"b", Err(())),      // %x22 excluded
            ("a\\b", Err(())),      // %x5C excluded
            ("caf\u{e9}", Err(())), // non-ASCII
            ("a\tb", Err(())),
        ];
        for (raw, expected) in cases {
            let got = ScopeSet::parse(raw);
            match expected {
                Ok(tokens) => {
                    assert_eq!(got.unwrap().iter().collect::<Vec<_>>(), *tokens, "{raw:?}")
                }
                Err(()) => assert_eq!(
                    got.unwrap_err().code,
                    crate::ErrorCode::InvalidScope,
                    "{raw:?}"
                ),
            }
        }
    }

    #[test]
    fn scopes_are_case_sensitive() {
        let a = ScopeSet::parse("Todo:Read").unwrap();
        let b = ScopeSet::parse("todo:read").unwrap();
        assert!(!a.is_subset_of(&b));
    }

    #[test]
    fn set_operations() {
        let a = ScopeSet::parse("a b c").unwrap();
        let b = ScopeSet::parse("b d").unwrap();
        assert_eq!(a.union(&b).to_string(), "a b c d");
        assert_eq!(a.intersection(&b).to_string(), "b");
        assert_eq!(b.missing_from(&a), vec!["d"]);
        assert!(ScopeSet::parse("b").unwrap().is_subset_of(&a));
    }
}
