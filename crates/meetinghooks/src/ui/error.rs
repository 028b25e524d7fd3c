//! Why a dashboard page could not be shown, as an HTML page with the fitting status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::layout::error_page;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadInput(String),
}

pub type UiResult<T> = Result<T, UiError>;

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = match &self {
            UiError::Store(StoreError::NotFound(_)) | UiError::NotFound(_) => StatusCode::NOT_FOUND,
            UiError::Store(StoreError::Overloaded(_) | StoreError::Unavailable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            UiError::Store(StoreError::Internal(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            UiError::Store(_) => StatusCode::CONFLICT,
            UiError::BadInput(_) => StatusCode::BAD_REQUEST,
        };
        error_page(status, &self.to_string())
    }
}
