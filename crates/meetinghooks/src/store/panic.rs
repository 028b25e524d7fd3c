//! Containing panics: a broken invariant inside one store operation fails that operation
//! (`StoreError::Internal`, rolled back) instead of the writer thread or the connection.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::Poll;

use super::StoreError;

/// The error for a caught panic, logged with its message (which never reaches the client).
pub(crate) fn internal(payload: Box<dyn Any + Send>) -> StoreError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    tracing::error!(panic = %message, "a store operation panicked; it was rolled back");
    StoreError::Internal(message)
}

/// Runs `work`; a panic inside it becomes `StoreError::Internal`.
pub(crate) fn contain<T, E: From<StoreError>>(work: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| Err(internal(payload).into()))
}

/// Awaits `work`; a panic while it is polled becomes `StoreError::Internal`, and `work` is
/// not polled again.
pub(crate) async fn contain_async<T, E: From<StoreError>>(
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| work.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => Poll::Ready(Err(internal(payload).into())),
        },
    )
    .await
}
