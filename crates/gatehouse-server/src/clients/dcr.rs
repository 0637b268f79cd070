//! Self-contained dynamic registrations (RFC 7591 §A.5.2, "stateless client registration").
//!
//! A dynamically registered client's `client_id` carries its registration, signed with a key
//! of its environment derived from the master key:
//!
//! ```text
//! ghd_<base64url(JSON payload)>.<base64url(first 16 bytes of HMAC-SHA256)>
//! ```
//!
//! so the client keeps working when its database row is lost (restore from an old backup, a
//! replica lagging behind, never-used rows garbage-collected). The row only adds what must be
//! mutable: disabled, last use, how many identical registrations it stands for. A confidential
//! client's secret is derived from its client_id the same way and never stored.
//! Identical registrations (same software, name, redirect URIs, grants, authentication)
//! share one *logical* client, `dcr_<fingerprint>`, which is what operators see and disable.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_oauth::client::ClientMetadata;
use gatehouse_oauth::secret::{Secret, b64url};
use serde::{Deserialize, Serialize};

use crate::crypto::{MasterKey, random_bytes};

/// Prefix of self-contained client ids.
pub const PREFIX: &str = "ghd_";
/// Prefix of logical dynamic client ids.
pub const LOGICAL_PREFIX: &str = "dcr_";
/// Longest client_id issued (request parameters are capped at 4096 bytes).
pub const MAX_ID_LEN: usize = 3000;
const TAG_LEN: usize = 16;

/// What a self-contained client_id carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Format version.
    pub v: u8,
    /// Environment.
    pub env: String,
    /// Logical client.
    pub logical: String,
    /// Issued at.
    pub iat: i64,
    /// Makes every registration's id unique.
    pub nonce: String,
    /// The registration's metadata, without display-only fields.
    pub meta: ClientMetadata,
}

/// Why a presented `ghd_` client_id was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not of the form.
    Malformed,
    /// The signature is not this environment's; `Some(env)` when it is another environment's.
    WrongEnvironment(Option<String>),
}

/// The logical id of a registration: a fingerprint of what makes two registrations the
/// same client.
pub fn logical_id(env_id: &str, m: &ClientMetadata) -> String {
    let mut redirects = m.redirect_uris.clone();
    redirects.sort();
    let mut grants = m.grant_types.clone();
    grants.sort();
    let canonical = serde_json::json!([
        env_id,
        m.software_id,
        m.client_name,
        redirects,
        grants,
        m.token_endpoint_auth_method,
        m.application_type,
        m.scope,
        m.jwks,
        m.jwks_uri,
        m.id_token_signed_response_alg,
    ])
    .to_string();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    format!("{LOGICAL_PREFIX}{}", b64url(&digest.as_ref()[..15]))
}

/// Display-only metadata stays in the database row, keeping client_ids short.
fn essential(m: &ClientMetadata) -> ClientMetadata {
    ClientMetadata {
        client_uri: None,
        logo_uri: None,
        tos_uri: None,
        policy_uri: None,
        contacts: Vec::new(),
        software_version: None,
        ..m.clone()
    }
}

/// Issues a client_id for a registration. `None` when it would be too long (inline keys).
pub fn issue(
    master: &MasterKey,
    env_id: &str,
    meta: &ClientMetadata,
    now: i64,
) -> Option<(String, Registration)> {
    let reg = Registration {
        v: 1,
        env: env_id.to_owned(),
        logical: logical_id(env_id, meta),
        iat: now,
        nonce: b64url(&random_bytes::<9>()),
        meta: essential(meta),
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&reg).ok()?);
    let tag = master.registration_tag(env_id, "client_id", payload.as_bytes());
    let id = format!("{PREFIX}{payload}.{}", b64url(&tag[..TAG_LEN]));
    (id.len() <= MAX_ID_LEN).then_some((id, reg))
}

