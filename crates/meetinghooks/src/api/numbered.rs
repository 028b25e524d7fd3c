//! VideoSDK's numbered pages: `page` and `perPage` in, `pageInfo` out.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use crate::store::listings::{NumberedPage, PageRequest};

const DEFAULT_PER_PAGE: u64 = 20;
const MAX_PER_PAGE: u64 = 100;

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page number, default 1.
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<u64>,
    /// Items per page, 1-100, default 20.
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<u64>,
}

impl PageQuery {
    pub fn new(page: Option<u64>, per_page: Option<u64>) -> PageQuery {
        PageQuery { page, per_page }
    }

    pub fn request(&self) -> Result<PageRequest, ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if !(1..=1_000_000).contains(&page) {
            return Err(ApiError::bad_request(
                "invalid_query",
                "page must be 1-1000000",
            ));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ApiError::bad_request(
                "invalid_query",
                "perPage must be 1-100",
            ));
        }
        Ok(PageRequest { page, per_page })
    }
}

/// Where this page is among all of them.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    current_page: u64,
    per_page: u64,
    /// The last page with items (1 when there are none).
    last_page: u64,
    total: u64,
}

/// One numbered page.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NumberedView<T> {
    page_info: PageInfo,
    data: Vec<T>,
}

impl<T> NumberedView<T> {
    pub fn of<S>(page: NumberedPage<S>, request: PageRequest, view: impl FnMut(S) -> T) -> Self {
        NumberedView {
            page_info: PageInfo {
                current_page: request.page,
                per_page: request.per_page,
                last_page: page.total.div_ceil(request.per_page).max(1),
                total: page.total,
            },
            data: page.items.into_iter().map(view).collect(),
        }
    }
}
