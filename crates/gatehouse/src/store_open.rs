//! Which store `serve` and the admin commands use: PostgreSQL when a database URL is
//! configured (`--database-url`, `GATEHOUSE_DATABASE_URL`, `database_url`), so several
//! nodes can share it; otherwise the embedded SQLite database in the data directory.
//!
//! The master key comes from `GATEHOUSE_MASTER_KEY` or `<data_dir>/master.key` either way.
//! With SQLite the key file is created on first use, next to the database it belongs to.
//! With PostgreSQL it is never created: the database is shared, and a node (or an operator's
//! CLI) that made up its own key would seal new signing keys that no other node can open.
//! The key is also checked against the signing keys already in the database, so a wrong
//! key is refused before anything is written with it.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use gatehouse_server::clock::{Clock as _, SystemClock};
use gatehouse_server::crypto::MasterKey;
use gatehouse_server::keys::KeyRing;
use gatehouse_store::Store;
use gatehouse_store_postgres::PostgresStore;
use gatehouse_store_sqlite::SqliteStore;

/// The database file inside the data directory.
pub(crate) const DB_FILE: &str = "gatehouse.db";

/// The master key file inside the data directory.
const MASTER_KEY_FILE: &str = "master.key";

/// Connections of an admin command: it runs a few statements one after the other.
pub(crate) const ADMIN_POOL_SIZE: usize = 2;

/// An opened store, its master key, and where it is (for the start-up line).
pub(crate) struct Opened {
    /// The store.
    pub(crate) store: Arc<dyn Store>,
    /// The deployment's master key.
    pub(crate) master: MasterKey,
    /// `SQLite <path>` or `PostgreSQL user@host:port/dbname` (never a password).
    pub(crate) location: String,
}

/// Opens the store and the master key: PostgreSQL at `database_url` with at most
/// `pool_size` connections, or, without a URL, SQLite in `data_dir` (created on first use).
/// Migrates either.
pub(crate) async fn open_store(
    data_dir: &Path,
    database_url: Option<&str>,
    pool_size: usize,
) -> anyhow::Result<Opened> {
    match database_url {
        Some(url) => open_postgres(data_dir, url, pool_size).await,
        None => open_sqlite(data_dir),
    }
}

fn open_sqlite(dir: &Path) -> anyhow::Result<Opened> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))?;
    let path = dir.join(DB_FILE);
    let store = SqliteStore::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let master = MasterKey::load_or_create(dir, env_master_key().as_deref())?;
    Ok(Opened {
        store: Arc::new(store),
        master,
        location: format!("SQLite {}", path.display()),
    })
}

async fn open_postgres(data_dir: &Path, url: &str, pool_size: usize) -> anyhow::Result<Opened> {
    let master = existing_master_key(data_dir)?;
    let store = PostgresStore::connect(url, pool_size)
        .await
        .context("opening the PostgreSQL database (--database-url)")?;
    let location = format!("PostgreSQL {}", store.target());
    let store: Arc<dyn Store> = Arc::new(store);
    check_master_key(store.as_ref(), &master).await?;
    Ok(Opened {
        store,
        master,
        location,
    })
}

fn env_master_key() -> Option<String> {
    std::env::var("GATEHOUSE_MASTER_KEY").ok()
}

/// `GATEHOUSE_MASTER_KEY`, or the key file of the data directory if it exists; never a new
/// key.
fn existing_master_key(data_dir: &Path) -> anyhow::Result<MasterKey> {
    let from_env = env_master_key();
    let file = data_dir.join(MASTER_KEY_FILE);
    if from_env.is_none() && !file.exists() {
        bail!(
            "a shared database needs the deployment's master key: set GATEHOUSE_MASTER_KEY \
             (the same on every node and for the admin commands) or put it in {}. For a new \
             deployment, make one with: head -c 32 /dev/urandom | basenc --base64url | tr -d '='",
            file.display()
        );
    }
    Ok(MasterKey::load_or_create(data_dir, from_env.as_deref())?)
}

/// Refuses a master key that does not open the signing keys already stored.
async fn check_master_key(store: &dyn Store, master: &MasterKey) -> anyhow::Result<()> {
    let now = SystemClock.now();
    for env in store.list_environments().await? {
        let keys = store.list_keys(&env.id, now).await?;
        KeyRing::load(keys, master).with_context(|| {
            format!(
                "the master key does not open the signing keys of environment {:?} in the \
                 database: every node and the admin commands need the deployment's key",
                env.id
            )
        })?;
    }
    Ok(())
}
