//! Reading the bearer token (RFC 6750 §2.1). Only the `Authorization` header is read: a
//! token in the query string or a form body is never looked at (MCP › Token Requirements:
//! MUST NOT be in the query string; PRM `bearer_methods_supported` is `["header"]`).

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::challenge::Rejection;

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(t: &str) -> bool {
    let body = t.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// The bearer token of a request. Another scheme (`Basic …`) counts as no bearer token
/// (401 without an error code); a broken `Bearer` header is `invalid_request` (400).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, Rejection> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Rejection::MissingToken);
    };
    if values.next().is_some() {
        return Err(Rejection::MalformedAuthorization(
            "more than one Authorization header",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| Rejection::MalformedAuthorization("the Authorization header is not ASCII"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Rejection::MissingToken);
    }
    let token = rest.trim_matches(' ');
    if token.is_empty() {
        return Err(Rejection::MalformedAuthorization(
            "the bearer token is empty",
        ));
    }
    if !is_b64token(token) {
        return Err(Rejection::MalformedAuthorization(
            "the bearer token has characters RFC 6750 does not allow",
        ));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn authorization_header_table() {
        type Want = Result<&'static str, Rejection>;
        let bad = Rejection::MalformedAuthorization;
        let cases: Vec<(Vec<&[u8]>, Want)> = vec![
            (vec![b"Bearer abc.def-_~+/=="], Ok("abc.def-_~+/==")),
            (vec![b"bearer abc"], Ok("abc")),
            (vec![b"BEARER   abc  "], Ok("abc")),
            (vec![], Err(Rejection::MissingToken)),
            (vec![b"Basic dXNlcjpwYXNz"], Err(Rejection::MissingToken)),
            (vec![b"Bearerabc"], Err(Rejection::MissingToken)),
            (vec![b"Bearer"], Err(bad("the bearer token is empty"))),
            (vec![b"Bearer "], Err(bad("the bearer token is empty"))),
            (
                vec![b"Bearer a b"],
                Err(bad(
                    "the bearer token has characters RFC 6750 does not allow",
                )),
            ),
            (
                vec![b"Bearer a\"b"],
                Err(bad(
                    "the bearer token has characters RFC 6750 does not allow",
                )),
            ),
            (
                vec![b"Bearer ==="],
                Err(bad(
                    "the bearer token has characters RFC 6750 does not allow",
                )),
            ),
            (
                vec![b"Bearer a", b"Bearer b"],
                Err(bad("more than one Authorization header")),
            ),
            (
                vec![b"Bearer \xff"],
                Err(bad("the Authorization header is not ASCII")),
            ),
        ];
        for (values, expected) in cases {
            let mut h = HeaderMap::new();
            for v in &values {
                h.append(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
            }
            assert_eq!(bearer_token(&h), expected, "{values:?}");
        }
    }
}
