//! Randomness, identifiers, sealing with the master key, password hashing and CSRF tokens.
//! The one place the server draws random numbers.

use std::fmt;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use gatehouse_oauth::secret::{Secret, b64url, b64url_decode};

/// Fills a fixed-size array with random bytes.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .expect("the system RNG failed");
    b
}

/// A new secret (256 bits) with a recognisable prefix.
pub fn new_secret(prefix: &str) -> Secret {
    Secret::from_random(prefix, random_bytes::<32>())
}

/// A new secret (256 bits) whose stored hash sorts by creation time ([`Secret::ordered`]):
/// for records looked up by hash and written often (refresh tokens, authorization codes),
/// so their index grows at its end.
pub fn new_ordered_secret(prefix: &str) -> Secret {
    Secret::ordered(prefix, now_ms(), random_bytes::<32>())
}

/// Milliseconds since the epoch, by the system clock.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A new identifier (`usr_…`, `res_…`): 128 random bits, base64url.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", b64url(&random_bytes::<16>()))
}

/// A new correlation id (`tk_…`, `ar_…`): the time in milliseconds as 11 lowercase hex
/// digits, then 128 random bits in base64url. Ids of one prefix sort by creation time, so
/// the authentication log's correlation index grows at its end: with random ids each log
/// row dirtied a different index page, and every commit wrote (and every checkpoint copied)
/// one 4 KiB page per row.
pub fn new_correlation_id(prefix: &str) -> String {
    format!("{prefix}{:011x}{}", now_ms(), b64url(&random_bytes::<16>()))
}

/// Why the master key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// Reading or writing the key file failed.
    #[error("master key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key is not 32 bytes of base64url.
    #[error("the master key must be 32 bytes encoded as base64url (43 characters)")]
    Malformed,
}

/// The server's master key. It seals signing keys and refresh-token successors at rest and
/// keys the CSRF tokens. Every node of a deployment must share it.
#[derive(Clone)]
pub struct MasterKey {
    seal: std::sync::Arc<LessSafeKey>,
    csrf: hmac::Key,
    registration: hmac::Key,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Loads `GATEHOUSE_MASTER_KEY` if given, else `<data_dir>/master.key`, creating the file
    /// (mode 0600) on first use.
    pub fn load_or_create(data_dir: &Path, from_env: Option<&str>) -> Result<Self, MasterKeyError> {
        if let Some(v) = from_env {
            return Self::from_text(v.trim());
        }
        let path = data_dir.join("master.key");
        let io = |source| MasterKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_text(text.trim()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let text = b64url(&random_bytes::<32>());
                write_private(&path, &text).map_err(io)?;
                Self::from_text(&text)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Builds a key from its text form.
    pub fn from_text(text: &str) -> Result<Self, MasterKeyError> {
        let raw = b64url_decode(text)
            .filter(|b| b.len() == 32)
            .ok_or(MasterKeyError::Malformed)?;
        Ok(Self::from_bytes(&raw))
    }

    fn from_bytes(raw: &[u8]) -> Self {
        // Derive one key per purpose so no key is used for two things.
        let root = hmac::Key::new(hmac::HMAC_SHA256, raw);
        let seal_bytes = hmac::sign(&root, b"gatehouse seal v1");
        let csrf_bytes = hmac::sign(&root, b"gatehouse csrf v1");
        let registration_bytes = hmac::sign(&root, b"gatehouse registration v1");
        let seal = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, seal_bytes.as_ref()).expect("32-byte AES key"),
        );
        Self {
            seal: std::sync::Arc::new(seal),
            csrf: hmac::Key::new(hmac::HMAC_SHA256, csrf_bytes.as_ref()),
            registration: hmac::Key::new(hmac::HMAC_SHA256, registration_bytes.as_ref()),
        }
    }

    /// Encrypts `plain` with AES-256-GCM; `context` is authenticated (binds the ciphertext to
    /// its purpose, e.g. a key id).
    pub fn seal(&self, context: &str, plain: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut buf = plain.to_vec();
        self.seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .expect("AES-GCM sealing cannot fail for in-memory buffers");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        out
    }

