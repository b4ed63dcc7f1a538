//! The central's PostgreSQL: a connection pool and the add-only migrations.

use anyhow::{bail, Context, Result};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use kiosk_sync::fingerprint as digest;
use tokio_postgres::NoTls;

use crate::clock::Clock;

/// The migrations, in the order they apply.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../migrations/0001_init.sql")),
    (
        "0002_station_crls",
        include_str!("../migrations/0002_station_crls.sql"),
    ),
    ("0003_audit", include_str!("../migrations/0003_audit.sql")),
    (
        "0004_directory",
        include_str!("../migrations/0004_directory.sql"),
    ),
    (
        "0005_station_masters",
        include_str!("../migrations/0005_station_masters.sql"),
    ),
    (
        "0006_disclosures",
        include_str!("../migrations/0006_disclosures.sql"),
    ),
];

/// A pool on `url` (a libpq URL or key=value string).
pub fn pool(url: &str, size: usize) -> Result<Pool> {
    let cfg: tokio_postgres::Config = url
        .parse()
        .context("CENTRAL_DATABASE_URL is not a valid PostgreSQL URL")?;
    let mgr = Manager::from_config(
        cfg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(mgr).max_size(size).build()?)
}

/// Applies the migrations not yet applied; refuses one changed after it
/// was applied.
pub async fn migrate(pool: &Pool, clock: &Clock) -> Result<()> {
    let mut client = pool.get().await.context("cannot connect to PostgreSQL")?;
    let tx = client.transaction().await?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(4242);
         CREATE TABLE IF NOT EXISTS schema_migrations (
             name text PRIMARY KEY, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    for (name, sql) in MIGRATIONS {
        let sum = digest(sql.as_bytes());
        let row = tx
            .query_opt(
                "SELECT sha256 FROM schema_migrations WHERE name = $1",
                &[name],
            )
            .await?;
        match row {
            Some(r) if r.get::<_, String>(0) == sum => {}
            Some(_) => bail!("migration {name} was changed after it was applied"),
            None => {
                tx.batch_execute(sql)
                    .await
                    .with_context(|| format!("migration {name}"))?;
                tx.execute(
                    "INSERT INTO schema_migrations (name, sha256, applied_at) VALUES ($1, $2, $3)",
                    &[name, &sum, &clock.now()],
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}
