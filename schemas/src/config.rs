//! The configuration document of SPEC §7 and its resolution for one candidate.
//!
//! Four layers, applied in order: `defaults` → `tests.{test_id}` → an
//! accommodation in `accommodations.{test_id}.{candidate_id}` (checks waived
//! for one person) → a bypass in `bypasses.{test_id}.{candidate_id}`
//! (proctoring off for one person). A test override is a partial object
//! merged over the defaults (JSON merge patch, RFC 7396), so an override names
//! only what it changes; the merged result is then decoded strictly, so a typo
//! in an override is an error, not a silently ignored key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{CandidateId, TestId};
use crate::validate::{FieldProblem, ProblemCode};

/// Everything the SDK and pipeline need to know for one test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProctorConfig {
    /// When false, every events call answers `shutdown` / `proctoring_disabled`.
    pub proctoring_enabled: bool,
    pub capture_intervals: CaptureIntervals,
    /// How often the SDK posts a batch.
    pub events_interval_ms: u32,
    pub blocking: Blocking,
    pub anomaly: AnomalyConfig,
    /// Days the test's data is kept after its verdicts are marked final;
    /// then the retention sweep erases it (see the dashboards' `retention`).
    pub retention_days: u32,
    pub uploads: Uploads,
    /// Proctors may watch this test's candidates live and write to them.
    /// Off, the SDK hears live video is disabled and never sends video.
    pub live_video: bool,
    /// What the SDK records besides events: snapshots only, or continuous
    /// low-bitrate video of camera and screen as well.
    pub recording: Recording,
    /// Face checks in the candidate's browser (off unless a test asks).
    pub face_check: FaceCheck,
    /// What an LMS launch (LTI 1.3 proctoring) asks of the platform.
    pub lms: LmsConfig,
    /// When the pipeline tells webhook endpoints on its own.
    pub notify: NotifyConfig,
}

/// When a test's candidates are worth a webhook before anyone asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// `capture.missing` is sent once per session when the share of its
    /// capture slots filled falls below this (0..100), counted once at
    /// least [`CAPTURE_MISSING_MIN_SLOTS`] slots were due. 0: never.
    pub capture_missing_below_pct: f64,
}

/// Capture slots a session must have had due before `capture.missing`
/// can fire: one missing photo in the first minute is not news.
pub const CAPTURE_MISSING_MIN_SLOTS: u32 = 6;

impl Default for NotifyConfig {
    fn default() -> Self {
        Self { capture_missing_below_pct: 80.0 }
    }
}

/// What invigil asks of a learning platform for a test launched with LTI
/// 1.3 Proctoring Services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LmsConfig {
    /// Ask the platform (`end_assessment_return` in `LtiStartAssessment`)
    /// to launch `LtiEndAssessment` when the attempt ends, which stops
    /// proctoring at once; otherwise it stops when the candidate closes the
    /// page.
    pub end_assessment_return: bool,
    /// With `face_check.mode = "identity"`: how long the proctoring page
    /// waits, once the checks pass, for the reference face before it opens
    /// the assessment. Taken in time, `LtiStartAssessment` carries
    /// `verified_user` (the names the launch gave: the person who started
    /// the attempt is the one every later check is compared with — no ID
    /// document is checked). 0: never wait, never claim.
    pub identity_wait_ms: u32,
}

impl Default for LmsConfig {
    fn default() -> Self {
        Self { end_assessment_return: true, identity_wait_ms: 20_000 }
    }
}

impl Default for ProctorConfig {
    fn default() -> Self {
        Self {
            proctoring_enabled: true,
            capture_intervals: CaptureIntervals::default(),
            events_interval_ms: 5_000,
            blocking: Blocking::default(),
            anomaly: AnomalyConfig::default(),
            retention_days: 30,
            uploads: Uploads::default(),
            live_video: true,
            recording: Recording::default(),
            face_check: FaceCheck::default(),
            lms: LmsConfig::default(),
            notify: NotifyConfig::default(),
        }
    }
}

