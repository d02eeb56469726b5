//! The part of the test's config (SPEC §7) the SDK acts on.
//!
//! Read from `GET /api/v1/config` through its own struct rather than
//! `ProctorConfig`: the anomaly weights are the pipeline's business, and their
//! float parsing and strict decoding would cost the bundle ~8 KB. Unknown
//! fields are ignored, at every level, so a newer server never breaks an
//! older SDK.

use invigil_schemas::config::{Blocking, CaptureIntervals, Recording, RecordingMode, UploadMode, Uploads, VideoShape};

use crate::json::{Error, FromJson, Node};

/// Every field is optional: an absent one keeps the server's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkConfig {
    pub proctoring_enabled: bool,
    pub capture_intervals: CaptureIntervals,
    pub events_interval_ms: u32,
    pub blocking: Blocking,
    pub uploads: SdkUploads,
    pub recording: SdkRecording,
    pub face_check: SdkFaceCheck,
}

/// `face_check`, read leniently: a mode this SDK does not know checks
/// nothing. The threshold travels as thousandths, so the core parses no
/// floats (`Node::thousandths`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkFaceCheck {
    pub on: bool,
    /// `mode = "identity"`: compare faces with the page's reference face.
    pub identity: bool,
    pub every_ms: u32,
    pub identity_every_ms: u32,
    pub min_confidence: u32,
}

impl Default for SdkFaceCheck {
    /// `FaceCheck::default()` (a test holds them equal), written out: its
    /// threshold is a float the SDK does not compute with.
    fn default() -> Self {
        Self { on: false, identity: false, every_ms: 5_000, identity_every_ms: 30_000, min_confidence: 600 }
    }
}

/// `recording`, read leniently: a mode this SDK does not know records no
/// video (snapshots go on whatever the mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkRecording {
    pub video: bool,
    pub video_kbps: u32,
    pub segment_ms: u32,
    pub camera: VideoShape,
    pub screen: VideoShape,
}

impl Default for SdkRecording {
    fn default() -> Self {
        let d = Recording::default();
        Self {
            video: d.mode == RecordingMode::Video,
            video_kbps: d.video_kbps,
            segment_ms: d.segment_ms,
            camera: d.camera,
            screen: d.screen,
        }
    }
}

impl Default for SdkConfig {
    /// The server's defaults, used until (or if) the config arrives.
    fn default() -> Self {
        // The parts of `ProctorConfig::default()` the SDK reads, each from
        // its own default (building the whole one costs the bundle its
        // float weights); `defaults_are_the_servers` holds them equal.
        Self {
            proctoring_enabled: true,
            capture_intervals: CaptureIntervals::default(),
            events_interval_ms: 5_000,
            blocking: Blocking::default(),
            uploads: SdkUploads::default(),
            recording: SdkRecording::default(),
            face_check: SdkFaceCheck::default(),
        }
    }
}

/// `uploads`, read leniently: a mode this SDK does not know means one
/// object per capture, which every server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkUploads {
    /// `mode = "bundled"`.
    bundled: bool,
    pub bundle_ms: u32,
}

impl SdkUploads {
    pub fn bundled(&self) -> bool {
        self.bundled
    }
}

impl Default for SdkUploads {
    fn default() -> Self {
        let defaults = Uploads::default();
        Self { bundled: defaults.mode == UploadMode::Bundled, bundle_ms: defaults.bundle_ms }
    }
}

/// `ConfigResponse`, as the SDK reads it.
#[derive(Debug)]
pub struct ConfigReply {
    pub config_version: u64,
    pub config: SdkConfig,
}

impl FromJson for ConfigReply {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        Ok(Self { config_version: node.read("config_version")?, config: node.read("config")? })
    }
}

