//! Sources: media servers that post their own webhooks to us, configured per project.
//!
//! A source holds the credentials its server signs with; its requests are verified, decoded
//! and mapped to signals, which then take the one ingest path (`Store::ingest`).

pub mod livekit;

use crate::domain::timestamp::Timestamp;

/// Which media server a source speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    LiveKit,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::LiveKit => "livekit",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "livekit" => Some(SourceKind::LiveKit),
            _ => None,
        }
    }
}

/// One API key pair the server signs with; a source has one or more (for rotation).
#[derive(Clone, PartialEq, Eq)]
pub struct SourceKey {
    pub api_key: String,
    /// Open in memory; the stores seal it in the row (`sealing`).
    pub api_secret: String,
}

/// Secrets never reach a log: `Debug` shows the key only.
impl std::fmt::Debug for SourceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceKey")
            .field("api_key", &self.api_key)
            .field("api_secret", &"…")
            .finish()
    }
}

/// Rewrites a storage URL prefix (e.g. a bucket's) to a public base URL for HLS playback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsRewrite {
    pub from: String,
    pub to: String,
}

impl HlsRewrite {
    pub fn apply(&self, url: &str) -> String {
        match url.strip_prefix(&self.from) {
            Some(rest) => format!("{}{rest}", self.to),
            None => url.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub id: String,
    pub project_id: String,
    pub kind: SourceKind,
    pub keys: Vec<SourceKey>,
    pub hls_rewrite: Option<HlsRewrite>,
    pub created_at: Timestamp,
}

impl Source {
    /// The secret of `api_key`, if it is one of this source's keys.
    pub fn secret_of(&self, api_key: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|k| k.api_key == api_key)
            .map(|k| k.api_secret.as_str())
    }
}
