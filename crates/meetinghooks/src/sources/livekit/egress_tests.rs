//! The egress mapping: each output of a room egress, each status, to the media signals.

use serde_json::json;

use super::mapping::{Ignored, Mapped};
use super::tests::signed_receive;
use crate::domain::media::{MediaSignal, Phase, Resource};
use crate::domain::signal::SignalKind;
use crate::domain::timestamp::Timestamp;

#[test]
fn maps_egress_by_output_and_status() {
    let egress = |status: &str, request: serde_json::Value, results: serde_json::Value| {
        let mut info = json!({"egressId":"EG_1","roomId":"RM_1","roomName":"daily-standup",
            "status":status,"updatedAt":"1700000203512000000","roomComposite":request});
        info.as_object_mut()
            .unwrap()
            .extend(results.as_object().unwrap().clone());
        signed_receive(&json!({"event":"egress_updated","id":"EV_e","createdAt":"1700000203","egressInfo":info}))
            .unwrap()
            .mapped
    };
    let file = json!({"fileOutputs":[{"filepath":"x.mp4"}]});
    // Every signal of an egress names its lifecycle: the egress id.
    let eg1 = |mut media: MediaSignal| {
        media.lifecycle = Some("EG_1".into());
        SignalKind::Media(media)
    };
    let recording = |phase| eg1(MediaSignal::recording(phase, Some("EG_1".into())));
    let Mapped::Signals(starting) = egress("EGRESS_STARTING", file.clone(), json!({})) else {
        panic!()
    };
    assert_eq!(starting[0].kind, recording(Phase::Starting));
    let Mapped::Signals(ending) = egress("EGRESS_ENDING", file.clone(), json!({})) else {
        panic!()
    };
    assert_eq!(
        ending[0].kind,
        eg1(MediaSignal::recording(Phase::Stopping, None))
    );
    let Mapped::Signals(active) = egress("EGRESS_ACTIVE", file.clone(), json!({})) else {
        panic!()
    };
    assert_eq!(active[0].kind, recording(Phase::Started));
    assert_eq!(active[0].at, Timestamp(1_700_000_203_512));
    for (ended, phase) in [
        ("EGRESS_COMPLETE", Phase::Stopped),
        ("EGRESS_LIMIT_REACHED", Phase::Stopped),
        ("EGRESS_FAILED", Phase::Failed),
        ("EGRESS_ABORTED", Phase::Failed),
    ] {
        let Mapped::Signals(s) = egress(ended, file.clone(), json!({})) else {
            panic!()
        };
        let expected = match phase {
            Phase::Failed => eg1(MediaSignal::recording(phase, None)),
            _ => recording(phase),
        };
        assert_eq!(s[0].kind, expected, "{ended}");
    }
    // A finished file's name and location become filePath and fileUrl.
    let done = json!({"fileResults":[{"filename":"rooms/daily.mp4","location":"https://bucket.example.com/rooms/daily.mp4"}]});
    let Mapped::Signals(s) = egress("EGRESS_COMPLETE", file.clone(), done) else {
        panic!()
    };
    let SignalKind::Media(media) = &s[0].kind else {
        panic!()
    };
    assert_eq!(media.details.file_path.as_deref(), Some("rooms/daily.mp4"));
    assert_eq!(
        media.details.file_url.as_deref(),
        Some("https://bucket.example.com/rooms/daily.mp4")
    );
    let stream = json!({"streamOutputs":[{"protocol":"RTMP","urls":["rtmp://x/y"]}]});
    let Mapped::Signals(s) = egress("EGRESS_ACTIVE", stream, json!({})) else {
        panic!()
    };
    assert_eq!(
        s[0].kind,
        eg1(MediaSignal::bare(Resource::Livestream, Phase::Started))
    );
    // HLS: the playlist location, rewritten to the public base; none yet means nothing yet.
    let segments = json!({"segmentOutputs":[{"protocol":"HLS_PROTOCOL"}]});
    assert_eq!(
        egress("EGRESS_ACTIVE", segments.clone(), json!({})),
        Mapped::Ignored(Ignored::NoPlaylist)
    );
    let located = json!({"segmentResults":[{"playlistLocation":"https://meet-hls.s3.amazonaws.com/hls/r/index.m3u8"}]});
    let Mapped::Signals(s) = egress("EGRESS_ACTIVE", segments, located) else {
        panic!()
    };
    let SignalKind::Media(media) = &s[0].kind else {
        panic!()
    };
    assert_eq!(
        (&media.resource, media.phase),
        (&Resource::Hls, Phase::Started)
    );
    let url = "https://cdn.example.com/hls/r/index.m3u8";
    assert_eq!(media.details.playback_hls_url.as_deref(), Some(url));
    assert_eq!(media.details.downstream_url.as_deref(), Some(url));
    // One egress with two outputs: two lifecycles, two signal ids.
    let both = json!({"fileOutputs":[{}],"streamOutputs":[{"urls":["rtmp://x"]}]});
    let Mapped::Signals(s) = egress("EGRESS_COMPLETE", both, json!({})) else {
        panic!()
    };
    assert_eq!(s.len(), 2);
    assert_eq!(
        (s[0].id.as_str(), s[1].id.as_str()),
        ("EV_e:file", "EV_e:stream")
    );
    assert_eq!(
        s[1].kind,
        eg1(MediaSignal::bare(Resource::Livestream, Phase::Stopped))
    );
    // Participant and track egress wait for the catalog's participant recordings.
    let track = signed_receive(&json!({"event":"egress_updated","id":"EV_t","egressInfo":{
        "egressId":"EG_2","roomName":"r","status":"EGRESS_ACTIVE","track":{"trackId":"TR_1"}}}))
    .unwrap();
    assert_eq!(track.mapped, Mapped::Ignored(Ignored::ParticipantEgress));
}