impl FromJson for SdkConfig {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        let d = Self::default();
        let node = node.object()?;
        Ok(Self {
            proctoring_enabled: node.or("proctoring_enabled", d.proctoring_enabled, Node::bool)?,
            capture_intervals: node.or("capture_intervals", d.capture_intervals, |n| {
                let d = CaptureIntervals::default();
                let n = n.object()?;
                Ok(CaptureIntervals {
                    face_ms: n.or("face_ms", d.face_ms, Node::u32)?,
                    screen_ms: n.or("screen_ms", d.screen_ms, Node::u32)?,
                    audio_chunk_ms: n.or("audio_chunk_ms", d.audio_chunk_ms, Node::u32)?,
                })
            })?,
            events_interval_ms: node.or("events_interval_ms", d.events_interval_ms, Node::u32)?,
            blocking: node.or("blocking", d.blocking, |n| {
                let d = Blocking::default();
                let n = n.object()?;
                Ok(Blocking {
                    on_permission_denied: n.or("on_permission_denied", d.on_permission_denied, Node::bool)?,
                    on_fullscreen_exit: n.or("on_fullscreen_exit", d.on_fullscreen_exit, Node::bool)?,
                    on_screen_share_stop: n.or("on_screen_share_stop", d.on_screen_share_stop, Node::bool)?,
                    on_second_screen: n.or("on_second_screen", d.on_second_screen, Node::bool)?,
                })
            })?,
            uploads: node.or("uploads", d.uploads, |n| {
                let d = SdkUploads::default();
                let n = n.object()?;
                Ok(SdkUploads {
                    bundled: n.or("mode", d.bundled, |mode| Ok(mode.str()? == "bundled"))?,
                    bundle_ms: n.or("bundle_ms", d.bundle_ms, Node::u32)?,
                })
            })?,
            recording: node.or("recording", d.recording, |n| {
                let d = SdkRecording::default();
                let n = n.object()?;
                Ok(SdkRecording {
                    video: n.or("mode", false, |mode| Ok(mode.str()? == "video"))?,
                    video_kbps: n.or("video_kbps", d.video_kbps, Node::u32)?,
                    segment_ms: n.or("segment_ms", d.segment_ms, Node::u32)?,
                    camera: n.or("camera", d.camera, |n| shape(n, VideoShape::CAMERA))?,
                    screen: n.or("screen", d.screen, |n| shape(n, VideoShape::SCREEN))?,
                })
            })?,
            face_check: node.or("face_check", d.face_check, |n| {
                let d = SdkFaceCheck::default();
                let n = n.object()?;
                // 0 off (or a mode this SDK does not know), 1 presence, 2 identity.
                let mode = n.or("mode", 0u8, |m| {
                    Ok(match m.str()? {
                        "presence" => 1,
                        "identity" => 2,
                        _ => 0,
                    })
                })?;
                Ok(SdkFaceCheck {
                    on: mode > 0,
                    identity: mode == 2,
                    every_ms: n.or("every_ms", d.every_ms, Node::u32)?,
                    identity_every_ms: n.or("identity_every_ms", d.identity_every_ms, Node::u32)?,
                    min_confidence: n.or("min_confidence", d.min_confidence, Node::thousandths)?,
                })
            })?,
        })
    }
}

