//! Row decoding both stores share: the listings' records built from columns read by index,
//! whichever driver read them, so a record has one shape and one column order.

use tokio_postgres::types::Type;

use crate::domain::public_ids::PublicIds;
use crate::domain::timestamp::Timestamp;
use crate::engine::SessionState;
use crate::store::{
    AttemptRecord, MessageRecord, MessageStatus, Project, Room, SessionRecord, StoredEvent,
};

/// A row as the decoders read it; integers of any width come out as `i64`.
pub trait Columns {
    type Error;
    fn int(&self, index: usize) -> Result<i64, Self::Error>;
    fn opt_int(&self, index: usize) -> Result<Option<i64>, Self::Error>;
    fn text(&self, index: usize) -> Result<String, Self::Error>;
    fn opt_text(&self, index: usize) -> Result<Option<String>, Self::Error>;
    fn flag(&self, index: usize) -> Result<bool, Self::Error>;
    fn bytes(&self, index: usize) -> Result<Vec<u8>, Self::Error>;
    /// A column that holds JSON this store wrote.
    fn json<T: serde::de::DeserializeOwned>(&self, index: usize) -> Result<T, Self::Error>;
}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn int(&self, index: usize) -> rusqlite::Result<i64> {
        self.get(index)
    }
    fn opt_int(&self, index: usize) -> rusqlite::Result<Option<i64>> {
        self.get(index)
    }
    fn text(&self, index: usize) -> rusqlite::Result<String> {
        self.get(index)
    }
    fn opt_text(&self, index: usize) -> rusqlite::Result<Option<String>> {
        self.get(index)
    }
    fn flag(&self, index: usize) -> rusqlite::Result<bool> {
        self.get(index)
    }
    fn bytes(&self, index: usize) -> rusqlite::Result<Vec<u8>> {
        self.get(index)
    }
    fn json<T: serde::de::DeserializeOwned>(&self, index: usize) -> rusqlite::Result<T> {
        serde_json::from_str(&self.text(index)?).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, e.into())
        })
    }
}

impl Columns for tokio_postgres::Row {
    type Error = tokio_postgres::Error;
    fn int(&self, index: usize) -> Result<i64, tokio_postgres::Error> {
        Ok(self.opt_int(index)?.unwrap_or_default())
    }
    fn opt_int(&self, index: usize) -> Result<Option<i64>, tokio_postgres::Error> {
        Ok(match *self.columns()[index].type_() {
            Type::INT2 => self.try_get::<_, Option<i16>>(index)?.map(i64::from),
            Type::INT4 => self.try_get::<_, Option<i32>>(index)?.map(i64::from),
            _ => self.try_get(index)?,
        })
    }
    fn text(&self, index: usize) -> Result<String, tokio_postgres::Error> {
        self.try_get(index)
    }
    fn opt_text(&self, index: usize) -> Result<Option<String>, tokio_postgres::Error> {
        self.try_get(index)
    }
    fn flag(&self, index: usize) -> Result<bool, tokio_postgres::Error> {
        self.try_get(index)
    }
    fn bytes(&self, index: usize) -> Result<Vec<u8>, tokio_postgres::Error> {
        self.try_get(index)
    }
    fn json<T: serde::de::DeserializeOwned>(
        &self,
        index: usize,
    ) -> Result<T, tokio_postgres::Error> {
        self.try_get::<_, Json<T>>(index).map(|json| json.0)
    }
}

/// A JSON text column, decoded as the driver decodes any value, so a bad one fails with the
/// driver's own error.
struct Json<T>(T);

impl<'a, T: serde::de::DeserializeOwned> tokio_postgres::types::FromSql<'a> for Json<T> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Json(serde_json::from_slice(raw)?))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TEXT || *ty == Type::VARCHAR
    }
}

pub fn project<R: Columns>(row: &R) -> Result<Project, R::Error> {
    Ok(Project {
        id: row.text(0)?,
        name: row.text(1)?,
    })
}

pub const ROOM_COLUMNS: &str =
    "room_id, custom, webhook, created_at, disabled, updated_at, auto_close";

pub fn room<R: Columns>(row: &R) -> Result<Room, R::Error> {
    let room_id = row.text(0)?;
    Ok(Room {
        custom_room_id: row.flag(1)?.then(|| room_id.clone()),
        room_id,
        webhook: row.opt_text(2)?.and_then(|w| serde_json::from_str(&w).ok()),
        created_at: Timestamp(row.int(3)?),
        disabled: row.flag(4)?,
        updated_at: Timestamp(row.opt_int(5)?.unwrap_or(row.int(3)?)),
        auto_close: row.opt_text(6)?.and_then(|a| serde_json::from_str(&a).ok()),
    })
}

pub const EVENT_COLUMNS: &str =
    "position, room_id, session_id, sequence, webhook_type, payload, created_at";

pub fn event<R: Columns>(row: &R, ids: &PublicIds) -> Result<StoredEvent, R::Error> {
    let position = row.int(0)?;
    Ok(StoredEvent {
        id: ids.event_id(position),
        position,
        meeting_id: row.text(1)?,
        session_id: row.text(2)?,
        sequence: row.int(3)? as u64,
        webhook_type: row.text(4)?,
        payload: row.bytes(5)?,
        created_at: Timestamp(row.int(6)?),
    })
}

/// `room_id, doc`: a session without its participants, which the store adds.
pub fn session<R: Columns>(row: &R) -> Result<SessionRecord, R::Error> {
    Ok(SessionRecord {
        room_id: row.text(0)?,
        session: row.json::<SessionState>(1)?,
        participants: Vec::new(),
    })
}

pub const MESSAGE_COLUMNS: &str = "m.position, m.endpoint_id, e.position, m.room_id, e.sequence,
    e.webhook_type, m.status, m.attempts, m.due_at, m.created_at, m.last_attempt_at,
    m.last_status_code, m.last_error, m.last_error_kind";

pub fn message<R: Columns>(row: &R, ids: &PublicIds) -> Result<MessageRecord, R::Error> {
    let position = row.int(0)?;
    Ok(MessageRecord {
        id: ids.message_id(position),
        position,
        endpoint_id: row.text(1)?,
        event_id: ids.event_id(row.int(2)?),
        meeting_id: row.text(3)?,
        sequence: row.int(4)? as u64,
        webhook_type: row.text(5)?,
        status: MessageStatus::parse(&row.text(6)?).unwrap_or(MessageStatus::Pending),
        attempts: row.int(7)? as u32,
        due_at: Timestamp(row.int(8)?),
        created_at: Timestamp(row.int(9)?),
        last_attempt_at: row.opt_int(10)?.map(Timestamp),
        last_status_code: row.opt_int(11)?.map(|c| c as u16),
        last_error: row.opt_text(12)?,
        last_error_kind: row.opt_text(13)?,
    })
}

pub const ATTEMPT_COLUMNS: &str =
    "id, attempted_at, duration_ms, status_code, error_kind, response_body";

pub fn attempt<R: Columns>(row: &R) -> Result<AttemptRecord, R::Error> {
    Ok(AttemptRecord {
        id: row.int(0)?,
        attempted_at: Timestamp(row.int(1)?),
        duration_ms: row.int(2)? as u64,
        status_code: row.opt_int(3)?.map(|c| c as u16),
        error_kind: row.opt_text(4)?,
        response_body: row.opt_text(5)?.unwrap_or_default(),
    })
}
