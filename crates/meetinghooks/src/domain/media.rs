//! Media signals: a resource (the meeting's recording, livestream or HLS stream, a
//! participant's recording, one of their tracks' recording) moving through its lifecycle.

use meetinghooks_webhooks::FileDetail;
use serde::{Deserialize, Serialize};

/// What a media signal is about. Each one has its own lifecycle per session.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(
    tag = "resource",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Resource {
    Recording,
    Livestream,
    Hls,
    ParticipantRecording {
        participant_id: String,
    },
    ParticipantTrackRecording {
        participant_id: String,
        /// The track's kind, e.g. `audio`.
        kind: String,
    },
}

impl Resource {
    /// The name a signal's `type` starts with, and a webhook's.
    pub fn name(&self) -> &'static str {
        match self {
            Resource::Recording => "recording",
            Resource::Livestream => "livestream",
            Resource::Hls => "hls",
            Resource::ParticipantRecording { .. } => "participant-recording",
            Resource::ParticipantTrackRecording { .. } => "participant-track-recording",
        }
    }

    /// The key signals about this resource are ordered under (`MeetingState::last_at`).
    /// A kind holds no `:`, so two resources never share a key.
    pub fn key(&self) -> String {
        match self {
            Resource::Recording | Resource::Livestream | Resource::Hls => self.name().to_owned(),
            Resource::ParticipantRecording { participant_id } => {
                format!("participant-recording:{participant_id}")
            }
            Resource::ParticipantTrackRecording {
                participant_id,
                kind,
            } => format!("participant-track-recording:{participant_id}:{kind}"),
        }
    }

    /// The key of one lifecycle of this resource: `recording:<egress id>`, or the resource's
    /// own key when it has just one.
    pub fn lifecycle_key(&self, lifecycle: Option<&str>) -> String {
        match lifecycle {
            Some(lifecycle) => format!("{}:{lifecycle}", self.key()),
            None => self.key(),
        }
    }

    /// Keys that last only as long as their session (per participant, per lifecycle id), so
    /// the meeting header does not grow with every participant or egress ever recorded.
    /// Only those hold a `:` (see [`MediaSignal::key`]).
    pub fn is_session_scoped_key(key: &str) -> bool {
        key.contains(':')
    }
}

/// Where a signal says its resource is. `Playable` is HLS's alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Starting,
    Started,
    Playable,
    Stopping,
    Stopped,
    Failed,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Starting,
        Phase::Started,
        Phase::Playable,
        Phase::Stopping,
        Phase::Stopped,
        Phase::Failed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Started => "started",
            Phase::Playable => "playable",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
            Phase::Failed => "failed",
        }
    }
}

/// One media signal: the resource, the phase it reports, and what it says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSignal {
    pub resource: Resource,
    /// Which of several concurrent lifecycles of a meeting-wide resource this is (LiveKit: the
    /// egress id). `None`: the resource's one lifecycle, as plain signals have it.
    pub lifecycle: Option<String>,
    pub phase: Phase,
    /// Boxed: most signals carry none, and a signal should not be as large as all of them.
    pub details: Box<MediaDetails>,
}

/// What a media signal may carry; the parser allows each field only where it means
/// something (see `domain::signal`), so the engine reads them without checking again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaDetails {
    /// `recording.starting|started|stopped`: our file id (generated when never given).
    pub file_id: Option<String>,
    /// `recording.starting|started|stopped`: where the file is; the latest given wins.
    pub file_path: Option<String>,
    pub file_url: Option<String>,
    /// `hls.started` (this or `downstream_url`), `hls.playable` (required).
    pub playback_hls_url: Option<String>,
    /// `hls.started`: the older name of the playback URL.
    pub downstream_url: Option<String>,
    /// `hls.playable`: live HLS without playback support.
    pub livestream_url: Option<String>,
    /// `participant-recording.starting|started`: e.g. `webm`.
    pub file_format: Option<String>,
    /// `participant-recording.stopped`, `participant-track-recording.stopped`.
    pub file_details: Vec<FileDetail>,
}

impl MediaSignal {
    /// A signal with no details, e.g. `livestream.started`.
    pub fn bare(resource: Resource, phase: Phase) -> Self {
        MediaSignal {
            resource,
            lifecycle: None,
            phase,
            details: Box::default(),
        }
    }

    /// `recording.<phase>` with an optional file id.
    pub fn recording(phase: Phase, file_id: Option<String>) -> Self {
        MediaSignal {
            resource: Resource::Recording,
            lifecycle: None,
            phase,
            details: Box::new(MediaDetails {
                file_id,
                ..MediaDetails::default()
            }),
        }
    }

    /// The key this signal is ordered under (`MeetingState::last_at`): its resource's, or
    /// `recording:<lifecycle>` for one of several lifecycles.
    pub fn key(&self) -> String {
        self.resource.lifecycle_key(self.lifecycle.as_deref())
    }

    /// The signal's `type`, e.g. `participant-recording.started`.
    pub fn type_name(&self) -> String {
        format!("{}.{}", self.resource.name(), self.phase.name())
    }
}

/// Every media signal type, as `type` spells it.
pub fn media_signal_types() -> Vec<String> {
    let resources = [
        Resource::Recording,
        Resource::Livestream,
        Resource::Hls,
        Resource::ParticipantRecording {
            participant_id: String::new(),
        },
        Resource::ParticipantTrackRecording {
            participant_id: String::new(),
            kind: String::new(),
        },
    ];
    resources
        .iter()
        .flat_map(|r| {
            Phase::ALL
                .into_iter()
                .filter(move |p| *p != Phase::Playable || *r == Resource::Hls)
                .map(move |p| format!("{}.{}", r.name(), p.name()))
        })
        .collect()
}
