//! `autoCloseConfig`: a session that has run its room's `duration` is ended like
//! `POST /v2/sessions/end` does (everyone leaves, media stop, `session-ended`), and with
//! `session-end-and-deactivate` the room is deactivated too. The timer driver runs it.

use crate::domain::timestamp::Timestamp;
use crate::engine::SessionEnd;
use crate::store::{AutoCloseKind, Store, StoreError, StoreResult};

/// Ends every session due at `now`; returns how many it ended.
pub async fn close_due(store: &dyn Store, now: Timestamp) -> StoreResult<usize> {
    let mut closed = 0;
    for due in store
        .auto_close_candidates()
        .await?
        .into_iter()
        .filter(|c| c.due(now))
    {
        match store
            .end_session(&due.project_id, &due.room_id, SessionEnd::now(now))
            .await
        {
            Ok(_) => closed += 1,
            // Ended meanwhile, here or by another node.
            Err(StoreError::NoOngoingSession(_)) => continue,
            Err(e) => return Err(e),
        }
        if due.auto_close.kind == AutoCloseKind::SessionEndAndDeactivate {
            store
                .deactivate_room(&due.project_id, &due.room_id, now)
                .await?;
        }
        tracing::info!(room = %due.room_id, minutes = due.auto_close.duration, "session closed by autoCloseConfig");
    }
    Ok(closed)
}