/// Face checks (`mode = "presence"`): every `every_ms` the SDK runs a face
/// detector on a camera frame, in a Web Worker in the candidate's browser,
/// and reports only counts and measures (`face` events: faces, confidence,
/// face size, light). No image leaves the browser for this, no face is
/// recognised and nothing biometric is kept.
///
/// A flag is never one frame: the pipeline flags a run of consecutive
/// checks without a face (or with several) once it holds
/// `flag_after_checks` checks, or at least two checks spanning
/// `flag_after_ms`. A frame darker than `dark_below` with no face is "too
/// dark to tell", not "no face"; checks while the candidate is blocked
/// (camera denied, fullscreen left) are labelled and not scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaceCheck {
    pub mode: FaceCheckMode,
    /// Time between two checks.
    pub every_ms: u32,
    /// A detection scoring below this (0..1) is not a face.
    pub min_confidence: f64,
    /// Consecutive checks that make a flag (at least 2).
    pub flag_after_checks: u32,
    /// Or: a run of at least two checks spanning this long.
    pub flag_after_ms: u32,
    /// Mean frame brightness (0 black .. 1 white) under which a frame with
    /// no face is too dark to tell.
    pub dark_below: f64,
    /// `mode = "identity"`: time between two comparisons with the
    /// reference face (until there is one, every check tries to take it).
    pub identity_every_ms: u32,
    /// `mode = "identity"`: a cosine similarity to the reference face below
    /// this is a different person (SFace's published threshold: 0.363).
    pub min_similarity: f64,
}

