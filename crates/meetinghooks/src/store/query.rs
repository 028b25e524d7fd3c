//! The small query executor both stores implement, so SQL that both dialects agree on (up to
//! placeholders) is written once: owned parameters in, owned rows out, decoded through
//! [`rows::Columns`].

use async_trait::async_trait;

use super::changes::Changes;
use super::rows::Columns;
use super::{StoreError, StoreResult};
use crate::domain::public_ids::PublicIds;
use crate::sealing::Sealer;

/// A parameter, owned so it can cross to SQLite's threads; each store binds it as the type
/// its statement expects (PostgreSQL's `INTEGER` columns take an `Int` as `i32`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Flag(bool),
    Null,
}

impl From<i64> for Param {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

impl From<bool> for Param {
    fn from(value: bool) -> Self {
        Param::Flag(value)
    }
}

impl From<&str> for Param {
    fn from(value: &str) -> Self {
        Param::Text(value.to_owned())
    }
}

impl From<String> for Param {
    fn from(value: String) -> Self {
        Param::Text(value)
    }
}

impl From<&String> for Param {
    fn from(value: &String) -> Self {
        Param::Text(value.clone())
    }
}

impl From<&[u8]> for Param {
    fn from(value: &[u8]) -> Self {
        Param::Bytes(value.to_vec())
    }
}

impl From<Vec<u8>> for Param {
    fn from(value: Vec<u8>) -> Self {
        Param::Bytes(value)
    }
}

impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(value: Option<T>) -> Self {
        value.map_or(Param::Null, Into::into)
    }
}

/// `args![a, b]`: the parameters `$1`, `$2` of a shared statement.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::store::query::Param::from($value)),*]
    };
}
pub(crate) use args;

/// A column's value as either driver read it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
    Flag(bool),
    Null,
}

/// A row read by a shared query, in the statement's column order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row(pub(crate) Vec<Value>);

/// How durable a shared write must be before it is answered (SQLite's writer tells the two
/// apart; PostgreSQL commits every statement fully).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    Durable,
    /// May stay in the OS cache: for bookkeeping whose loss is harmless.
    Relaxed,
}

/// One statement of a [`Query::transaction`].
pub(crate) struct Step {
    pub(crate) sql: String,
    pub(crate) params: Vec<Param>,
    /// The error that refuses the transaction when this statement changed no row.
    pub(crate) unchanged: Option<Box<dyn Fn() -> StoreError + Send + Sync>>,
}

impl Step {
    pub(crate) fn new(sql: impl Into<String>, params: Vec<Param>) -> Step {
        Step {
            sql: sql.into(),
            params,
            unchanged: None,
        }
    }

    /// Refuses the transaction with `error()` when this statement changes no row.
    pub(crate) fn or_refuse(self, error: impl Fn() -> StoreError + Send + Sync + 'static) -> Step {
        Step {
            unchanged: Some(Box::new(error)),
            ..self
        }
    }

    /// `Err` when this step's count refuses the transaction.
    pub(crate) fn check(&self, changed: u64) -> StoreResult<u64> {
        match &self.unchanged {
            Some(error) if changed == 0 => Err(error()),
            _ => Ok(changed),
        }
    }
}

/// The tables listed by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Positioned {
    Events,
    Messages,
}

impl Positioned {
    pub(crate) fn table(self) -> &'static str {
        match self {
            Positioned::Events => "events",
            Positioned::Messages => "messages",
        }
    }
}

#[async_trait]
pub(crate) trait Query: Send + Sync {
    /// The install's key for public ids, which decoders turn positions into.
    fn ids(&self) -> &PublicIds;

    /// The install's sealer, for the secrets shared queries read and write.
    fn sealer(&self) -> &Sealer;

    /// Tells this node (and, on PostgreSQL, the others) what a committed shared write changed.
    fn announce(&self, changes: Changes);

    /// Every row `sql` (with `$n` placeholders) returns.
    async fn rows(&self, sql: &str, params: Vec<Param>) -> StoreResult<Vec<Row>>;

    /// Runs one statement in its own transaction; how many rows it changed.
    async fn execute(&self, sql: &str, params: Vec<Param>, commit: Commit) -> StoreResult<u64>;

    /// Runs one write in its own transaction; the rows its `RETURNING` clause names.
    async fn returning(
        &self,
        sql: &str,
        params: Vec<Param>,
        commit: Commit,
    ) -> StoreResult<Vec<Row>>;

