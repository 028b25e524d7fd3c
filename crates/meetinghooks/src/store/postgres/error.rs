//! The PostgreSQL store's errors: the domain's, or the database's, and which are worth a retry.

use tokio_postgres::error::SqlState;

use crate::store::StoreError;

/// Errors inside the store: the domain's, or the database's, which may be worth a retry.
#[derive(Debug, thiserror::Error)]
pub(super) enum PgError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}", describe(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// More rows needed locking than were locked in order: the transaction starts again.
    #[error("the set of rows to lock changed")]
    LockSetChanged,
}

pub(super) type PgResult<T> = Result<T, PgError>;

impl PgError {
    /// The connection or the server failed, not this statement: nothing is wrong with the data.
    pub(super) fn is_connection(&self) -> bool {
        match self {
            PgError::Db(e) => e.as_db_error().is_none(),
            PgError::Pool(_) => true,
            PgError::Store(_) | PgError::LockSetChanged => false,
        }
    }

    pub(super) fn retryable(&self) -> bool {
        match self {
            PgError::Db(e) => matches!(
                e.code(),
                Some(&SqlState::T_R_DEADLOCK_DETECTED) | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
            ),
            PgError::LockSetChanged => true,
            PgError::Store(_) | PgError::Pool(_) => false,
        }
    }
}

impl From<PgError> for StoreError {
    fn from(e: PgError) -> Self {
        match e {
            PgError::Store(e) => e,
            // Every connection is busy (the server is up): the pool is the queue, and it is full.
            PgError::Pool(deadpool_postgres::PoolError::Timeout(
                deadpool_postgres::TimeoutType::Wait,
            )) => StoreError::Overloaded("every database connection is busy".into()),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

impl From<crate::sealing::SealError> for PgError {
    fn from(e: crate::sealing::SealError) -> Self {
        PgError::Store(StoreError::Unavailable(e.to_string()))
    }
}

pub(super) fn corrupt(what: &str, e: serde_json::Error) -> PgError {
    PgError::Store(StoreError::Unavailable(format!("corrupt {what}: {e}")))
}