impl Default for FaceCheck {
    /// Thresholds from the stress sweeps (README, "Face checks"): at 0.6 the
    /// detector finds every portrait down to a tenth of the light, and
    /// finds nothing on empty, noisy or face-like frames.
    fn default() -> Self {
        Self {
            mode: FaceCheckMode::Off,
            every_ms: 5_000,
            min_confidence: 0.6,
            flag_after_checks: 3,
            flag_after_ms: 15_000,
            dark_below: 0.12,
            identity_every_ms: 30_000,
            min_similarity: 0.363,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceCheckMode {
    #[default]
    Off,
    /// No face, several faces: counts from a detector, nothing more.
    Presence,
    /// Presence, and identity continuity: the first well-lit frontal face
    /// of the page becomes the reference, and every `identity_every_ms` the
    /// single face in view is compared with it by a face recogniser (SFace)
    /// in the same Worker. Only the similarity leaves the browser; the
    /// embeddings live in the Worker's memory and die with the page.
    ///
    /// This is biometric processing (GDPR Art. 9 and its equivalents): a
    /// test turns it on only with a legal basis the institution has
    /// established, never as a default.
    Identity,
}

/// Continuous recording (`mode = "video"`): camera and screen each recorded
/// by the browser (MediaRecorder, VP8 in WebM) in self-contained segments of
/// `segment_ms`, every segment persisted in the browser before it is
/// uploaded through the candidate's own upload grant. Photos, screenshots
/// and audio chunks go on as configured (the proctor wall's thumbnails and
/// the base-truth face come from them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Recording {
    pub mode: RecordingMode,
    /// Video bitrate of camera and screen together, kbit/s; the SDK gives
    /// the screen two thirds (text needs it more than a face).
    pub video_kbps: u32,
    /// Length of one segment.
    pub segment_ms: u32,
    /// The camera's recording ([`VideoShape::CAMERA`] unless set).
    pub camera: VideoShape,
    /// The screen's recording ([`VideoShape::SCREEN`] unless set).
    pub screen: VideoShape,
}

impl Default for Recording {
    fn default() -> Self {
        Self {
            mode: RecordingMode::Snapshots,
            video_kbps: 150,
            segment_ms: 10_000,
            camera: VideoShape::CAMERA,
            screen: VideoShape::SCREEN,
        }
    }
}

/// The largest picture and frame rate a track is recorded at. The SDK
/// records a clone of the track scaled down to it, so the live view and the
/// snapshots keep the original; the encoder's CPU grows with width × height
/// × fps (`invigil bench sdk --video --shape` measures it). A layer may
/// set one of the three; the others come from the layers below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoShape {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl VideoShape {
    /// A face at 320×240 and 5 fps shows who is there and what they do, for
    /// a fraction of the encoder's work.
    pub const CAMERA: VideoShape = VideoShape { width: 320, height: 240, fps: 5 };
    /// 1280×800 keeps text readable, and two frames a second show what was
    /// on screen when. (At one, Chrome's frame-rate cap drops the refresh
    /// frames a still screen sends, and a 10-s segment may hold one frame.)
    pub const SCREEN: VideoShape = VideoShape { width: 1280, height: 800, fps: 2 };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingMode {
    /// Face photos, screenshots and audio chunks only.
    #[default]
    Snapshots,
    /// Snapshots plus continuous camera and screen video.
    Video,
}

/// How captures travel to S3. PUT requests are most of a session's cost
/// (`invigil cost`), so `bundled` sends everything captured in `bundle_ms`
/// as one object; each capture's event then names its part of it
/// ([`crate::event::part_key`]), so review still addresses every photo and
/// chunk. The price: live thumbnails lag by up to `bundle_ms`, and captures
/// not yet bundled wait in the browser for the candidate's next visit if the
/// tab closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Uploads {
    pub mode: UploadMode,
    /// How long captures gather before a bundle is sent (`bundled` only).
    pub bundle_ms: u32,
}

impl Default for Uploads {
    fn default() -> Self {
        Self { mode: UploadMode::PerCapture, bundle_ms: 120_000 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadMode {
    /// One object per photo, screenshot and audio chunk.
    #[default]
    PerCapture,
    /// One object per `bundle_ms`.
    Bundled,
}

/// How often each medium is captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureIntervals {
    pub face_ms: u32,
    pub screen_ms: u32,
    pub audio_chunk_ms: u32,
}

impl Default for CaptureIntervals {
    fn default() -> Self {
        Self { face_ms: 30_000, screen_ms: 30_000, audio_chunk_ms: 30_000 }
    }
}

/// Which compliance problems block the test (SPEC §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Blocking {
    pub on_permission_denied: bool,
    pub on_fullscreen_exit: bool,
    pub on_screen_share_stop: bool,
    /// A second screen attached blocks the test until it is unplugged (or
    /// mirrored). Off by default: then screens are a signal only
    /// (`anomaly.weights.screen_added`, `extra_screen_second`).
    pub on_second_screen: bool,
}

impl Default for Blocking {
    fn default() -> Self {
        Self {
            on_permission_denied: true,
            on_fullscreen_exit: true,
            on_screen_share_stop: true,
            on_second_screen: false,
        }
    }
}

/// Weights of the anomaly score's components and the thresholds around them.
/// A window's score is the sum of `weight × count` over its components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyConfig {
    pub weights: AnomalyWeights,
    /// Keys within one `key_activity` interval above which it counts as a burst.
    pub key_burst_keys: u32,
    /// A window scoring at least this raises an alert.
    pub alert_score: f64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self { weights: AnomalyWeights::default(), key_burst_keys: 40, alert_score: 5.0 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyWeights {
    pub tab_switch: f64,
    pub hidden_second: f64,
    pub blur: f64,
    pub fullscreen_exit: f64,
    pub clipboard: f64,
    pub key_burst: f64,
    pub permission_revoked: f64,
    pub blocked_second: f64,
    pub missing_capture: f64,
    /// Per second of a flagged run of checks without a face.
    pub no_face_second: f64,
    /// Per second of a flagged run of checks with several faces.
    pub several_faces_second: f64,
    /// Per second of a flagged run of comparisons that found a different
    /// person (`face_check.mode = "identity"`).
    pub different_person_second: f64,
    /// Per character pasted into the page's fields: answers, text fields
    /// and editors (counted, never read).
    pub paste_char: f64,
    /// Per character pasted into a field the host marked as an answer
    /// (`data-invigil-answer`), on top of `paste_char`.
    pub answer_paste_char: f64,
    /// Per second of typing far above the candidate's own rate.
    pub burst_second: f64,
    /// Per screen plugged in after the session's first report of its screens.
    pub screen_added: f64,
    /// Per second the computer had more than one screen (from the start or not).
    pub extra_screen_second: f64,
    /// Per second another tab or window of this browser ran the same
    /// candidate's session of the same test.
    pub other_tab_second: f64,
    /// Per second another session of the same candidate in the same test
    /// ran at the same time (a second tab, browser or device), as the
    /// pipeline finds it. It includes what `other_tab_second` sees from
    /// inside one browser, which is why that one weighs 0 by default.
    pub concurrent_second: f64,
    /// Environment hints (`schemas::environment::Hint`), each scored once
    /// per session when first seen. 0 by default: a hint is never a verdict
    /// on its own, and each has honest explanations (README, "How a score
    /// is made").
    pub virtual_gpu: f64,
    pub software_renderer: f64,
    pub vm_screen_size: f64,
    pub small_machine: f64,
    pub share_other_screen: f64,
    pub no_hover: f64,
}

impl AnomalyWeights {
    /// The weight of an environment hint.
    pub fn hint(&self, hint: crate::environment::Hint) -> f64 {
        use crate::environment::Hint;
        match hint {
            Hint::VirtualGpu => self.virtual_gpu,
            Hint::SoftwareRenderer => self.software_renderer,
            Hint::VmScreenSize => self.vm_screen_size,
            Hint::SmallMachine => self.small_machine,
            Hint::ShareOtherScreen => self.share_other_screen,
            Hint::NoHover => self.no_hover,
        }
    }
}

impl Default for AnomalyWeights {
    fn default() -> Self {
        Self {
            tab_switch: 1.0,
            hidden_second: 0.05,
            blur: 0.5,
            fullscreen_exit: 1.0,
            clipboard: 0.5,
            key_burst: 0.25,
            permission_revoked: 2.0,
            blocked_second: 0.02,
            missing_capture: 0.5,
            no_face_second: 0.02,
            several_faces_second: 0.05,
            different_person_second: 0.05,
            // 500 characters into an answer: 1 + 4 points.
            paste_char: 0.002,
            answer_paste_char: 0.008,
            burst_second: 0.25,
            screen_added: 2.0,
            extra_screen_second: 0.0,
            other_tab_second: 0.0,
            concurrent_second: 0.05,
            virtual_gpu: 0.0,
            software_renderer: 0.0,
            vm_screen_size: 0.0,
            small_machine: 0.0,
            share_other_screen: 0.0,
            no_hover: 0.0,
        }
    }
}

/// A candidate excused from proctoring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bypass {
    /// Why, for the audit trail.
    pub reason: String,
}

/// A check one candidate is excused from (an accommodation): what a
/// disability, an assistive technology or missing hardware makes
/// impossible, without turning proctoring off for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Waiver {
    /// Leaving full screen does not block (a screen magnifier, a reader in
    /// another window).
    Fullscreen,
    /// The screen is neither shared nor captured (assistive software that
    /// would be exposed, or a device that cannot share).
    ScreenShare,
    /// No face checks (a face the detector misses, a candidate who cannot
    /// face the camera).
    FaceCheck,
    /// Declining the camera or microphone does not block (no camera, no
    /// microphone): the candidate is asked once and may say no.
    Permissions,
    /// A second screen does not block (a magnifier or a reader shown on
    /// another screen).
    SecondScreen,
}

/// Checks waived for one candidate of one test, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accommodation {
    pub waive: std::collections::BTreeSet<Waiver>,
    /// Why, for the audit trail and the reviewer (who must not flag what
    /// was waived).
    pub reason: String,
}