    /// Decrypts what [`MasterKey::seal`] produced with the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = body.to_vec();
        let plain = self
            .seal
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .ok()?;
        Some(plain.to_vec())
    }

    /// The CSRF token for one pending authorization in one browser.
    pub fn csrf_token(&self, request_handle: &str, browser: &str) -> String {
        let tag = hmac::sign(
            &self.csrf,
            format!("{request_handle}\u{0}{browser}").as_bytes(),
        );
        b64url(tag.as_ref())
    }

    /// A MAC binding `data` to a dynamic registration in environment `env_id` (stateless
    /// client ids and the secrets derived from them, RFC 7591 §A.5.2).
    pub fn registration_tag(&self, env_id: &str, purpose: &str, data: &[u8]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.registration);
        for part in [env_id.as_bytes(), b"\0", purpose.as_bytes(), b"\0", data] {
            ctx.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// Constant-time check of a CSRF token.
    pub fn csrf_valid(&self, request_handle: &str, browser: &str, token: &str) -> bool {
        let expected = self.csrf_token(request_handle, browser);
        aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), token.as_bytes())
            .is_ok()
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// argon2id with the OWASP minimum parameters (m = 19 MiB, t = 2, p = 1). Only user
/// passwords are hashed this way; machine-generated secrets use SHA-256.
pub mod password {
    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};

    fn hasher() -> Argon2<'static> {
        Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params"),
        )
    }

    /// Hashes a password into a PHC string.
    pub fn hash(password: &str) -> String {
        let salt = SaltString::encode_b64(&super::random_bytes::<16>()).expect("16-byte salt");
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .expect("argon2 hashing")
            .to_string()
    }

    /// Verifies a password against a PHC string.
    pub fn verify(password: &str, phc: &str) -> bool {
        PasswordHash::new(phc)
            .is_ok_and(|h| hasher().verify_password(password.as_bytes(), &h).is_ok())
    }

    /// A hash of a random password, verified against when the user does not exist so that
    /// unknown and known emails take the same time.
    pub fn dummy_hash() -> &'static str {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        DUMMY.get_or_init(|| hash(&super::new_id("dummy_")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_sort_by_creation_time_and_stay_unguessable() {
        let first = new_correlation_id("tk_");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later: Vec<String> = (0..100).map(|_| new_correlation_id("tk_")).collect();
        for id in &later {
            assert!(id.starts_with("tk_"), "{id}");
            assert_eq!(id.len(), 3 + 11 + 22, "{id}");
            assert!(id[3..14].bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
            assert!(*id > first, "{id} sorts after {first}");
        }
        let distinct: std::collections::HashSet<&String> = later.iter().collect();
        assert_eq!(distinct.len(), later.len(), "128 random bits each");
    }

    #[test]
    fn seal_round_trip_is_bound_to_context() {
        let k = MasterKey::from_text(&b64url(&[9u8; 32])).unwrap();
        let sealed = k.seal("kid-1", b"private");
        assert_eq!(k.open("kid-1", &sealed).as_deref(), Some(&b"private"[..]));
        assert_eq!(k.open("kid-2", &sealed), None);
        let other = MasterKey::from_text(&b64url(&[8u8; 32])).unwrap();
        assert_eq!(other.open("kid-1", &sealed), None);
    }

    #[test]
    fn csrf_token_is_bound_to_request_and_browser() {
        let k = MasterKey::from_text(&b64url(&[1u8; 32])).unwrap();
        let t = k.csrf_token("req", "browser");
        assert!(k.csrf_valid("req", "browser", &t));
        assert!(!k.csrf_valid("req2", "browser", &t));
        assert!(!k.csrf_valid("req", "browser2", &t));
    }

    #[test]
    fn password_hash_verifies() {
        let h = password::hash("correct horse");
        assert!(password::verify("correct horse", &h));
        assert!(!password::verify("wrong", &h));
        assert!(h.starts_with("$argon2id$"));
    }
}
