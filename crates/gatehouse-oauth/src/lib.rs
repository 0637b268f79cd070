//! Gatehouse protocol core: the rules of OAuth 2.1, OpenID Connect and MCP authorization as
//! types and pure functions.
//!
//! Invariants: this crate performs no I/O, never reads the clock and never draws random
//! numbers for protocol values; time and randomness are arguments. (Signature generation
//! uses the crypto library's internal randomness, as ECDSA requires.) Types that would be
//! dangerous to hold invalid values — [`redirect::VerifiedRedirect`],
//! [`resource::ResourceUri`], [`scope::ScopeSet`], [`pkce::CodeChallenge`],
//! [`secret::Secret`] — can only be built by the functions that check them.

pub mod authorize;
pub mod cimd;
pub mod claims;
pub mod client;
pub mod error;
pub mod jose;
pub mod metadata;
pub mod params;
pub mod pkce;
pub mod redirect;
pub mod resource;
pub mod scope;
pub mod secret;

pub use error::{ErrorCode, OAuthError};