impl Accommodation {
    /// The test's config with these checks waived. Applied after the
    /// document's ranges are checked: a waived screen is `screen_ms = 0`,
    /// a value no admin may type but the SDK and the pipeline read as
    /// "not captured, not expected".
    pub fn apply(&self, config: &mut ProctorConfig) {
        for waiver in &self.waive {
            match waiver {
                Waiver::Fullscreen => config.blocking.on_fullscreen_exit = false,
                Waiver::ScreenShare => {
                    config.capture_intervals.screen_ms = 0;
                    config.blocking.on_screen_share_stop = false;
                }
                Waiver::FaceCheck => config.face_check.mode = FaceCheckMode::Off,
                Waiver::Permissions => config.blocking.on_permission_denied = false,
                Waiver::SecondScreen => config.blocking.on_second_screen = false,
            }
        }
    }
}

/// The whole document, as stored and edited by admins.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigDocument {
    pub defaults: ProctorConfig,
    /// Partial overrides per test, merged over `defaults`.
    pub tests: BTreeMap<TestId, Value>,
    /// Checks waived for single candidates, over their test's config.
    pub accommodations: BTreeMap<TestId, BTreeMap<CandidateId, Accommodation>>,
    pub bypasses: BTreeMap<TestId, BTreeMap<CandidateId, Bypass>>,
    /// Proctors on duty per test: the live wall splits the test's candidates
    /// among them (rendezvous hashing, `capacity` each). A test without a
    /// roster shows every candidate to each of its proctors.
    pub duty: BTreeMap<TestId, Duty>,
    /// Learning platforms that may launch invigil with LTI 1.3.
    pub lti_platforms: Vec<crate::lti::LtiPlatform>,
}

