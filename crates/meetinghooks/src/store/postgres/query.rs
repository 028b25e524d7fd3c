//! The shared query executor on PostgreSQL: a pooled connection, its statement cache, and
//! parameters bound as the exact types the prepared statement expects.

use async_trait::async_trait;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Statement;

use super::error::{PgError, PgResult};
use super::rows::settled_position;
use super::{PostgresStore, MAX_RETRIES};
use crate::domain::public_ids::PublicIds;
use crate::sealing::Sealer;
use crate::store::changes::Changes;
use crate::store::query::{Commit, Param, Positioned, Query, Row, Step, Value};
use crate::store::{StoreError, StoreResult};

type Bound = Box<dyn ToSql + Sync + Send>;

/// `params` as `statement` takes them: tokio-postgres binds an `i64` to `INT8` only.
fn bind(statement: &Statement, params: Vec<Param>) -> PgResult<Vec<Bound>> {
    params
        .into_iter()
        .zip(statement.params())
        .map(|(param, ty)| bound(param, ty))
        .collect()
}

fn bound(param: Param, ty: &Type) -> PgResult<Bound> {
    let narrow = |value: i64| {
        PgError::Store(StoreError::Unavailable(format!(
            "{value} does not fit a {ty} parameter"
        )))
    };
    Ok(match (param, ty) {
        (Param::Int(value), &Type::INT4) => {
            Box::new(i32::try_from(value).map_err(|_| narrow(value))?)
        }
        (Param::Int(value), &Type::INT2) => {
            Box::new(i16::try_from(value).map_err(|_| narrow(value))?)
        }
        (Param::Int(value), _) => Box::new(value),
        (Param::Text(text), _) => Box::new(text),
        (Param::Bytes(bytes), _) => Box::new(bytes),
        (Param::Flag(flag), _) => Box::new(flag),
        (Param::Null, &Type::INT8) => Box::new(None::<i64>),
        (Param::Null, &Type::INT4) => Box::new(None::<i32>),
        (Param::Null, &Type::INT2) => Box::new(None::<i16>),
        (Param::Null, &Type::BYTEA) => Box::new(None::<Vec<u8>>),
        (Param::Null, &Type::BOOL) => Box::new(None::<bool>),
        (Param::Null, _) => Box::new(None::<String>),
    })
}

/// A driver row as shared decoders read it.
pub(super) fn owned(row: &tokio_postgres::Row) -> PgResult<Row> {
    let values = row
        .columns()
        .iter()
        .enumerate()
        .map(|(index, column)| {
            let ty = column.type_();
            Ok(match *ty {
                Type::INT8 => row.try_get::<_, Option<i64>>(index)?.map(Value::Int),
                Type::INT4 => row
                    .try_get::<_, Option<i32>>(index)?
                    .map(|v| Value::Int(v.into())),
                Type::INT2 => row
                    .try_get::<_, Option<i16>>(index)?
                    .map(|v| Value::Int(v.into())),
                Type::FLOAT8 => row.try_get::<_, Option<f64>>(index)?.map(Value::Real),
                Type::FLOAT4 => row
                    .try_get::<_, Option<f32>>(index)?
                    .map(|v| Value::Real(v.into())),
                Type::BOOL => row.try_get::<_, Option<bool>>(index)?.map(Value::Flag),
                Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(index)?.map(Value::Bytes),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                    row.try_get::<_, Option<String>>(index)?.map(Value::Text)
                }
                _ => {
                    return Err(PgError::Store(StoreError::Unavailable(format!(
                        "column {index} has a type shared queries do not read: {ty}"
                    ))))
                }
            }
            .unwrap_or(Value::Null))
        })
        .collect::<PgResult<_>>()?;
    Ok(Row(values))
}

/// Runs a shared statement on `client` (inside a dialect's own transaction).
pub(super) async fn execute_with(
    client: &impl tokio_postgres::GenericClient,
    sql: &str,
    params: Vec<Param>,
) -> PgResult<u64> {
    let statement = client.prepare(sql).await?;
    let bound = bind(&statement, params)?;
    Ok(client.execute(&statement, &refs(&bound)).await?)
}

/// A pooled connection, the statement from its cache, and the parameters bound for it.
async fn prepared(
    store: &PostgresStore,
    sql: &str,
    params: Vec<Param>,
) -> PgResult<(deadpool_postgres::Object, Statement, Vec<Bound>)> {
    let client = store.client().await?;
    let statement = client.prepare_cached(sql).await?;
    let bound = bind(&statement, params)?;
    Ok((client, statement, bound))
}

fn refs(bound: &[Bound]) -> Vec<&(dyn ToSql + Sync)> {
    bound.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect()
}

#[async_trait]
impl Query for PostgresStore {
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
        let (client, statement, bound) = prepared(self, sql, params).await?;
        let rows = client
            .query(&statement, &refs(&bound))
            .await
            .map_err(PgError::from)?;
        Ok(rows.iter().map(owned).collect::<PgResult<_>>()?)
    }

    /// Autocommit: PostgreSQL has one durability.
    async fn execute(&self, sql: &str, params: Vec<Param>, _: Commit) -> StoreResult<u64> {
        let (client, statement, bound) = prepared(self, sql, params).await?;
        Ok(client
            .execute(&statement, &refs(&bound))
            .await
            .map_err(PgError::from)?)
    }

    async fn returning(
        &self,
        sql: &str,
        params: Vec<Param>,
        commit: Commit,
    ) -> StoreResult<Vec<Row>> {
        let _ = commit;
        self.rows(sql, params).await
    }

    /// Run again from the start when it lost a deadlock or serialization race.
    async fn transaction(&self, steps: Vec<Step>, _: Commit) -> StoreResult<Vec<u64>> {
        transact!(self, |tx| async {
            let mut counts = Vec::with_capacity(steps.len());
            for step in &steps {
                let statement = tx.prepare_cached(&step.sql).await?;
                let bound = bind(&statement, step.params.clone())?;
                let changed = tx.execute(&statement, &refs(&bound)).await?;
                counts.push(step.check(changed)?);
            }
            PgResult::Ok(counts)
        })
    }

    async fn settled(&self, table: Positioned) -> StoreResult<i64> {
        let client = self.client().await?;
        Ok(settled_position(&**client, table.table()).await?)
    }
}
