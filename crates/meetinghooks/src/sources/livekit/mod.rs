//! The LiveKit source: a self-hosted LiveKit server's webhooks, verified as LiveKit's own
//! receiver verifies them, decoded leniently and mapped to our signals. Pure: the API does
//! the I/O.

pub mod event;
pub mod mapping;
mod participant_egress;
pub mod sign;
pub mod verify;

#[cfg(test)]
mod egress_proptests;
#[cfg(test)]
mod egress_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use sha2::{Digest, Sha256};

pub use event::WebhookEvent;
pub use mapping::{Ignored, MapContext, MapError, Mapped};
pub use verify::VerifyError;

use crate::domain::timestamp::Timestamp;
use crate::sources::Source;

/// A verified, decoded and mapped LiveKit request.
#[derive(Debug)]
pub struct Received {
    pub event: WebhookEvent,
    pub mapped: Mapped,
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// 401: not signed by this source.
    #[error(transparent)]
    Auth(#[from] VerifyError),
    /// 400: signed, but not a LiveKit event we can represent.
    #[error("{0}")]
    Body(String),
}

/// Verifies, then decodes and maps one request. `now` is injected (tests replay old vectors).
pub fn receive(
    authorization: Option<&str>,
    body: &[u8],
    source: &Source,
    now: Timestamp,
) -> Result<Received, ReceiveError> {
    let token = verify::token_of(authorization)?;
    verify::verify(token, body, source, now.0.div_euclid(1000))?;
    let event = WebhookEvent::decode(body).map_err(ReceiveError::Body)?;
    let event_id = match event.id.as_str() {
        // Older servers send no id; the signed body identifies the event as well.
        "" => format!("lk_{}", hex(&Sha256::digest(body)[..12])),
        id => id.to_owned(),
    };
    let cx = MapContext {
        event_id: &event_id,
        received_at: now,
        hls_rewrite: source.hls_rewrite.as_ref(),
    };
    let mapped = mapping::map(&event, &cx).map_err(|e| ReceiveError::Body(e.0))?;
    Ok(Received { event, mapped })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
