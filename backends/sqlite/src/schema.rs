//! Numbered migrations from `schema/sqlite/`, tracked with `PRAGMA user_version`.

use rusqlite::Connection;
use stowage_core::IndexError;

use crate::sql_error;

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[include_str!("../../../schema/sqlite/001_initial.sql")];

pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub fn migrate(conn: &mut Connection) -> Result<(), IndexError> {
    let current: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql_error)?;
    if current > SCHEMA_VERSION {
        return Err(IndexError::Schema(format!(
            "the index has schema version {current}, newer than this Stowage ({SCHEMA_VERSION})"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction().map_err(sql_error)?;
        tx.execute_batch(sql)
            .map_err(|e| IndexError::Schema(format!("migration {}: {e}", i + 1)))?;
        tx.pragma_update(None, "user_version", (i + 1) as u32)
            .map_err(sql_error)?;
        tx.commit().map_err(sql_error)?;
        tracing::info!("SQLite index schema upgraded to version {}", i + 1);
    }
    Ok(())
}