/// Verifies a `ghd_` client_id for `env_id`; `other_envs` are tried to explain a refusal.
pub fn verify(
    master: &MasterKey,
    env_id: &str,
    client_id: &str,
    other_envs: &[&str],
) -> Result<Registration, Refused> {
    let rest = client_id.strip_prefix(PREFIX).ok_or(Refused::Malformed)?;
    let (payload, tag) = rest.split_once('.').ok_or(Refused::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| Refused::Malformed)?;
    let valid_for = |env: &str| {
        let expected = master.registration_tag(env, "client_id", payload.as_bytes());
        aws_lc_rs::constant_time::verify_slices_are_equal(&expected[..TAG_LEN], &tag).is_ok()
    };
    if !valid_for(env_id) {
        return Err(Refused::WrongEnvironment(
            other_envs
                .iter()
                .find(|e| valid_for(e))
                .map(|e| (*e).to_owned()),
        ));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Refused::Malformed)?;
    let reg: Registration = serde_json::from_slice(&bytes).map_err(|_| Refused::Malformed)?;
    if reg.env != env_id || reg.v != 1 {
        return Err(Refused::Malformed);
    }
    Ok(reg)
}

/// The secret of a confidential dynamic client, derived from its client_id.
pub fn secret(master: &MasterKey, env_id: &str, client_id: &str) -> Secret {
    let tag = master.registration_tag(env_id, "client_secret", client_id.as_bytes());
    Secret::from_random("ghs_", tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master(byte: u8) -> MasterKey {
        MasterKey::from_text(&b64url(&[byte; 32])).unwrap()
    }

    fn meta(name: &str) -> ClientMetadata {
        gatehouse_oauth::client::RegistrationRequest::from_json(
            serde_json::json!({"client_name": name, "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none",
                               "logo_uri": "https://x.example/logo.png"})
                .to_string()
                .as_bytes(),
        )
        .unwrap()
        .validate(gatehouse_oauth::redirect::RedirectPolicy::Development)
        .unwrap()
    }

    #[test]
    fn ids_round_trip_and_are_unique_per_registration() {
        let m = master(1);
        let (a, reg) = issue(&m, "dev", &meta("App"), 100).unwrap();
        let (b, _) = issue(&m, "dev", &meta("App"), 100).unwrap();
        assert_ne!(a, b, "each registration gets its own id");
        assert_eq!(verify(&m, "dev", &a, &[]).unwrap(), reg);
        assert_eq!(
            reg.logical,
            logical_id("dev", &meta("App")),
            "same logical client"
        );
        assert_ne!(reg.logical, logical_id("dev", &meta("Other")));
        assert!(
            reg.meta.logo_uri.is_none(),
            "display-only fields stay out of the id"
        );
        assert!(a.len() < 600, "{}", a.len());
    }

    #[test]
    fn tampering_and_foreign_environments_are_refused() {
        let m = master(1);
        let (id, _) = issue(&m, "prod", &meta("App"), 100).unwrap();
        assert_eq!(
            verify(&m, "dev", &id, &["prod"]),
            Err(Refused::WrongEnvironment(Some("prod".into())))
        );
        assert_eq!(
            verify(&master(2), "prod", &id, &[]),
            Err(Refused::WrongEnvironment(None)),
            "another master key"
        );
        let mut forged = id.clone();
        forged.insert(10, 'x');
        assert!(verify(&m, "prod", &forged, &[]).is_err());
        assert_eq!(
            verify(&m, "prod", "ghd_nodot", &[]),
            Err(Refused::Malformed)
        );
    }

    #[test]
    fn secrets_are_derived_per_client_and_environment() {
        let m = master(1);
        assert_eq!(secret(&m, "dev", "ghd_a"), secret(&m, "dev", "ghd_a"));
        assert_ne!(secret(&m, "dev", "ghd_a"), secret(&m, "dev", "ghd_b"));
        assert_ne!(secret(&m, "dev", "ghd_a"), secret(&m, "prod", "ghd_a"));
    }
}
