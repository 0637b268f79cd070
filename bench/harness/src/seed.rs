//! Growth seeding without HTTP: N more clients (each with a secret), N grants each with a
//! live refresh token, and N authentication-log rows, shaped like the ones the server
//! writes. One row of each kind is written through the store API, then copied N-1 times
//! with one `INSERT … SELECT` per table (unique columns suffixed); log rows go through the
//! store API in batches. Run it while the server is stopped: the copy is one transaction.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use clap::Args;
use gatehouse_oauth::secret::{SecretHash, b64url};
use gatehouse_store::{
    AuditEvent, ClientRecord, ClientSecretRecord, GrantRecord, RefreshTokenRecord, Store,
};
use gatehouse_store_sqlite::SqliteStore;
use serde_json::json;

use crate::results;

/// `gatehouse-bench seed`.
#[derive(Debug, Args)]
pub(crate) struct SeedArgs {
    /// The Gatehouse data directory (its `gatehouse.db`).
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long, default_value = "dev")]
    env: String,
    /// A client whose metadata the new clients copy.
    #[arg(long)]
    template_client: String,
    /// Clients to add.
    #[arg(long, default_value_t = 0)]
    clients: u64,
    /// Grants with a refresh token each to add.
    #[arg(long, default_value_t = 0)]
    tokens: u64,
    /// Log rows to add.
    #[arg(long, default_value_t = 0)]
    events: u64,
    /// Record the seeding time here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Label of this step in the report.
    #[arg(long, default_value = "seed")]
    label: String,
}

fn random_text(rng: &SystemRandom) -> Result<String> {
    let mut raw = [0u8; 16];
    rng.fill(&mut raw).map_err(|_| anyhow!("no randomness"))?;
    Ok(b64url(&raw))
}

pub(crate) fn run(a: &SeedArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(seed(a))
}

