//! The PostgreSQL server of the cluster scenario: an admin DSN, and a fresh database per
//! configuration, made and dropped through `psql` (no client library in the harness).

use anyhow::{bail, Context};
use tokio::process::Command;

/// Every database the harness creates has a name with this prefix, and it touches no other.
const PREFIX: &str = "bench_";

pub struct Postgres {
    /// A DSN with the right to create databases, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
    admin: String,
}

/// A database made for one configuration; `Postgres::drop_database` removes it.
pub struct Database {
    pub name: String,
    /// The DSN of this database, for `MEETINGHOOKS_DATABASE_URL`.
    pub url: String,
}

impl Postgres {
    pub fn new(admin: &str) -> anyhow::Result<Postgres> {
        if !(admin.starts_with("postgres://") || admin.starts_with("postgresql://")) {
            bail!("--postgres-url must be a postgres:// URL, got {admin:?}");
        }
        Ok(Postgres {
            admin: admin.to_owned(),
        })
    }

    /// Checks that the server answers, so a wrong DSN fails before any node starts, and
    /// returns its version (e.g. `15.18`).
    pub async fn check(&self) -> anyhow::Result<String> {
        let version = self.psql("SHOW server_version").await?;
        Ok(version
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned())
    }

    /// Creates `bench_<suffix>` (dropping a leftover of that name first) and returns it.
    pub async fn fresh_database(&self, suffix: &str) -> anyhow::Result<Database> {
        let name = format!("{PREFIX}{suffix}");
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            bail!("database name {name:?} is not a plain identifier");
        }
        self.drop_database(&name).await?;
        self.psql(&format!("CREATE DATABASE {name}")).await?;
        let url = with_database(&self.admin, &name);
        Ok(Database { name, url })
    }

    /// Drops a database this harness made, closing the connections left by killed nodes.
    pub async fn drop_database(&self, name: &str) -> anyhow::Result<()> {
        if !name.starts_with(PREFIX) {
            bail!("refusing to drop {name:?}: not a {PREFIX}* database");
        }
        self.psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
        Ok(())
    }

    /// Runs one statement on the admin database and returns its unaligned output.
    async fn psql(&self, sql: &str) -> anyhow::Result<String> {
        let output = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(&self.admin)
            .args(["-c", sql])
            .output()
            .await
            .context("running psql (is the PostgreSQL client installed?)")?;
        if !output.status.success() {
            bail!(
                "psql {sql:?}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

/// `dsn` with its database (the URL's path) replaced by `database`; the query is kept.
fn with_database(dsn: &str, database: &str) -> String {
    let (scheme, rest) = dsn.split_once("://").unwrap_or(("postgres", dsn));
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or_default();
    let mut url = format!("{scheme}://{authority}/{database}");
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_only_the_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "bench_1"),
            "postgres://postgres@127.0.0.1:5432/bench_1"
        );
        assert_eq!(
            with_database("postgresql://u:p@h:1/db?sslmode=disable", "bench_1"),
            "postgresql://u:p@h:1/bench_1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h", "bench_1"),
            "postgres://u@h/bench_1"
        );
        assert_eq!(
            with_database("postgres://u@h?sslmode=disable", "bench_1"),
            "postgres://u@h/bench_1?sslmode=disable"
        );
    }
}
