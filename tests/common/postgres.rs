//! PostgreSQL: throw-away databases on the test PostgreSQL server.
//!
//! PostgreSQL mode: `STOWAGE_TEST_INDEX=postgres` runs every server of the suite on a fresh
//! PostgreSQL database (server from `STOWAGE_TEST_POSTGRES_URL`, by default the local one).
//! Clusters and outage tests make their own with [`TestDatabase::create`].

use std::process::Command;

use super::server::uuid_like_suffix;

pub struct TestDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

fn psql(url: &str, sql: &str) -> std::process::Output {
    Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("psql (PostgreSQL client) is needed in PostgreSQL mode")
}

impl TestDatabase {
    pub(super) fn create_if_requested() -> Option<TestDatabase> {
        if !std::env::var("STOWAGE_TEST_INDEX")
            .ok()?
            .eq_ignore_ascii_case("postgres")
        {
            return None;
        }
        let admin_url = std::env::var("STOWAGE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("stowage_rest_{}_{}", std::process::id(), uuid_like_suffix());
        let out = psql(&admin_url, &format!("CREATE DATABASE {name}"));
        assert!(
            out.status.success(),
            "CREATE DATABASE failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let scheme_end = admin_url.find("://").map(|i| i + 3).unwrap_or(0);
        let path_start = admin_url[scheme_end..]
            .find('/')
            .map(|i| i + scheme_end)
            .unwrap_or(admin_url.len());
        let url = format!("{}/{name}", &admin_url[..path_start]);
        Some(TestDatabase {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// The administration URL of the test PostgreSQL server (`STOWAGE_TEST_POSTGRES_URL`).
pub fn postgres_admin_url() -> String {
    std::env::var("STOWAGE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".to_owned())
}

impl TestDatabase {
    /// A fresh throw-away database, whatever `STOWAGE_TEST_INDEX` says; dropped on drop.
    pub fn create() -> TestDatabase {
        let admin_url = postgres_admin_url();
        let name = format!(
            "stowage_cluster_{}_{}",
            std::process::id(),
            uuid_like_suffix()
        );
        let out = psql(&admin_url, &format!("CREATE DATABASE {name}"));
        assert!(
            out.status.success(),
            "CREATE DATABASE failed (is PostgreSQL running on {admin_url}?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = database_url(&admin_url, &name);
        TestDatabase {
            admin_url,
            name,
            url,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of this database on another host and port (e.g. a proxy in front of it).
    pub fn url_via(&self, host: &str, port: u16) -> String {
        let scheme_end = self.url.find("://").map(|i| i + 3).unwrap_or(0);
        let rest = &self.url[scheme_end..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let user = authority.rfind('@').map(|i| &authority[..=i]).unwrap_or("");
        format!(
            "{}{user}{host}:{port}{}",
            &self.url[..scheme_end],
            &rest[authority_end..]
        )
    }

    /// Runs SQL on this database with `psql -At` and returns its standard output.
    pub fn query(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                self.url.as_str(),
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-At",
                "-c",
                sql,
            ])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

fn database_url(admin_url: &str, name: &str) -> String {
    let scheme_end = admin_url.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = admin_url[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(admin_url.len());
    format!("{}/{name}", &admin_url[..path_start])
}