async fn seed(a: &SeedArgs) -> Result<()> {
    let t0 = Instant::now();
    let db = a.data_dir.join("gatehouse.db");
    let store = SqliteStore::open(&db).map_err(|e| anyhow!("opening the store: {e}"))?;
    let store: Arc<dyn Store> = Arc::new(store);
    let template = store
        .get_client(&a.env, &a.template_client)
        .await
        .map_err(|e| anyhow!("{e}"))?
        .context("template client not found")?;
    let resource = store
        .list_resources(&a.env)
        .await
        .map_err(|e| anyhow!("{e}"))?
        .into_iter()
        .next()
        .context("no MCP server registered")?;
    let user = store
        .list_users(&a.env)
        .await
        .map_err(|e| anyhow!("{e}"))?
        .into_iter()
        .next()
        .context("no user")?;
    let rng = SystemRandom::new();
    let run_id = random_text(&rng)?.replace('-', "x");
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;

    // One of each row, written through the store API (its encoding, its constraints).
    let client_id = format!("seed_{run_id}");
    let grant_id = format!("gr_seed_{run_id}");
    let refresh_hash = SecretHash::of(&random_text(&rng)?);
    if a.clients > 0 {
        let client = ClientRecord {
            client_id: client_id.clone(),
            created_at: now,
            last_used_at: None,
            disabled: false,
            registrations: 1,
            ..template.clone()
        };
        let secret = ClientSecretRecord {
            env_id: a.env.clone(),
            client_id: client_id.clone(),
            hash: SecretHash::of(&random_text(&rng)?),
            created_at: now,
            expires_at: None,
        };
        store
            .create_client(&client, &[secret])
            .await
            .map_err(|e| anyhow!("{e}"))?;
    }
    if a.tokens > 0 {
        let grant = GrantRecord {
            id: grant_id.clone(),
            env_id: a.env.clone(),
            client_id: template.client_id.clone(),
            user_id: user.id.clone(),
            resource_id: resource.id.clone(),
            scope: "mcp:tools".into(),
            auth_time: now,
            correlation_id: format!("ar_seed_{run_id}"),
            created_at: now,
            revoked_at: None,
            revoked_reason: None,
        };
        let refresh = RefreshTokenRecord {
            hash: refresh_hash.clone(),
            env_id: a.env.clone(),
            grant_id: grant.id.clone(),
            client_id: template.client_id.clone(),
            scope: grant.scope.clone(),
            created_at: now,
            expires_at: now + 30 * 86_400,
            rotated_at: None,
            successor_hash: None,
            revoked_at: None,
        };
        store
            .create_grant(&grant)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        store
            .create_refresh(&refresh)
            .await
            .map_err(|e| anyhow!("{e}"))?;
    }

    // Then copies of them, one INSERT … SELECT per table: one store call per row (a
    // transaction each) would take minutes per million rows.
    let t_copy = Instant::now();
    let copies = |n: u64| n.saturating_sub(1);
    let db2 = db.clone();
    let (c, tk, rid) = (a.clients, a.tokens, run_id.clone());
    let (cid, gid, rh) = (
        client_id.clone(),
        grant_id.clone(),
        refresh_hash.as_str().to_owned(),
    );
    tokio::task::spawn_blocking(move || -> Result<()> {
        let mut conn = rusqlite::Connection::open(&db2)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        copy_rows(
            &tx,
            "clients",
            &["client_id"],
            "client_id",
            &cid,
            copies(c),
            &rid,
        )?;
        copy_rows(
            &tx,
            "client_secrets",
            &["client_id", "hash"],
            "client_id",
            &cid,
            copies(c),
            &rid,
        )?;
        copy_rows(
            &tx,
            "grants",
            &["id", "correlation_id"],
            "id",
            &gid,
            copies(tk),
            &rid,
        )?;
        copy_rows(
            &tx,
            "refresh_tokens",
            &["hash", "grant_id"],
            "hash",
            &rh,
            copies(tk),
            &rid,
        )?;
        tx.commit()?;
        Ok(())
    })
    .await??;
    let t_rows = t_copy.elapsed().as_secs_f64();

    // Log rows through the store API, in batches (the call the server's log writer makes).
    let t_ev = Instant::now();
    let batch = 5_000u64;
    let mut done = 0u64;
    while done < a.events {
        let n = batch.min(a.events - done);
        let events: Vec<AuditEvent> = (done..done + n)
            .map(|i| AuditEvent {
                id: 0,
                env_id: a.env.clone(),
                at_ms: now * 1000 - (a.events - i) as i64,
                correlation_id: format!("tk_seed_{run_id}_{i}"),
                event: "token".into(),
                outcome: "success".into(),
                error: None,
                error_detail: None,
                client_id: Some(template.client_id.clone()),
                resource: Some(resource.uri.clone()),
                user_id: None,
                ip: Some("127.0.0.1".into()),
                data: json!({"grant_type": "client_credentials", "client_auth": "client_secret_basic", "scope": "mcp:tools"}),
            })
            .collect();
        store
            .append_events(&events)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        done += n;
    }
    let t_events = t_ev.elapsed().as_secs_f64();
    let total = t0.elapsed().as_secs_f64();
    eprintln!(
        "  seeded {} clients and {} grants+refresh tokens in {t_rows:.1} s, {} log rows in {t_events:.1} s ({total:.1} s in all)",
        a.clients, a.tokens, a.events
    );
    let db_bytes: u64 = ["gatehouse.db", "gatehouse.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(a.data_dir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    if let Some(out) = &a.out {
        results::append(
            out,
            &json!({
                "type": "seed",
                "label": a.label,
                "clients": a.clients,
                "tokens": a.tokens,
                "events": a.events,
                "rows_s": t_rows,
                "events_s": t_events,
                "total_s": total,
                "db_bytes": db_bytes,
            }),
        )?;
    }
    Ok(())
}

/// Inserts `n` copies of the row of `table` whose `key` is `value`, with `unique` columns
/// made distinct (`<value>_<run>_<i>`). Columns are read from the schema, so a migration
/// that adds one is followed; one that renames these fails loudly.
fn copy_rows(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    unique: &[&str],
    key: &str,
    value: &str,
    n: u64,
    run: &str,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let mut stmt = tx.prepare(&format!("PRAGMA table_info({table})"))?;
    let cols: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<rusqlite::Result<_>>()?;
    for u in unique.iter().chain([&key]) {
        if !cols.iter().any(|c| c == u) {
            bail!("{table} has no column {u}: the seeding helper needs updating");
        }
    }
    let select: Vec<String> = cols
        .iter()
        .map(|c| {
            if unique.contains(&c.as_str()) {
                format!("{c} || '_{run}_' || seq.n")
            } else {
                c.clone()
            }
        })
        .collect();
    let sql = format!(
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?1) \
         INSERT INTO {table} ({}) SELECT {} FROM {table}, seq WHERE {table}.{key} = ?2",
        cols.join(", "),
        select.join(", ")
    );
    let inserted = tx.execute(&sql, rusqlite::params![n as i64, value])?;
    if inserted as u64 != n {
        bail!("{table}: {inserted} rows copied, expected {n}");
    }
    Ok(())
}
