//! Numbered migrations from `schema/sqlite/`, tracked with `PRAGMA user_version`.

use rusqlite::Connection;
use stowage_core::IndexError;

use crate::sql_error;

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../../schema/sqlite/001_initial.sql"),
    include_str!("../../../../schema/sqlite/002_fewer_pages_per_instance.sql"),
];

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

#[cfg(test)]
mod tests {
    use super::*;

    fn table_sql(conn: &Connection, name: &str) -> String {
        conn.query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
            [name],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("table {name}: {e}"))
    }

    /// An index written by version 1 keeps its rows through version 2, in the new tables.
    #[test]
    fn version_1_upgrades_with_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys=ON;").unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO Resources(resourceType, publicId, parentId) VALUES (0, 'p', NULL);
             INSERT INTO MainDicomTags VALUES (1, 16, 32, 'Id-1', 'ID-1');
             INSERT INTO Metadata VALUES (1, 7, '2026', 3);
             INSERT INTO AttachedFiles VALUES (1, 1, 'u', 10, 20, 2, 'a', 'b', 4);
             INSERT INTO Labels VALUES (1, 'urgent');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();

        let version: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        for table in ["MainDicomTags", "Metadata", "AttachedFiles", "Labels"] {
            assert!(
                table_sql(&conn, table).ends_with("WITHOUT ROWID"),
                "{table}: {}",
                table_sql(&conn, table)
            );
        }
        let row: (i64, i64, i64, String, String) = conn
            .query_row("SELECT * FROM MainDicomTags", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap();
        assert_eq!(row, (1, 16, 32, "Id-1".into(), "ID-1".into()));
        let meta: (String, i64) = conn
            .query_row(
                "SELECT value, revision FROM Metadata WHERE id = 1 AND type = 7",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(meta, ("2026".into(), 3));
        let file: (String, i64, i64) = conn
            .query_row(
                "SELECT uuid, compressionType, revision FROM AttachedFiles",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(file, ("u".into(), 2, 4));
        let label: String = conn
            .query_row("SELECT label FROM Labels WHERE id = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(label, "urgent");
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            indexes,
            [
                "ChangesIndex",
                "ChildrenIndex",
                "LabelsIndex",
                "MainDicomTagsNormalized",
                "PatientRecyclingIndex",
                "ResourceTypeIndex"
            ]
        );

        // The foreign keys still cascade from the new tables.
        conn.execute("DELETE FROM Resources WHERE internalId = 1", [])
            .unwrap();
        for table in ["MainDicomTags", "Metadata", "AttachedFiles", "Labels"] {
            let n: i64 = conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0, "{table}");
        }
    }
}
