//! JSON Web Signatures for the tokens Gatehouse issues and checks (RFC 7515, RFC 7517,
//! RFC 7518), restricted to the two algorithms it uses: ES256 (access tokens) and RS256
//! (ID tokens by default; OIDC Core §15.1 makes RS256 mandatory to implement).
//!
//! Keys are parsed once and reused: re-parsing a key per token is the single largest cost
//! in peer implementations (`performance-and-attacks.md` §1.2). Verification pins the
//! algorithm per key (RFC 8725 §3.1): a token's `alg` must equal its key's algorithm, and
//! `none`, HMAC, `jku`, `x5u`, embedded `jwk` and `crit` are refused.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair, RsaPublicKeyComponents,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::secret::{b64url, b64url_decode};

/// A JWS algorithm Gatehouse signs or verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
}

impl Algorithm {
    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }

    /// Parses an `alg` value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(Self::ES256),
            "RS256" => Some(Self::RS256),
            _ => None,
        }
    }
}

/// Why a key could not be loaded or generated.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A private signing key with its `kid`.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    pair: Pair,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new key and returns its PKCS#8 DER encoding, to be sealed and stored.
    pub fn generate_pkcs8(alg: Algorithm) -> Result<Vec<u8>, KeyError> {
        match alg {
            Algorithm::ES256 => {
                let doc = EcdsaKeyPair::generate_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &SystemRandom::new(),
                )
                .map_err(|_| KeyError("EC key generation failed".into()))?;
                Ok(doc.as_ref().to_vec())
            }
            Algorithm::RS256 => {
                let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| KeyError("RSA key generation failed".into()))?;
                let der = pair
                    .as_der()
                    .map_err(|_| KeyError("RSA key encoding failed".into()))?;
                Ok(der.as_ref().to_vec())
            }
        }
    }

    /// Loads a PKCS#8 DER key.
    pub fn from_pkcs8(kid: &str, alg: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        let pair = match alg {
            Algorithm::ES256 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|e| KeyError(format!("bad EC key: {e}")))?,
            ),
            Algorithm::RS256 => Pair::Rsa(
                RsaKeyPair::from_pkcs8(der).map_err(|e| KeyError(format!("bad RSA key: {e}")))?,
            ),
        };
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            pair,
            rng: SystemRandom::new(),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public half as a JWK for the JWKS document.
    pub fn public_jwk(&self) -> Jwk {
        match &self.pair {
            Pair::Ec(k) => {
                let point = k.public_key().as_ref();
                // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
                Jwk {
                    kty: "EC".into(),
                    kid: self.kid.clone(),
                    alg: self.alg.as_str().into(),
                    use_: "sig".into(),
                    crv: Some("P-256".into()),
                    x: Some(b64url(&point[1..33])),
                    y: Some(b64url(&point[33..65])),
                    n: None,
                    e: None,
                }
            }
            Pair::Rsa(k) => {
                let public = k.public_key();
                Jwk {
                    kty: "RSA".into(),
                    kid: self.kid.clone(),
                    alg: self.alg.as_str().into(),
                    use_: "sig".into(),
                    crv: None,
                    x: None,
                    y: None,
                    n: Some(b64url(public.modulus().big_endian_without_leading_zero())),
                    e: Some(b64url(public.exponent().big_endian_without_leading_zero())),
                }
            }
        }
    }

    /// Signs `claims` as a compact JWS with header `{alg, kid, typ}`.
    pub fn sign_jwt<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        let header = serde_json::json!({ "alg": self.alg.as_str(), "kid": self.kid, "typ": typ });
        let header = serde_json::to_vec(&header).map_err(|e| KeyError(e.to_string()))?;
        let payload = serde_json::to_vec(claims).map_err(|e| KeyError(e.to_string()))?;
        let mut out = String::with_capacity(64 + payload.len() * 4 / 3 + 350);
        out.push_str(&b64url(&header));
        out.push('.');
        out.push_str(&b64url(&payload));
        let sig = self.sign(out.as_bytes())?;
        out.push('.');
        out.push_str(&b64url(&sig));
        Ok(out)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Ec(k) => k
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError("ECDSA signing failed".into())),
            Pair::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(|_| KeyError("RSA signing failed".into()))?;
                Ok(sig)
            }
        }
    }
}