/// The proctors watching one test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Duty {
    /// Staff ids (`sub` of their tokens), in any order.
    pub proctors: Vec<String>,
    /// Candidates one proctor watches at most; beyond `proctors × capacity`
    /// the rest show as unassigned to every proctor of the test.
    #[serde(default = "Duty::default_capacity")]
    pub capacity: u32,
}

impl Duty {
    fn default_capacity() -> u32 {
        50
    }
}

/// What a candidate gets: a config to run with, or an order to stop.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    Active(ProctorConfig),
    Shutdown(crate::api::ShutdownReason),
}

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read it: {0}")]
    Unreadable(std::io::Error),
    #[error("invalid: {}", describe(.0))]
    Invalid(Vec<FieldProblem>),
}

/// Problems as one line: `field: message; …`.
fn describe(problems: &[FieldProblem]) -> String {
    problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>().join("; ")
}

impl ConfigDocument {
    /// The config of `test` (defaults with its override merged in).
    pub fn for_test(&self, test: &TestId) -> Result<ProctorConfig, FieldProblem> {
        let Some(patch) = self.tests.get(test) else { return Ok(self.defaults.clone()) };
        let mut merged = serde_json::to_value(&self.defaults).expect("config serializes");
        merge_patch(&mut merged, patch);
        serde_json::from_value(merged).map_err(|e| FieldProblem {
            field: format!("tests.{test}"),
            code: ProblemCode::InvalidValue,
            message: e.to_string(),
        })
    }

    /// The accommodation of `candidate` in `test`, if there is one.
    pub fn accommodation(&self, test: &TestId, candidate: &CandidateId) -> Option<&Accommodation> {
        self.accommodations.get(test)?.get(candidate)
    }

    /// The config of one candidate: their test's, with their accommodation's
    /// checks waived.
    pub fn for_candidate(&self, test: &TestId, candidate: &CandidateId) -> Result<ProctorConfig, FieldProblem> {
        let mut config = self.for_test(test)?;
        if let Some(accommodation) = self.accommodation(test, candidate) {
            accommodation.apply(&mut config);
        }
        Ok(config)
    }

    /// Resolves the four layers for one candidate.
    pub fn resolve(&self, test: &TestId, candidate: &CandidateId) -> Result<Resolution, FieldProblem> {
        use crate::api::ShutdownReason;
        let config = self.for_candidate(test, candidate)?;
        if !config.proctoring_enabled {
            return Ok(Resolution::Shutdown(ShutdownReason::ProctoringDisabled));
        }
        if self.bypasses.get(test).is_some_and(|b| b.contains_key(candidate)) {
            return Ok(Resolution::Shutdown(ShutdownReason::CandidateBypassed));
        }
        Ok(Resolution::Active(config))
    }

    /// Parses a JSON document and validates it: the document, or every
    /// problem found, each named by its path (`defaults.events_interval_ms`).
    /// A document that does not decode reports the first decoding problem.
    /// The document in the file at `path`, read and validated: what ingest
    /// installs as a new version and what the pipeline's workers follow.
    pub fn read_file(path: &std::path::Path) -> Result<ConfigDocument, ConfigFileError> {
        let bytes = std::fs::read(path).map_err(ConfigFileError::Unreadable)?;
        Self::from_json(&bytes).map_err(ConfigFileError::Invalid)
    }

    pub fn from_json(bytes: &[u8]) -> Result<ConfigDocument, Vec<FieldProblem>> {
        let document: ConfigDocument = crate::validate::decode_json(bytes).map_err(|problem| vec![problem])?;
        let problems = document.validate();
        if problems.is_empty() {
            Ok(document)
        } else {
            Err(problems)
        }
    }

