//! Proof Key for Code Exchange (RFC 7636), S256 only.
//!
//! OAuth 2.1 and MCP (2025-11-25 › Authorization Code Protection) require PKCE for every
//! client and S256 whenever the client can; Gatehouse accepts S256 only, so there is no
//! `plain` and no downgrade (RFC 9700 §2.1.1).

use crate::error::OAuthError;
use crate::secret::b64url;

/// A validated S256 `code_challenge`: 43 base64url characters (a SHA-256 digest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Validates the `code_challenge` and `code_challenge_method` of an authorization request.
    ///
    /// RFC 7636 §4.3: a missing method means `plain`, which Gatehouse refuses; RFC 7636 §4.4.1
    /// makes a missing challenge `invalid_request` when the server requires PKCE.
    pub fn from_request(challenge: Option<&str>, method: Option<&str>) -> Result<Self, OAuthError> {
        let Some(challenge) = challenge else {
            return Err(OAuthError::invalid_request(
                "code_challenge is required: this server requires PKCE with S256 for every client",
            ));
        };
        match method {
            Some("S256") => {}
            Some("plain") | None => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method must be S256; plain is not supported",
                ));
            }
            Some(_) => {
                return Err(OAuthError::invalid_request(
                    "unsupported code_challenge_method; use S256",
                ));
            }
        }
        if challenge.len() != 43 || !challenge.bytes().all(is_base64url_char) {
            return Err(OAuthError::invalid_request(
                "code_challenge must be the 43-character base64url SHA-256 of the code_verifier",
            ));
        }
        Ok(Self(challenge.to_owned()))
    }

    /// Rebuilds a challenge read back from storage.
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 7636 §4.6: the server MUST verify `BASE64URL(SHA256(code_verifier)) == code_challenge`.
    /// The verifier must also be well formed (§4.1: 43-128 unreserved characters).
    pub fn verify(&self, code_verifier: &str) -> bool {
        if !is_valid_verifier(code_verifier) {
            return false;
        }
        let computed = s256(code_verifier);
        aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_bytes(), self.0.as_bytes())
            .is_ok()
    }
}

/// The S256 `code_challenge` of a verifier (what a client sends; used by clients and tests).
pub fn s256(code_verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, code_verifier.as_bytes());
    b64url(digest.as_ref())
}

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`, unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~".
pub fn is_valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn is_base64url_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_vector_verifies() {
        let c = CodeChallenge::from_request(Some(CHALLENGE), Some("S256")).unwrap();
        assert!(c.verify(VERIFIER));
    }

    #[test]
    fn verification_table() {
        let c = CodeChallenge::from_request(Some(CHALLENGE), Some("S256")).unwrap();
        let cases: &[(&str, bool)] = &[
            (VERIFIER, true),
            ("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK", false), // last char changed
            ("", false),
            ("short", false),
            (&VERIFIER[..42], false), // 42 chars: too short
            ("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX+", false), // '+' not unreserved
            (CHALLENGE, false),       // the challenge itself
        ];
        for (verifier, expected) in cases {
            assert_eq!(c.verify(verifier), *expected, "verifier {verifier:?}");
        }
    }

    #[test]
    fn request_validation_table() {
        let cases: &[(Option<&str>, Option<&str>, bool)] = &[
            (Some(CHALLENGE), Some("S256"), true),
            (Some(CHALLENGE), None, false), // defaults to plain: refused
            (Some(CHALLENGE), Some("plain"), false), // no plain
            (Some(CHALLENGE), Some("s256"), false), // case-sensitive
            (None, Some("S256"), false),    // PKCE required
            (Some("abc"), Some("S256"), false), // wrong length
            (
                Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c="),
                Some("S256"),
                false,
            ),
        ];
        for (challenge, method, ok) in cases {
            let r = CodeChallenge::from_request(*challenge, *method);
            assert_eq!(r.is_ok(), *ok, "{challenge:?} {method:?}");
            if let Err(e) = r {
                assert_eq!(e.code, crate::ErrorCode::InvalidRequest);
            }
        }
    }

    #[test]
    fn verifier_length_bounds() {
        assert!(is_valid_verifier(&"a".repeat(43)));
        assert!(is_valid_verifier(&"a".repeat(128)));
        assert!(!is_valid_verifier(&"a".repeat(129)));
    }
}
