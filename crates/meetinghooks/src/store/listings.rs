//! VideoSDK's numbered pages of rooms and sessions (`page`, `perPage`, a total), and room
//! deactivation. A separate trait (a supertrait of `Store`) so each store keeps this SQL in
//! its own `listings` file.

use async_trait::async_trait;

use super::{Room, SessionRecord, StoreResult};
use crate::domain::timestamp::Timestamp;

/// One numbered page and how many items there are in all.
#[derive(Debug, Clone)]
pub struct NumberedPage<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// Which page: 1-based, `per_page` items each.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub page: u64,
    pub per_page: u64,
}

impl PageRequest {
    pub fn offset(self) -> u64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

#[async_trait]
pub trait Listings: Send + Sync + 'static {
    /// Sessions newest first, of one room or of every room.
    async fn session_page(
        &self,
        project_id: &str,
        room_id: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<NumberedPage<SessionRecord>>;
    /// Rooms newest first.
    async fn room_page(&self, project_id: &str, page: PageRequest) -> StoreResult<NumberedPage<Room>>;
    /// Marks the room deactivated (it refuses joins from now on); `NotFound` if it does not exist.
    async fn deactivate_room(&self, project_id: &str, room_id: &str, now: Timestamp) -> StoreResult<Room>;
}
