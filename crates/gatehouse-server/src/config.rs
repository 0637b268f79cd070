//! Server configuration: documented data. Every field has a default; `gatehouse serve`
//! merges, in increasing priority, defaults, the TOML file (`--config`), `GATEHOUSE_*`
//! environment variables and command-line flags.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ratelimit::Rate;

/// The whole configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Socket address to listen on. Default `127.0.0.1:8080`. Env `GATEHOUSE_LISTEN`.
    pub listen: String,
    /// Public base URL of the server, as clients reach it (the `dev` issuer and the base of
    /// path-based issuers). Default `http://<listen>`. Env `GATEHOUSE_PUBLIC_URL`.
    pub public_url: Option<String>,
    /// Directory of the embedded SQLite database and the master key.
    /// Default `./gatehouse-data`. Env `GATEHOUSE_DATA_DIR`.
    pub data_dir: PathBuf,
    /// Log filter (tracing `EnvFilter` syntax). Default `info`. Env `GATEHOUSE_LOG`.
    pub log: String,
    /// Rate limits.
    pub rate_limits: RateLimits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            public_url: None,
            data_dir: PathBuf::from("gatehouse-data"),
            log: "info".to_owned(),
            rate_limits: RateLimits::default(),
        }
    }
}

/// Request rate limits; `per_minute = 0` disables one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Token endpoint, per client id. Default 600/min, burst 100.
    pub token_per_client: Rate,
    /// Token endpoint, per IP address. Default 1200/min, burst 200.
    pub token_per_ip: Rate,
    /// Registrations that create a new client, per IP address. Default 30/min, burst 20.
    pub register_per_ip: Rate,
    /// Registrations of one client (identical metadata), per registration fingerprint: clients
    /// such as Claude register on every connection from shared addresses. Default 600/min, burst 100.
    pub register_per_fingerprint: Rate,
    /// Client ID Metadata Document fetches per host. Default 60/min, burst 20.
    pub cimd_fetch_per_host: Rate,
    /// Login attempts per IP address. Default 30/min, burst 20.
    pub login_per_ip: Rate,
    /// Login attempts per account (email). Default 10/min, burst 5.
    pub login_per_account: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            token_per_client: Rate::new(600, 100),
            token_per_ip: Rate::new(1200, 200),
            register_per_ip: Rate::new(30, 20),
            register_per_fingerprint: Rate::new(600, 100),
            cimd_fetch_per_host: Rate::new(60, 20),
            login_per_ip: Rate::new(30, 20),
            login_per_account: Rate::new(10, 5),
        }
    }
}

impl Config {
    /// Parses a TOML file's text; unknown fields are errors.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The public URL, defaulting to `http://<listen>`.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }

    /// Every problem at once, as `field: message` lines.
    pub fn validate(&self) -> Result<url::Url, Vec<String>> {
        let mut problems = Vec::new();
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "listen: {:?} is not a socket address like 127.0.0.1:8080",
                self.listen
            ));
        }
        let public = self.public_url();
        let parsed = url::Url::parse(&public);
        match &parsed {
            Ok(u) if !matches!(u.scheme(), "http" | "https") => {
                problems.push(format!("public_url: {public:?} must be http or https"))
            }
            Ok(u) if u.query().is_some() || u.fragment().is_some() => problems.push(format!(
                "public_url: {public:?} must not have a query or fragment (RFC 8414 §2)"
            )),
            Ok(_) => {}
            Err(_) => problems.push(format!("public_url: {public:?} is not an absolute URL")),
        }
        match parsed {
            Ok(u) if problems.is_empty() => Ok(u),
            _ => Err(problems),
        }
    }
}
