//! Raw SQL on an app's own database (SQLite file or PostgreSQL), for states no request makes.

use std::time::Duration;

use crate::helpers::TestApp;

/// A second connection to the app's database. Statements take no parameters: tests build
/// them from ids they made themselves.
pub enum RawDb {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

impl RawDb {
    pub async fn of(app: &TestApp) -> RawDb {
        Self::open(&app.config.database_url).await
    }

    pub async fn open(url: &str) -> RawDb {
        match url.strip_prefix("sqlite://") {
            Some(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                // The app's writer holds the write lock between its transactions only briefly.
                conn.busy_timeout(Duration::from_secs(10)).unwrap();
                RawDb::Sqlite(conn)
            }
            None => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(connection);
                RawDb::Postgres(client)
            }
        }
    }

    /// Runs one statement (or, on PostgreSQL, several); returns the rows changed.
    pub async fn execute(&self, sql: &str) -> u64 {
        match self {
            RawDb::Sqlite(conn) => conn.execute(sql, []).unwrap() as u64,
            RawDb::Postgres(client) => client.execute(sql, &[]).await.unwrap(),
        }
    }

    /// The first column of every row, as text.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        match self {
            RawDb::Sqlite(conn) => conn
                .prepare(sql)
                .unwrap()
                .query_map([], |row| row.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap(),
            RawDb::Postgres(client) => client
                .query(sql, &[])
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect(),
        }
    }
}

/// The message's position in the `messages` table, read from its public id with the
/// install's key.
pub async fn position(db: &RawDb, message: &serde_json::Value) -> i64 {
    let key = match db {
        RawDb::Sqlite(conn) => conn
            .query_row(
                "SELECT value FROM install_keys WHERE name = 'public_ids'",
                [],
                |row| row.get::<_, Vec<u8>>(0),
            )
            .unwrap(),
        RawDb::Postgres(client) => client
            .query_one(
                "SELECT value FROM install_keys WHERE name = 'public_ids'",
                &[],
            )
            .await
            .unwrap()
            .get(0),
    };
    let ids = meetinghooks::domain::public_ids::PublicIds::from_stored_key(&key).unwrap();
    message["id"]
        .as_str()
        .and_then(|id| ids.message_position(id))
        .unwrap_or_else(|| panic!("not a message id of this install: {message}"))
}