#[test]
fn maps_participant_egress_to_the_participants_recording() {
    let egress = |status: &str, request: serde_json::Value, results: serde_json::Value| {
        let mut info = json!({"egressId":"EG_p","roomName":"daily-standup","status":status,
            "updatedAt":"1700000203512000000","participant":request});
        info.as_object_mut()
            .unwrap()
            .extend(results.as_object().unwrap().clone());
        let body = json!({"event":"egress_updated","id":"EV_p","createdAt":"1700000203","egressInfo":info});
        match signed_receive(&body).unwrap().mapped {
            Mapped::Signals(mut s) => {
                assert_eq!(s.len(), 1);
                match s.remove(0).kind {
                    SignalKind::Media(media) => Some(media),
                    other => panic!("{other:?}"),
                }
            }
            Mapped::Ignored(Ignored::ParticipantEgress) => None,
            other => panic!("{other:?}"),
        }
    };
    let alice = Resource::ParticipantRecording {
        participant_id: "alice".into(),
    };
    let request = json!({"roomName":"daily-standup","identity":"alice",
        "fileOutputs":[{"fileType":"OGG","filepath":"rec/{room_name}-alice"}]});
    let starting = egress("EGRESS_STARTING", request.clone(), json!({})).unwrap();
    assert_eq!(
        (&starting.resource, starting.phase),
        (&alice, Phase::Starting)
    );
    assert_eq!(starting.details.file_format.as_deref(), Some("ogg"));
    let active = egress("EGRESS_ACTIVE", request.clone(), json!({})).unwrap();
    assert_eq!(active.phase, Phase::Started);
    let ending = egress("EGRESS_ENDING", request.clone(), json!({})).unwrap();
    assert_eq!(
        (ending.phase, ending.details.file_format),
        (Phase::Stopping, None)
    );
    let done = json!({"fileResults":[
        {"filename":"rec/daily-standup-alice.ogg","location":"https://bucket.example.com/rec/daily-standup-alice.ogg"},
        {"filename":"rec/elsewhere.ogg","location":"s3://bucket/rec/elsewhere.ogg"}]});
    let stopped = egress("EGRESS_COMPLETE", request.clone(), done).unwrap();
    assert_eq!(stopped.phase, Phase::Stopped);
    // Only files with an http(s) location can be a fileUrl.
    assert_eq!(stopped.details.file_details.len(), 1);
    assert_eq!(
        stopped.details.file_details[0].file_url,
        "https://bucket.example.com/rec/daily-standup-alice.ogg"
    );
    let failed = egress("EGRESS_ABORTED", request, json!({})).unwrap();
    assert_eq!(failed.phase, Phase::Failed);
    // The format: a requested extension, else mp4.
    let mp4 = json!({"identity":"bob","fileOutputs":[{"filepath":"bob.webm"}]});
    let bob = egress("EGRESS_ACTIVE", mp4, json!({})).unwrap();
    assert_eq!(bob.details.file_format.as_deref(), Some("webm"));
    let plain = json!({"identity":"bob","fileOutputs":[{}]});
    let bob = egress("EGRESS_ACTIVE", plain, json!({})).unwrap();
    assert_eq!(bob.details.file_format.as_deref(), Some("mp4"));
    // No file (HLS of one participant), or no identity: nothing to map.
    let hls_only = json!({"identity":"bob","segmentOutputs":[{"playlistName":"p.m3u8"}]});
    assert_eq!(egress("EGRESS_ACTIVE", hls_only, json!({})), None);
    let nobody = json!({"fileOutputs":[{}]});
    assert_eq!(egress("EGRESS_ACTIVE", nobody, json!({})), None);
}