/// A public JSON Web Key (RFC 7517) as published in the JWKS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `EC` or `RSA`.
    pub kty: String,
    /// Key id.
    pub kid: String,
    /// Algorithm the key is used with.
    pub alg: String,
    /// Public key use: always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// EC curve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// A parsed public key, ready to verify many signatures.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: String,
    alg: Algorithm,
    key: ParsedPublicKey,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

impl VerifyingKey {
    /// Parses a JWK. Only EC P-256 / ES256 and RSA / RS256 keys are accepted.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let bad = |what: &str| KeyError(format!("JWK {}: {what}", jwk.kid));
        let alg = Algorithm::parse(&jwk.alg).ok_or_else(|| bad("unsupported alg"))?;
        let key = match (alg, jwk.kty.as_str()) {
            (Algorithm::ES256, "EC") => {
                if jwk.crv.as_deref() != Some("P-256") {
                    return Err(bad("curve must be P-256"));
                }
                let x = jwk
                    .x
                    .as_deref()
                    .and_then(b64url_decode)
                    .ok_or_else(|| bad("bad x"))?;
                let y = jwk
                    .y
                    .as_deref()
                    .and_then(b64url_decode)
                    .ok_or_else(|| bad("bad y"))?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(bad("bad coordinate length"));
                }
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .map_err(|_| bad("invalid EC point"))?
            }
            (Algorithm::RS256, "RSA") => {
                let n = jwk
                    .n
                    .as_deref()
                    .and_then(b64url_decode)
                    .ok_or_else(|| bad("bad n"))?;
                let e = jwk
                    .e
                    .as_deref()
                    .and_then(b64url_decode)
                    .ok_or_else(|| bad("bad e"))?;
                RsaPublicKeyComponents { n: &n, e: &e }
                    .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
                    .map_err(|_| bad("invalid RSA key"))?
            }
            _ => return Err(bad("kty does not match alg")),
        };
        Ok(Self {
            kid: jwk.kid.clone(),
            alg,
            key,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key is pinned to.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// Checks a JWS signature (the decoded third part of a compact JWS) over its signing
    /// input (`header.payload` as sent), for a caller that has already read the header and
    /// checked that its `alg` is this key's (RFC 8725 §3.1).
    pub fn verify_signature(&self, signing_input: &[u8], signature: &[u8]) -> Result<(), JwtError> {
        self.key
            .verify_sig(signing_input, signature)
            .map_err(|_| JwtError::BadSignature)
    }

    /// Parses a client's JWK (RFC 7517), which may omit `alg`, `kid` and `use`: the algorithm
    /// is inferred from the key type (EC P-256 → ES256, RSA → RS256). Keys for encryption
    /// (`use: enc`) and other types are refused.
    pub fn from_client_jwk(value: &serde_json::Value) -> Result<Self, KeyError> {
        let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        if field("use").is_some_and(|u| u != "sig") {
            return Err(KeyError("JWK is not a signing key".into()));
        }
        let kty = field("kty").ok_or_else(|| KeyError("JWK has no kty".into()))?;
        let alg = match (field("alg"), kty.as_str()) {
            (Some(a), _) => a,
            (None, "EC") => "ES256".to_owned(),
            (None, "RSA") => "RS256".to_owned(),
            (None, other) => {
                return Err(KeyError(format!("JWK key type {other} is not supported")));
            }
        };
        let jwk = Jwk {
            kty,
            kid: field("kid").unwrap_or_default(),
            alg,
            use_: "sig".into(),
            crv: field("crv"),
            x: field("x"),
            y: field("y"),
            n: field("n"),
            e: field("e"),
        };
        Self::from_jwk(&jwk)
    }
}

/// Verifies a JWT whose `typ` is not constrained (RFC 7523 client assertions), against keys
/// of one party. The algorithm is still pinned by the key; a token without `kid` is checked
/// against the only key when there is exactly one.
pub fn verify_assertion(
    token: &str,
    keys: &[VerifyingKey],
) -> Result<(Header, serde_json::Value), JwtError> {
    let (header, h, p, s) = split(token)?;
    let alg = Algorithm::parse(&header.alg).ok_or(JwtError::Header("alg not allowed"))?;
    let key = match header.kid.as_deref() {
        Some(kid) => keys.iter().find(|k| k.kid == kid),
        None if keys.len() == 1 => keys.first(),
        None => None,
    }
    .ok_or(JwtError::UnknownKey)?;
    check_signature(key, alg, token, h, p, s)?;
    let claims = b64url_decode(p)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    Ok((header, claims))
}

fn split(token: &str) -> Result<(Header, &str, &str, &str), JwtError> {
    if token.len() > MAX_JWT_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Header = b64url_decode(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    if header.crit.is_some() || header.jku.is_some() || header.jwk.is_some() || header.x5u.is_some()
    {
        return Err(JwtError::Header("crit, jku, jwk and x5u are not accepted"));
    }
    Ok((header, h, p, s))
}

fn check_signature(
    key: &VerifyingKey,
    alg: Algorithm,
    token: &str,
    h: &str,
    p: &str,
    s: &str,
) -> Result<(), JwtError> {
    if key.alg != alg {
        return Err(JwtError::Header("alg does not match the key"));
    }
    let sig = b64url_decode(s).ok_or(JwtError::Malformed)?;
    let signed = &token[..h.len() + 1 + p.len()];
    key.key
        .verify_sig(signed.as_bytes(), &sig)
        .map_err(|_| JwtError::BadSignature)
}

/// The protected header fields Gatehouse reads.
#[derive(Clone, Debug, Deserialize)]
pub struct Header {
    /// Algorithm.
    pub alg: String,
    /// Key id.
    pub kid: Option<String>,
    /// Media type of the token (`at+jwt`, `JWT`).
    pub typ: Option<String>,
    /// Critical extensions; any value is refused.
    pub crit: Option<serde_json::Value>,
    /// Key URL; refused.
    pub jku: Option<serde_json::Value>,
    /// Embedded key; refused.
    pub jwk: Option<serde_json::Value>,
    /// Certificate URL; refused.
    pub x5u: Option<serde_json::Value>,
}

/// Why a JWT was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    #[error("malformed JWT")]
    Malformed,
    /// `alg`, `typ` or another header field is not acceptable.
    #[error("unacceptable JWT header: {0}")]
    Header(&'static str),
    /// No key with the token's `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
}

/// Longest JWT accepted for verification.
pub const MAX_JWT_LEN: usize = 8192;

/// Verifies a compact JWS against `keys` and returns its header and claims.
///
/// `typ` values are compared case-insensitively with an optional `application/` prefix
/// (RFC 9068 §4 allows `at+jwt` and `application/at+jwt`).
pub fn verify<T: DeserializeOwned>(
    token: &str,
    keys: &[VerifyingKey],
    expected_typ: &str,
) -> Result<(Header, T), JwtError> {
    let (header, h, p, s) = split(token)?;
    let typ = header
        .typ
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if typ.strip_prefix("application/").unwrap_or(&typ) != expected_typ.to_ascii_lowercase() {
        return Err(JwtError::Header("wrong typ"));
    }
    let alg = Algorithm::parse(&header.alg).ok_or(JwtError::Header("alg not allowed"))?;
    let kid = header.kid.as_deref().ok_or(JwtError::UnknownKey)?;
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or(JwtError::UnknownKey)?;
    check_signature(key, alg, token, h, p, s)?;
    let claims = b64url_decode(p)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    Ok((header, claims))
}

/// The `kid` of a compact JWS, without verifying anything (to pick a key set).
pub fn peek_kid(token: &str) -> Option<String> {
    let h = token.split('.').next()?;
    let header: Header = serde_json::from_slice(&b64url_decode(h)?).ok()?;
    header.kid
}

/// OIDC Core §3.1.3.6 `at_hash`: base64url of the left half of SHA-256 of the access token
/// (both ES256 and RS256 use SHA-256).
pub fn at_hash(access_token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
    b64url(&d.as_ref()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn key(alg: Algorithm, kid: &str) -> SigningKey {
        SigningKey::from_pkcs8(kid, alg, &SigningKey::generate_pkcs8(alg).unwrap()).unwrap()
    }

    fn forge(header: Value, claims: Value, sig: &str) -> String {
        format!(
            "{}.{}.{sig}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn sign_and_verify_both_algorithms() {
        for alg in [Algorithm::ES256, Algorithm::RS256] {
            let k = key(alg, "k1");
            let vk = VerifyingKey::from_jwk(&k.public_jwk()).unwrap();
            let jwt = k.sign_jwt("at+jwt", &json!({"sub": "alice"})).unwrap();
            let (h, c): (Header, Value) =
                verify(&jwt, std::slice::from_ref(&vk), "at+jwt").unwrap();
            assert_eq!(h.alg, alg.as_str());
            assert_eq!(c["sub"], "alice");
            assert_eq!(
                verify::<Value>(&jwt, std::slice::from_ref(&vk), "jwt").unwrap_err(),
                JwtError::Header("wrong typ")
            );
            // tampered payload
            let mut parts: Vec<&str> = jwt.split('.').collect();
            let evil = b64url(br#"{"sub":"mallory"}"#);
            parts[1] = &evil;
            assert_eq!(
                verify::<Value>(&parts.join("."), &[vk], "at+jwt").unwrap_err(),
                JwtError::BadSignature
            );
        }
    }

    #[test]
    fn refuses_dangerous_headers() {
        let k = key(Algorithm::ES256, "k1");
        let vk = VerifyingKey::from_jwk(&k.public_jwk()).unwrap();
        let claims = json!({"sub": "x"});
        let cases = [
            json!({"alg": "none", "kid": "k1", "typ": "at+jwt"}),
            json!({"alg": "HS256", "kid": "k1", "typ": "at+jwt"}),
            json!({"alg": "RS256", "kid": "k1", "typ": "at+jwt"}), // alg confusion with the key
            json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt", "jku": "https://evil"}),
            json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt", "crit": ["exp"]}),
            json!({"alg": "ES256", "kid": "other", "typ": "at+jwt"}),
            json!({"alg": "ES256", "typ": "at+jwt"}),
        ];
        for h in cases {
            assert!(
                verify::<Value>(
                    &forge(h.clone(), claims.clone(), "AAAA"),
                    std::slice::from_ref(&vk),
                    "at+jwt"
                )
                .is_err(),
                "{h}"
            );
        }
    }

    #[test]
    fn typ_accepts_application_prefix() {
        let k = key(Algorithm::ES256, "k1");
        let vk = VerifyingKey::from_jwk(&k.public_jwk()).unwrap();
        let jwt = k.sign_jwt("application/at+jwt", &json!({})).unwrap();
        assert!(verify::<Value>(&jwt, &[vk], "at+jwt").is_ok());
    }

    #[test]
    fn client_jwks_without_alg_or_kid_verify_assertions() {
        let k = key(Algorithm::ES256, "client-key");
        let mut jwk = serde_json::to_value(k.public_jwk()).unwrap();
        let obj = jwk.as_object_mut().unwrap();
        obj.remove("alg");
        obj.remove("use");
        let vk = VerifyingKey::from_client_jwk(&jwk).unwrap();
        let jwt = k.sign_jwt("JWT", &json!({"iss": "c"})).unwrap();
        let (_, claims) = verify_assertion(&jwt, std::slice::from_ref(&vk)).unwrap();
        assert_eq!(claims["iss"], "c");
        let other = key(Algorithm::ES256, "client-key");
        let forged = other.sign_jwt("JWT", &json!({"iss": "c"})).unwrap();
        assert_eq!(
            verify_assertion(&forged, &[vk]).unwrap_err(),
            JwtError::BadSignature
        );
        assert!(VerifyingKey::from_client_jwk(&json!({"kty": "oct", "k": "AAAA"})).is_err());
        assert!(VerifyingKey::from_client_jwk(&json!({"kty": "EC", "use": "enc"})).is_err());
    }

    #[test]
    fn at_hash_matches_oidc_example() {
        // OIDC Core A.3 example: access_token jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y, at_hash (RS256) 77QmUPtjPfzWtF2AnpK9RQ
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