    /// Every problem in the document: broken overrides and values out of range.
    pub fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = check_ranges(&self.defaults, "defaults");
        for test in self.tests.keys() {
            match self.for_test(test) {
                Ok(config) => problems.extend(check_ranges(&config, &format!("tests.{test}"))),
                Err(problem) => problems.push(problem),
            }
        }
        for (test, duty) in &self.duty {
            let field = |name: &str| format!("duty.{test}.{name}");
            if duty.capacity == 0 {
                problems.push(FieldProblem {
                    field: field("capacity"),
                    code: ProblemCode::InvalidValue,
                    message: "is 0; must be at least 1".into(),
                });
            }
            let mut seen = std::collections::BTreeSet::new();
            for (i, proctor) in duty.proctors.iter().enumerate() {
                let problem = if proctor.trim().is_empty() {
                    Some("is empty")
                } else if !seen.insert(proctor) {
                    Some("appears twice")
                } else {
                    None
                };
                if let Some(message) = problem {
                    problems.push(FieldProblem {
                        field: field(&format!("proctors[{i}]")),
                        code: ProblemCode::InvalidValue,
                        message: message.into(),
                    });
                }
            }
        }
        for (test, candidates) in &self.accommodations {
            for (candidate, accommodation) in candidates {
                let field = |name: &str| format!("accommodations.{test}.{candidate}.{name}");
                if accommodation.waive.is_empty() {
                    problems.push(FieldProblem {
                        field: field("waive"),
                        code: ProblemCode::InvalidValue,
                        message: "is empty; name at least one of fullscreen, screen_share, face_check, permissions"
                            .into(),
                    });
                }
                if accommodation.reason.trim().is_empty() {
                    problems.push(FieldProblem {
                        field: field("reason"),
                        code: ProblemCode::InvalidValue,
                        message: "is empty; say why, for the audit trail and the reviewer".into(),
                    });
                }
            }
        }
        problems.extend(crate::lti::check(&self.lti_platforms));
        problems
    }
}

/// The longest recording segment. A segment is uploaded once it is cut, so
/// a long one keeps review waiting and holds more in the browser; a tab
/// closed mid-segment costs only its last unsaved second either way (the
/// SDK persists each second as it comes and joins them on the next visit).
pub const MAX_SEGMENT_MS: u32 = 5 * 60_000;

/// The longest a capture may wait for its bundle: beyond this, a closed tab
/// leaves too much behind and live thumbnails are too old to be useful.
pub const MAX_BUNDLE_MS: u32 = 15 * 60_000;

/// Values outside their settings' bounds ([`crate::config_catalog`]).
fn check_ranges(config: &ProctorConfig, path: &str) -> Vec<FieldProblem> {
    crate::config_catalog::check_bounds(config, path)
}