    /// Runs `steps` in one transaction, in order; how many rows each changed. A step that
    /// changed none and says so with `unchanged` rolls them all back with its error.
    async fn transaction(&self, steps: Vec<Step>, commit: Commit) -> StoreResult<Vec<u64>>;

    /// The highest position of `table` a listing may show (see PostgreSQL's
    /// `settled_position`; SQLite's one writer commits in position order: no limit).
    async fn settled(&self, table: Positioned) -> StoreResult<i64>;

    /// Every row, decoded.
    async fn all<T, D>(&self, sql: &str, params: Vec<Param>, decode: D) -> StoreResult<Vec<T>>
    where
        T: Send,
        D: Fn(&Row) -> StoreResult<T> + Send,
    {
        self.rows(sql, params).await?.iter().map(decode).collect()
    }

    /// The first row, decoded, if there is one.
    async fn first<T, D>(&self, sql: &str, params: Vec<Param>, decode: D) -> StoreResult<Option<T>>
    where
        T: Send,
        D: Fn(&Row) -> StoreResult<T> + Send,
    {
        self.rows(sql, params)
            .await?
            .first()
            .map(decode)
            .transpose()
    }
}

impl Row {
    fn value(&self, index: usize) -> StoreResult<&Value> {
        self.0
            .get(index)
            .ok_or_else(|| corrupt(index, "a column", &Value::Null))
    }
}

fn corrupt(index: usize, expected: &str, found: &Value) -> StoreError {
    StoreError::Unavailable(format!(
        "column {index}: expected {expected}, found {found:?}"
    ))
}

impl Columns for Row {
    type Error = StoreError;

    /// NULL reads as 0, as PostgreSQL's decoder always did.
    fn int(&self, index: usize) -> StoreResult<i64> {
        Ok(self.opt_int(index)?.unwrap_or_default())
    }

    fn opt_int(&self, index: usize) -> StoreResult<Option<i64>> {
        match self.value(index)? {
            Value::Int(value) => Ok(Some(*value)),
            Value::Flag(flag) => Ok(Some(i64::from(*flag))),
            Value::Null => Ok(None),
            other => Err(corrupt(index, "an integer", other)),
        }
    }

    fn text(&self, index: usize) -> StoreResult<String> {
        self.opt_text(index)?
            .ok_or_else(|| corrupt(index, "text", &Value::Null))
    }

    fn opt_text(&self, index: usize) -> StoreResult<Option<String>> {
        match self.value(index)? {
            Value::Text(text) => Ok(Some(text.clone())),
            Value::Null => Ok(None),
            other => Err(corrupt(index, "text", other)),
        }
    }

    /// SQLite keeps flags as 0 and 1.
    fn flag(&self, index: usize) -> StoreResult<bool> {
        match self.value(index)? {
            Value::Flag(flag) => Ok(*flag),
            Value::Int(value) => Ok(*value != 0),
            other => Err(corrupt(index, "a flag", other)),
        }
    }

    fn bytes(&self, index: usize) -> StoreResult<Vec<u8>> {
        match self.value(index)? {
            Value::Bytes(bytes) => Ok(bytes.clone()),
            Value::Text(text) => Ok(text.clone().into_bytes()),
            other => Err(corrupt(index, "bytes", other)),
        }
    }

    fn json<T: serde::de::DeserializeOwned>(&self, index: usize) -> StoreResult<T> {
        serde_json::from_str(&self.text(index)?)
            .map_err(|e| StoreError::Unavailable(format!("column {index}: corrupt JSON: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_bind_as_their_value_or_null() {
        let none: Option<&str> = None;
        assert_eq!(
            args![Some(3_i64), none, "a"],
            vec![Param::Int(3), Param::Null, Param::Text("a".into())]
        );
    }

    #[test]
    fn rows_read_flags_from_either_dialect_and_refuse_wrong_types() {
        let row = Row(vec![
            Value::Int(1),
            Value::Flag(false),
            Value::Text("x".into()),
            Value::Null,
        ]);
        assert!(row.flag(0).unwrap());
        assert!(!row.flag(1).unwrap());
        assert_eq!(row.opt_int(3).unwrap(), None);
        assert_eq!(row.int(3).unwrap(), 0);
        assert!(row.int(2).is_err());
        assert!(row.text(3).is_err());
        assert!(row.text(9).is_err());
    }
}
