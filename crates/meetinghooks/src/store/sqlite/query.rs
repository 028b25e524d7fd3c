//! The shared query executor on SQLite: reads through the bounded readers, writes through the
//! single writer, every statement from the connection's statement cache.

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;

use super::SqliteStore;
use crate::domain::public_ids::PublicIds;
use crate::sealing::Sealer;
use crate::store::changes::Changes;
use crate::store::query::{Commit, Param, Positioned, Query, Row, Step, Value};
use crate::store::sql::sqlite_placeholders;
use crate::store::StoreResult;

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Int(value) => ValueRef::Integer(*value),
            Param::Text(text) => ValueRef::Text(text.as_bytes()),
            Param::Bytes(bytes) => ValueRef::Blob(bytes),
            Param::Flag(flag) => ValueRef::Integer(i64::from(*flag)),
            Param::Null => ValueRef::Null,
        }))
    }
}

/// Runs a shared read on `conn` (a reader, or the writer inside one of its jobs).
pub(super) fn select(conn: &Connection, sql: &str, params: &[Param]) -> rusqlite::Result<Vec<Row>> {
    let mut statement = conn.prepare_cached(&sqlite_placeholders(sql))?;
    let columns = statement.column_count();
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns)
            .map(|index| Ok(value(row.get_ref(index)?)))
            .collect::<rusqlite::Result<_>>()?;
        out.push(Row(values));
    }
    Ok(out)
}

/// Runs a shared statement on the writer's connection; how many rows it changed.
pub(super) fn run(conn: &Connection, sql: &str, params: &[Param]) -> rusqlite::Result<u64> {
    let changed = conn
        .prepare_cached(&sqlite_placeholders(sql))?
        .execute(rusqlite::params_from_iter(params))?;
    Ok(changed as u64)
}

fn value(raw: ValueRef<'_>) -> Value {
    match raw {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(value) => Value::Int(value),
        ValueRef::Real(value) => Value::Real(value),
        ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(bytes) => Value::Bytes(bytes.to_vec()),
    }
}

#[async_trait]
impl Query for SqliteStore {
    fn ids(&self) -> &PublicIds {
        &self.ids
    }

    fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    fn announce(&self, changes: Changes) {
        self.hub.announce(changes)
    }

    async fn rows(&self, sql: &str, params: Vec<Param>) -> StoreResult<Vec<Row>> {
        let sql = sql.to_owned();
        self.read(move |conn| select(conn, &sql, &params)).await
    }

    async fn execute(&self, sql: &str, params: Vec<Param>, commit: Commit) -> StoreResult<u64> {
        let sql = sql.to_owned();
        let work = move |conn: &Connection, _: &_| Ok(run(conn, &sql, &params)?);
        match commit {
            Commit::Durable => self.write(work).await,
            Commit::Relaxed => self.write_relaxed(work).await,
        }
    }

    async fn returning(
        &self,
        sql: &str,
        params: Vec<Param>,
        commit: Commit,
    ) -> StoreResult<Vec<Row>> {
        let sql = sql.to_owned();
        let work = move |conn: &Connection, _: &_| Ok(select(conn, &sql, &params)?);
        match commit {
            Commit::Durable => self.write(work).await,
            Commit::Relaxed => self.write_relaxed(work).await,
        }
    }

    /// One writer job: an error rolls the job back to its savepoint.
    async fn transaction(&self, steps: Vec<Step>, commit: Commit) -> StoreResult<Vec<u64>> {
        let work = move |conn: &Connection, _: &_| {
            steps
                .iter()
                .map(|step| step.check(run(conn, &step.sql, &step.params)?))
                .collect()
        };
        match commit {
            Commit::Durable => self.write(work).await,
            Commit::Relaxed => self.write_relaxed(work).await,
        }
    }

    async fn settled(&self, _: Positioned) -> StoreResult<i64> {
        Ok(i64::MAX)
    }
}