/// RFC 7396: objects merge key by key, `null` deletes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let target = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ShutdownReason;
    use serde_json::json;

    fn ids() -> (TestId, CandidateId) {
        (TestId::new("t1").unwrap(), CandidateId::new("c1").unwrap())
    }

    #[test]
    fn layers_resolve_in_order() {
        let (test, candidate) = ids();
        let mut doc = ConfigDocument::default();
        doc.tests.insert(test.clone(), json!({"capture_intervals": {"face_ms": 10000}}));
        let Resolution::Active(config) = doc.resolve(&test, &candidate).unwrap() else { panic!("active") };
        assert_eq!(config.capture_intervals.face_ms, 10_000);
        assert_eq!(config.capture_intervals.screen_ms, 30_000, "untouched fields keep defaults");

        doc.bypasses
            .entry(test.clone())
            .or_default()
            .insert(candidate.clone(), Bypass { reason: "accommodation".into() });
        assert_eq!(doc.resolve(&test, &candidate).unwrap(), Resolution::Shutdown(ShutdownReason::CandidateBypassed));

        doc.tests.insert(test.clone(), json!({"proctoring_enabled": false}));
        assert_eq!(doc.resolve(&test, &candidate).unwrap(), Resolution::Shutdown(ShutdownReason::ProctoringDisabled));
    }

    #[test]
    fn an_accommodation_waives_its_checks_for_its_candidate_only() {
        let (test, candidate) = ids();
        let other = CandidateId::new("c2").unwrap();
        let document = ConfigDocument::from_json(
            &serde_json::to_vec(&json!({
                "tests": {"t1": {"face_check": {"mode": "presence"}}},
                "accommodations": {"t1": {"c1": {
                    "waive": ["fullscreen", "screen_share", "face_check", "permissions"],
                    "reason": "screen magnifier; no camera at home"
                }}}
            }))
            .unwrap(),
        )
        .unwrap();
        let Resolution::Active(waived) = document.resolve(&test, &candidate).unwrap() else { panic!("active") };
        let test_config = document.for_test(&test).unwrap();
        assert_eq!(document.resolve(&test, &other).unwrap(), Resolution::Active(test_config.clone()));
        assert!(!waived.blocking.on_fullscreen_exit && !waived.blocking.on_screen_share_stop);
        assert!(!waived.blocking.on_permission_denied);
        assert_eq!(waived.capture_intervals.screen_ms, 0, "the screen is neither shared nor expected");
        assert_eq!(waived.face_check.mode, FaceCheckMode::Off);
        // Nothing else moves: the camera and the audio still run on the test's grid.
        assert_eq!(waived.capture_intervals.face_ms, test_config.capture_intervals.face_ms);
        assert_eq!(waived.anomaly, test_config.anomaly);
        // A bypass still wins over an accommodation.
        let mut bypassed = document.clone();
        bypassed.bypasses.entry(test.clone()).or_default().insert(candidate.clone(), Bypass { reason: "x".into() });
        assert_eq!(
            bypassed.resolve(&test, &candidate).unwrap(),
            Resolution::Shutdown(ShutdownReason::CandidateBypassed)
        );
    }

    #[test]
    fn an_accommodation_names_its_checks_and_its_reason() {
        let problems = |doc: serde_json::Value| {
            ConfigDocument::from_json(&serde_json::to_vec(&doc).unwrap())
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.field)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            problems(json!({"accommodations": {"t1": {"c1": {"waive": [], "reason": " "}}}})),
            ["accommodations.t1.c1.waive", "accommodations.t1.c1.reason"]
        );
        // A check that cannot be waived is refused by name.
        let refused = problems(json!({"accommodations": {"t1": {"c1": {"waive": ["camera"], "reason": "r"}}}}));
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(refused[0].starts_with("accommodations"), "{refused:?}");
    }

    #[test]
    fn face_checks_are_off_unless_a_test_turns_them_on_and_never_flag_one_frame() {
        let (test, _) = ids();
        let mut doc = ConfigDocument::default();
        assert_eq!(doc.defaults.face_check.mode, FaceCheckMode::Off);
        doc.tests.insert(test.clone(), json!({"face_check": {"mode": "presence", "every_ms": 10_000}}));
        let config = doc.for_test(&test).unwrap();
        assert_eq!((config.face_check.mode, config.face_check.every_ms), (FaceCheckMode::Presence, 10_000));
        assert_eq!(config.face_check.flag_after_checks, 3, "the rest keeps its defaults");
        let wild = json!({"face_check": {"mode": "presence", "every_ms": 10, "flag_after_checks": 1,
            "min_confidence": 0.1, "dark_below": 0.9, "identity_every_ms": 900_000, "min_similarity": 0.05}});
        doc.tests.insert(test.clone(), wild);
        let mut fields: Vec<String> = doc.validate().into_iter().map(|p| p.field).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "tests.t1.face_check.dark_below",
                "tests.t1.face_check.every_ms",
                "tests.t1.face_check.flag_after_checks",
                "tests.t1.face_check.identity_every_ms",
                "tests.t1.face_check.min_confidence",
                "tests.t1.face_check.min_similarity"
            ]
        );
        doc.tests.insert(test.clone(), json!({"face_check": {"mode": "identity"}}));
        assert_eq!(doc.validate(), []);
        assert_eq!(doc.for_test(&test).unwrap().face_check.min_similarity, 0.363, "SFace's published threshold");
        doc.tests.insert(test.clone(), json!({"face_check": {"mode": "recognise"}}));
        let problems = doc.validate();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("identity"), "names the modes there are: {}", problems[0].message);
    }

    #[test]
    fn typos_and_bad_ranges_are_reported_with_paths() {
        let (test, _) = ids();
        let mut doc = ConfigDocument::default();
        doc.tests.insert(test, json!({"capture_intervals": {"face_msec": 5}}));
        doc.defaults.events_interval_ms = 10;
        let problems = doc.validate();
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["defaults.events_interval_ms", "tests.t1"]);
        assert!(problems[1].message.contains("face_msec"), "{}", problems[1].message);
        assert!(serde_json::from_value::<ConfigDocument>(json!({"default": {}})).is_err());
    }

    #[test]
    fn bundled_uploads_are_a_per_test_choice_within_bounds() {
        let (test, _) = ids();
        let mut doc = ConfigDocument::default();
        doc.tests.insert(test.clone(), json!({"uploads": {"mode": "bundled"}}));
        assert_eq!(doc.validate(), vec![]);
        let config = doc.for_test(&test).unwrap();
        assert_eq!(config.uploads, Uploads { mode: UploadMode::Bundled, bundle_ms: 120_000 });
        assert_eq!(doc.defaults.uploads.mode, UploadMode::PerCapture, "per capture unless chosen");
        doc.tests.insert(test.clone(), json!({"uploads": {"mode": "bundled", "bundle_ms": MAX_BUNDLE_MS + 1}}));
        doc.defaults.uploads.bundle_ms = 1_000;
        let fields: Vec<_> = doc.validate().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["defaults.uploads.bundle_ms", "tests.t1.uploads.bundle_ms"]);
        doc.tests.insert(test, json!({"uploads": {"mode": "zipped"}}));
        assert!(doc.validate().iter().any(|p| p.field == "tests.t1"), "an unknown mode is refused");
    }

    #[test]
    fn video_recording_is_a_per_test_choice_within_bounds() {
        let (test, _) = ids();
        let mut doc = ConfigDocument::default();
        doc.tests.insert(test.clone(), json!({"recording": {"mode": "video"}}));
        assert_eq!(doc.validate(), vec![]);
        let config = doc.for_test(&test).unwrap();
        assert_eq!(config.recording, Recording { mode: RecordingMode::Video, ..Recording::default() });
        assert_eq!((config.recording.video_kbps, config.recording.segment_ms), (150, 10_000));
        assert_eq!(doc.defaults.recording.mode, RecordingMode::Snapshots, "snapshots unless chosen");
        doc.tests
            .insert(test.clone(), json!({"recording": {"mode": "video", "segment_ms": 1_000, "video_kbps": 9_000}}));
        let fields: Vec<_> = doc.validate().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            ["tests.t1.recording.video_kbps", "tests.t1.recording.segment_ms"],
            "in the settings' order"
        );
        doc.tests.insert(test.clone(), json!({"recording": {"mode": "film"}}));
        assert!(doc.validate().iter().any(|p| p.field == "tests.t1"), "an unknown mode is refused");

        // The recorded picture, per track and per test.
        let shape = json!({"mode": "video", "camera": {"width": 160, "height": 120, "fps": 3}});
        doc.tests.insert(test.clone(), json!({ "recording": shape }));
        assert_eq!(doc.validate(), vec![]);
        let config = doc.for_test(&test).unwrap();
        assert_eq!(config.recording.camera, VideoShape { width: 160, height: 120, fps: 3 });
        assert_eq!(config.recording.screen, Recording::default().screen, "the other track keeps its default");
        let wild = json!({"camera": {"width": 8, "height": 120, "fps": 60}, "screen": {"width": 9_000, "height": 800, "fps": 0}});
        doc.tests.insert(test.clone(), json!({ "recording": wild }));
        let fields: Vec<_> = doc.validate().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "tests.t1.recording.camera.width",
                "tests.t1.recording.camera.fps",
                "tests.t1.recording.screen.width",
                "tests.t1.recording.screen.fps"
            ]
        );
        // Layers merge field by field, so one number can change alone.
        doc.tests.insert(test.clone(), json!({"recording": {"camera": {"fps": 2}}}));
        assert_eq!(doc.validate(), vec![]);
        let camera = doc.for_test(&test).unwrap().recording.camera;
        assert_eq!(camera, VideoShape { fps: 2, ..Recording::default().camera });
    }
}