/// A track's recorded shape; an absent number keeps `d`'s.
fn shape(n: &Node<'_>, d: VideoShape) -> Result<VideoShape, Error> {
    let n = n.object()?;
    Ok(VideoShape {
        width: n.or("width", d.width, Node::u32)?,
        height: n.or("height", d.height, Node::u32)?,
        fps: n.or("fps", d.fps, Node::u32)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use invigil_schemas::api::ConfigResponse;
    use invigil_schemas::config::{FaceCheckMode, ProctorConfig};

    #[test]
    fn defaults_are_the_servers() {
        let server = ProctorConfig::default();
        let ours = SdkConfig::default();
        assert_eq!(
            (ours.proctoring_enabled, ours.capture_intervals, ours.events_interval_ms, ours.blocking),
            (server.proctoring_enabled, server.capture_intervals, server.events_interval_ms, server.blocking)
        );
    }

    #[test]
    fn reads_what_the_server_sends() {
        let mut config = ProctorConfig { events_interval_ms: 2_000, ..ProctorConfig::default() };
        config.capture_intervals.screen_ms = 0;
        config.blocking.on_fullscreen_exit = false;
        let wire = serde_json::to_string(&ConfigResponse { config_version: 7, config: config.clone() }).unwrap();
        let reply: ConfigReply = crate::json::from_str(&wire).unwrap();
        assert_eq!(reply.config_version, 7);
        assert_eq!(reply.config.events_interval_ms, 2_000);
        assert_eq!(reply.config.capture_intervals, config.capture_intervals);
        assert_eq!(reply.config.blocking, config.blocking);
        assert!(reply.config.proctoring_enabled);
        assert!(!reply.config.uploads.bundled());
        assert!(!reply.config.recording.video, "snapshots by default");
    }

    #[test]
    fn video_recording_is_read_and_unknown_modes_record_no_video() {
        let mut config = ProctorConfig::default();
        config.recording.mode = RecordingMode::Video;
        config.recording.segment_ms = 6_000;
        config.recording.screen = VideoShape { width: 960, height: 600, fps: 2 };
        let wire = serde_json::to_string(&ConfigResponse { config_version: 1, config }).unwrap();
        let reply: ConfigReply = crate::json::from_str(&wire).unwrap();
        let expected = SdkRecording {
            video: true,
            segment_ms: 6_000,
            screen: VideoShape { width: 960, height: 600, fps: 2 },
            ..SdkRecording::default()
        };
        assert_eq!(reply.config.recording, expected);
        assert_eq!(reply.config.recording.camera, VideoShape { width: 320, height: 240, fps: 5 });
        let newer = r#"{"config_version": 2, "config": {"recording": {"mode": "hologram"}}}"#;
        let reply: ConfigReply = crate::json::from_str(newer).unwrap();
        assert!(!reply.config.recording.video);
    }

    #[test]
    fn face_checks_are_read_with_their_threshold_in_thousandths() {
        let d = invigil_schemas::config::FaceCheck::default();
        let ours = SdkFaceCheck::default();
        assert_eq!((ours.on, ours.every_ms), (d.mode == FaceCheckMode::Presence, d.every_ms));
        assert_eq!((ours.identity, ours.identity_every_ms), (d.mode == FaceCheckMode::Identity, d.identity_every_ms));
        assert_eq!(f64::from(ours.min_confidence), (d.min_confidence * 1000.0).round(), "the server's defaults");
        let mut config = ProctorConfig::default();
        assert!(
            !crate::json::from_str::<ConfigReply>(
                &serde_json::to_string(&ConfigResponse { config_version: 1, config: config.clone() }).unwrap()
            )
            .unwrap()
            .config
            .face_check
            .on
        );
        config.face_check.mode = FaceCheckMode::Presence;
        config.face_check.every_ms = 7_000;
        config.face_check.min_confidence = 0.725;
        let wire = serde_json::to_string(&ConfigResponse { config_version: 1, config: config.clone() }).unwrap();
        let reply: ConfigReply = crate::json::from_str(&wire).unwrap();
        assert_eq!(
            reply.config.face_check,
            SdkFaceCheck { on: true, identity: false, every_ms: 7_000, identity_every_ms: 30_000, min_confidence: 725 }
        );
        config.face_check.mode = FaceCheckMode::Identity;
        config.face_check.identity_every_ms = 60_000;
        let text = serde_json::to_string(&ConfigResponse { config_version: 2, config }).unwrap();
        let face = crate::json::from_str::<ConfigReply>(&text).unwrap().config.face_check;
        assert_eq!((face.on, face.identity, face.identity_every_ms), (true, true, 60_000));
        let newer = r#"{"config_version": 2, "config": {"face_check": {"mode": "telepathy", "min_confidence": 1}}}"#;
        let reply: ConfigReply = crate::json::from_str(newer).unwrap();
        assert_eq!((reply.config.face_check.on, reply.config.face_check.min_confidence), (false, 1000));
    }

    #[test]
    fn bundled_uploads_are_read_and_unknown_modes_mean_per_capture() {
        let mut config = ProctorConfig::default();
        config.uploads.mode = UploadMode::Bundled;
        config.uploads.bundle_ms = 60_000;
        let wire = serde_json::to_string(&ConfigResponse { config_version: 1, config }).unwrap();
        let reply: ConfigReply = crate::json::from_str(&wire).unwrap();
        assert!(reply.config.uploads.bundled());
        assert_eq!(reply.config.uploads.bundle_ms, 60_000);
        let newer = r#"{"config_version": 2, "config": {"uploads": {"mode": "zstd", "level": 3}}}"#;
        let reply: ConfigReply = crate::json::from_str(newer).unwrap();
        assert!(!reply.config.uploads.bundled());
        assert_eq!(reply.config.uploads.bundle_ms, 120_000);
    }
}
