//! Request parameters as OAuth reads them (RFC 6749 §3.1, §3.2).
//!
//! "Parameters sent without a value MUST be treated as if they were omitted from the
//! request" and "Request and response parameters MUST NOT be included more than once."

use std::collections::HashMap;

use crate::error::OAuthError;

/// Longest single parameter value accepted (codes, tokens and states are far shorter).
pub const MAX_PARAM_LEN: usize = 4096;

/// `application/x-www-form-urlencoded` parameters with duplicates remembered.
#[derive(Clone, Debug, Default)]
pub struct Params {
    values: HashMap<String, String>,
    repeated: Vec<String>,
    too_long: Vec<String>,
    control: Vec<String>,
}

impl Params {
    /// Parses a query string or form body. Empty values count as absent.
    pub fn parse(input: &[u8]) -> Self {
        let mut p = Self::default();
        for (k, v) in form_urlencoded::parse(input) {
            if v.is_empty() {
                continue;
            }
            if v.len() > MAX_PARAM_LEN {
                p.too_long.push(k.clone().into_owned());
            }
            // No OAuth value holds control characters (RFC 6749 Appendix A: VSCHAR, NQCHAR…);
            // such a value is set aside, so a NUL never reaches a page, a log or a database.
            if v.chars().any(char::is_control) {
                if !p.control.contains(&k.to_string()) {
                    p.control.push(k.into_owned());
                }
                continue;
            }
            if p.values
                .insert(k.clone().into_owned(), v.into_owned())
                .is_some()
                && !p.repeated.contains(&k.to_string())
            {
                p.repeated.push(k.into_owned());
            }
        }
        p
    }

    /// The value of a parameter that is not repeated.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether `name` was sent more than once.
    pub fn is_repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|r| r == name)
    }

    /// `invalid_request` naming the first parameter whose value held control characters
    /// (such values are dropped by [`Params::parse`]).
    pub fn check_characters(&self) -> Result<(), OAuthError> {
        match self.control.first() {
            Some(name) => Err(OAuthError::invalid_request(format!(
                "parameter {name:?} contains control characters"
            ))),
            None => Ok(()),
        }
    }

    /// `invalid_request` naming the first repeated, oversized or control-character
    /// parameter, if any.
    pub fn check_well_formed(&self) -> Result<(), OAuthError> {
        self.check_characters()?;
        if let Some(name) = self.repeated.first() {
            return Err(OAuthError::invalid_request(format!(
                "parameter {name:?} was sent more than once (RFC 6749 §3.1)"
            )));
        }
        if let Some(name) = self.too_long.first() {
            return Err(OAuthError::invalid_request(format!(
                "parameter {name:?} is too long"
            )));
        }
        Ok(())
    }

    /// A required parameter, or `invalid_request` naming it.
    pub fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::invalid_request(format!("missing required parameter {name:?}"))
        })
    }

    /// Every parameter name sent.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_absent_and_repeats_are_flagged() {
        let p = Params::parse(b"a=1&b=&c=x&c=y&d=%20");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert!(p.is_repeated("c"));
        assert_eq!(p.get("d"), Some(" "));
        let e = p.check_well_formed().unwrap_err();
        assert!(e.description.contains("\"c\""));
    }

    #[test]
    fn control_characters_are_set_aside_and_reported() {
        let p = Params::parse(b"state=a%00b&client_id=c&nonce=x%0Ay&scope=%C3%A9");
        assert_eq!(p.get("state"), None, "never handed out");
        assert_eq!(p.get("nonce"), None);
        assert_eq!(
            p.get("scope"),
            Some("\u{e9}"),
            "non-ASCII is not a control character"
        );
        assert_eq!(p.get("client_id"), Some("c"));
        let e = p.check_characters().unwrap_err();
        assert!(e.description.contains("\"state\""), "{}", e.description);
        assert!(p.check_well_formed().is_err());
        assert!(Params::parse(b"a=1").check_characters().is_ok());
    }

    #[test]
    fn repeated_empty_value_is_not_a_repeat() {
        let p = Params::parse(b"a=1&a=");
        assert!(p.check_well_formed().is_ok());
    }
}
