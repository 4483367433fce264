//! PostgreSQL: the one place Percept keeps state, so any number of `percept`
//! processes can share a database.

pub mod binary_copy;
pub mod cluster;

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// The schema, embedded from `migrations/` at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Opens a pool and brings the schema up to date.
pub async fn connect(options: PgConnectOptions) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        // No ping before every use: it would add a round trip to each
        // judgment. A connection broken by a database restart fails its next
        // query instead, which answers 503 and is dropped from the pool.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .context("cannot connect to PostgreSQL")?;
    MIGRATOR
        .run(&pool)
        .await
        .context("cannot apply the database migrations")?;
    Ok(pool)
}

/// The newest migration applied to the database behind `pool`.
pub async fn schema_version(pool: &PgPool) -> crate::Result<Option<i64>> {
    Ok(
        sqlx::query_scalar!("SELECT max(version) FROM _sqlx_migrations")
            .fetch_one(pool)
            .await?,
    )
}
