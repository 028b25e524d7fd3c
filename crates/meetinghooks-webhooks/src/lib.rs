//! Receiver-side verification and parsing of webhooks sent by meetinghooks.
//!
//! Add this crate to your webhook endpoint to check that a request really
//! came from meetinghooks and to turn its body into a typed [`Event`].
//!
//! Deliveries follow [Standard Webhooks](https://www.standardwebhooks.com/) v1:
//! each request carries [`HEADER_ID`], [`HEADER_TIMESTAMP`] and
//! [`HEADER_SIGNATURE`], the signature being HMAC-SHA256 over
//! `{id}.{timestamp}.{body}` keyed with your `whsec_…` secret. Timestamps
//! more than 5 minutes off are rejected. Meetinghooks also sends
//! [`HEADER_SEQUENCE`], the per-meeting sequence number, and [`HEADER_ATTEMPT`], which
//! attempt of the message this is (1 the first time, more on retries and resends).
//!
//! Always verify the **raw** request body bytes, before any re-serialisation.
//! Use the `webhook-id` header as an idempotency key: it stays the same on retries.
//!
//! Rooms' own webhooks, and endpoints created with `"signatures": ["videosdk"]`, also carry
//! VideoSDK's [`HEADER_VIDEOSDK_SIGNATURE`]: base64 RSASSA-PKCS1-v1_5 SHA-256 over the body,
//! checked by [`VideosdkVerifier`] with the project's public key from
//! `GET /v2/public/rsa-public-key`.
//!
//! Headers are read through [`HeaderLookup`], implemented for `HashMap`,
//! `BTreeMap`, slices/arrays/`Vec`s of pairs and, with the `http` feature,
//! `http::HeaderMap`.
//!
//! # Example
//!
//! ```
//! use std::collections::HashMap;
//! use std::time::{SystemTime, UNIX_EPOCH};
//! use meetinghooks_webhooks::{Event, Webhook, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
//!
//! let webhook = Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
//!
//! // Normally the server does this part; here we sign a sample body ourselves.
//! let body = br#"{"webhookType":"participant-joined","data":{"meetingId":"mtg_1","sessionId":"ses_1","participantId":"p_1","participantName":"Ada"}}"#;
//! let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
//! let signature = webhook.sign("msg_1", now, body);
//!
//! let headers = HashMap::from([
//!     (HEADER_ID.to_string(), "msg_1".to_string()),
//!     (HEADER_TIMESTAMP.to_string(), now.to_string()),
//!     (HEADER_SIGNATURE.to_string(), signature),
//! ]);
//!
//! match webhook.verify(&headers, body)? {
//!     Event::ParticipantJoined(p) => {
//!         assert_eq!(p.participant_name, "Ada");
//!         println!("{} joined meeting {}", p.participant_name, p.meeting_id);
//!     }
//!     other => println!("{} for meeting {}", other.webhook_type(), other.meeting_id()),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod event;
mod verify;

pub use event::{
    Event, EventData, FileDetail, HlsPlayable, HlsStarted, MeetingRef, ParticipantData,
    ParticipantRecording, ParticipantRecordingStopped, ParticipantRef, ParticipantTrack,
    ParticipantTrackStopped, RecordingStopped, SessionEnded, SessionStarted, UnknownWebhookType,
    WebhookType,
};
pub use verify::{
    HeaderLookup, SecretError, VerifyError, Webhook, HEADER_ATTEMPT, HEADER_ID, HEADER_SEQUENCE,
    HEADER_SIGNATURE, HEADER_TIMESTAMP, TIMESTAMP_TOLERANCE_SECS,
};
pub use verify::{
    PublicKeyError, VideosdkVerifier, VideosdkVerifyError, HEADER_VIDEOSDK_SIGNATURE,
};
