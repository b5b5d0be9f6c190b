//! Numbered migrations from `schema/postgres/`, recorded in `StowageSchemaVersion`.
//!
//! Several processes may open an empty or old database at once: each takes the migration
//! advisory lock (waiting for the others), then reads the version and applies what is missing,
//! so exactly one migrates and the others find the schema up to date.

use stowage_core::IndexError;

use crate::{describe, pg_error, LOCK_CLASS, LOCK_MIGRATION};

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../../schema/postgres/001_initial.sql"),
    include_str!("../../../../schema/postgres/002_ordered_changes.sql"),
    include_str!("../../../../schema/postgres/003_publish_by_pending_id.sql"),
];

pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub(crate) async fn migrate(client: &mut deadpool_postgres::Client) -> Result<(), IndexError> {
    client
        .execute(
            "SELECT pg_advisory_lock($1, $2)",
            &[&LOCK_CLASS, &LOCK_MIGRATION],
        )
        .await
        .map_err(pg_error)?;
    let result = migrate_locked(client).await;
    let unlocked = client
        .execute(
            "SELECT pg_advisory_unlock($1, $2)",
            &[&LOCK_CLASS, &LOCK_MIGRATION],
        )
        .await
        .map_err(pg_error);
    result.and(unlocked.map(|_| ()))
}

async fn migrate_locked(client: &mut deadpool_postgres::Client) -> Result<(), IndexError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS StowageSchemaVersion(\
                 version INTEGER PRIMARY KEY, \
                 appliedAt TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(pg_error)?;
    let current: i32 = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM StowageSchemaVersion",
            &[],
        )
        .await
        .map_err(pg_error)?
        .get(0);
    let current = current.max(0) as u32;
    if current > SCHEMA_VERSION {
        return Err(IndexError::Schema(format!(
            "the index has schema version {current}, newer than this Stowage ({SCHEMA_VERSION})"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = (i + 1) as i32;
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.batch_execute(sql)
            .await
            .map_err(|e| IndexError::Schema(format!("migration {version}: {}", describe(&e))))?;
        tx.execute(
            "INSERT INTO StowageSchemaVersion(version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        tracing::info!("PostgreSQL index schema upgraded to version {version}");
    }
    Ok(())
}
