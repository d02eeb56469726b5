//! The S3 key layout of candidate media, and the one check every key
//! passes before anything trusts its prefix.
//!
//! Every object a candidate uploads lives under
//! `{YYYY-MM-DD}/{test_id}/{candidate_id}/` and then one of the media
//! folders (`camera/`, `screen/`, `audio/`, `bundle/`). Upload grants,
//! the embedded store, the capture events ingest accepts and the
//! dashboards' presigned links all decide "is this key the candidate's?"
//! by a prefix comparison, and a prefix comparison is only sound on a
//! canonical key: `{prefix}../cand-B/camera/x.jpg` starts with cand-A's
//! prefix and names cand-B's folder on any store that resolves dot
//! segments (a file system, a proxy, a URL normaliser). [`check`] refuses
//! every key that is not canonical, and [`is_within`] is the only prefix
//! test to use.

use crate::ids::{CandidateId, TestId};
use crate::names::WireName;
use crate::text;

/// Longest object key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// The media folders under a candidate's prefix, with the capture kind each
/// holds (`None`: a bundle, whose parts may be of any kind).
pub const FOLDERS: [(&str, Option<crate::event::CaptureKind>); 4] = [
    ("camera/", Some(crate::event::CaptureKind::Face)),
    ("screen/", Some(crate::event::CaptureKind::Screen)),
    ("audio/", Some(crate::event::CaptureKind::Audio)),
    ("bundle/", None),
];

/// Every folder a candidate uploads to, with the one content type each may
/// hold: what an upload grant names (presigned POST forms bind both).
pub const UPLOAD_FOLDERS: [(&str, &str); 5] = [
    ("camera/", "image/jpeg"),
    ("screen/", "image/jpeg"),
    ("audio/", "audio/webm"),
    ("bundle/", "application/octet-stream"),
    (VIDEO_FOLDER, "video/webm"),
];

/// A bundle's key under the candidate's prefix: `bundle/{ts}_{unique}.bin`,
/// `ts` the time of its oldest part.
pub fn bundle_key(ts: i64, unique: crate::ids::Uuid) -> String {
    let mut key = String::from("bundle/");
    push_ts_unique(&mut key, ts, unique);
    key.push_str(".bin");
    key
}

/// `{ts}_{unique}`, the stem of a capture's or bundle's file name (built
/// without `format!`: the SDK's wasm builds these keys, see [`crate::text`]).
fn push_ts_unique(key: &mut String, ts: i64, unique: crate::ids::Uuid) {
    text::push_i64(key, ts);
    key.push('_');
    text::push_uuid(key, unique);
}

/// A candidate's media prefix: `{date}/{test}/{candidate}/`, `date` as
/// `YYYY-MM-DD` (UTC, the day the upload grant was issued, [`utc_date`]).
pub fn candidate_prefix(date: &str, test: &TestId, candidate: &CandidateId) -> String {
    format!("{date}/{test}/{candidate}/")
}

/// `YYYY-MM-DD` (UTC) of a Unix time in seconds: the date of a prefix (and,
/// without its dashes, of a SigV4 scope).
pub fn utc_date(unix_secs: i64) -> String {
    // Civil-from-days, after Howard Hinnant's public-domain algorithm.
    let days = unix_secs.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Where a candidate's first face photo goes: the reference the others are
/// compared with, never dropped from the browser's queue.
pub const BASE_TRUTH_PREFIX: &str = "camera/base_truth_";

/// A capture's key under the candidate's prefix: `camera/base_truth_{ts}.jpg`
/// for the first face photo (`capture_seq` 0), `camera/{ts}_{unique}.jpg`,
/// `screen/{ts}_{unique}.jpg`, and audio chunks numbered within their
/// session, `audio/audio_{session_start}/chunk_{capture_seq:05}.webm`.
pub fn capture_key(
    kind: crate::event::CaptureKind,
    ts: i64,
    capture_seq: u64,
    session_start: i64,
    unique: crate::ids::Uuid,
) -> String {
    use crate::event::CaptureKind;
    let mut key = String::with_capacity(64);
    match kind {
        CaptureKind::Face if capture_seq == 0 => {
            key.push_str(BASE_TRUTH_PREFIX);
            text::push_i64(&mut key, ts);
            key.push_str(".jpg");
        }
        CaptureKind::Face | CaptureKind::Screen => {
            key.push_str(if kind == CaptureKind::Face { "camera/" } else { "screen/" });
            push_ts_unique(&mut key, ts, unique);
            key.push_str(".jpg");
        }
        CaptureKind::Audio => {
            key.push_str("audio/audio_");
            text::push_i64(&mut key, session_start);
            key.push_str("/chunk_");
            text::push_padded(&mut key, capture_seq, 5);
            key.push_str(".webm");
        }
    }
    key
}

/// Why a key is not canonical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_KEY_BYTES} bytes")]
    TooLong,
    #[error("may contain only ASCII letters, digits and . _ - @ : / (no percent escapes)")]
    BadChar,
    #[error("must not have empty segments (a leading, trailing or doubled \"/\")")]
    EmptySegment,
    #[error("must not have \".\" or \"..\" segments")]
    DotSegment,
}

/// Checks that `key` is canonical: 1..=1024 bytes of the id charset plus
/// `/`, no empty segment and no `.` or `..` segment.
///
/// The charset leaves out `%`, so an encoded dot (`%2e`, `%252e`) can never
/// reach a store that decodes once more, and `\`, which some file systems
/// read as a separator. Every key invigil makes fits: ids are already
/// `[A-Za-z0-9._@:-]` ([`crate::ids::check_id`]) and the SDK's file names
/// are timestamps, UUIDs and sequence numbers.
pub fn check(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong);
    }
    if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@:/".contains(&b)) {
        return Err(KeyError::BadChar);
    }
    for segment in key.split('/') {
        match segment {
            "" => return Err(KeyError::EmptySegment),
            "." | ".." => return Err(KeyError::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

/// Whether `key` is canonical and lies under `prefix` (which ends in `/`).
pub fn is_within(key: &str, prefix: &str) -> bool {
    prefix.ends_with('/') && key.starts_with(prefix) && check(key).is_ok()
}

/// The folder of recording segments under a candidate's prefix.
pub const VIDEO_FOLDER: &str = "video/";

/// A recording segment's key under the candidate's prefix:
/// `video/{track}/{session_start}/seg_{segment_seq:05}.webm`, so one
/// session's segments of a track list in playing order.
pub fn recording_key(track: crate::event::RecordingTrack, session_start: i64, segment_seq: u64) -> String {
    let mut key = text::cat(&[VIDEO_FOLDER, track.as_str(), "/"]);
    text::push_i64(&mut key, session_start);
    key.push_str("/seg_");
    text::push_padded(&mut key, segment_seq, 5);
    key.push_str(".webm");
    key
}

/// The parts of a canonical candidate media key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaKey<'a> {
    pub date: &'a str,
    pub test: &'a str,
    pub candidate: &'a str,
    /// What follows the candidate's prefix, e.g. `camera/1_x.jpg`.
    pub rest: &'a str,
}

impl<'a> MediaKey<'a> {
    /// Splits a canonical key of the layout; `None` for anything else.
    pub fn parse(key: &'a str) -> Option<Self> {
        check(key).ok()?;
        let mut parts = key.splitn(4, '/');
        let (date, test, candidate, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        is_date(date).then_some(Self { date, test, candidate, rest })
    }

    /// The capture kinds the key's folder may hold: one, or all for a
    /// bundle; `None` if the key is in no media folder.
    pub fn holds(&self, kind: crate::event::CaptureKind) -> Option<bool> {
        let (_, holds) = FOLDERS.iter().find(|(folder, _)| self.rest.starts_with(folder))?;
        Some(holds.is_none_or(|only| only == kind))
    }

    /// Whether the key is a recording segment of `track`.
    pub fn is_recording_of(&self, track: crate::event::RecordingTrack) -> bool {
        self.rest
            .strip_prefix(VIDEO_FOLDER)
            .and_then(|rest| rest.strip_prefix(track.as_str()))
            .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// `YYYY-MM-DD`, digits where digits go (the calendar is not checked:
/// the date only names the day a grant was issued).
pub fn is_date(date: &str) -> bool {
    let b = date.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::CaptureKind;

    const A: &str = "2026-11-30/exam-1/cand-A/";

    #[test]
    fn canonical_keys_pass() {
        for key in [
            "2026-11-30/exam-1/cand-A/camera/1764460800000_0193a.jpg",
            "2026-11-30/exam-1/cand@x:1/audio/audio_1700/chunk_00042.webm",
            "2026-11-30/exam-1/cand-A/bundle/10_x.bin",
            "a.b..c/...x/y",
        ] {
            assert_eq!(check(key), Ok(()), "{key}");
        }
    }

    #[test]
    fn hostile_keys_are_refused_with_their_reason() {
        let cases = [
            ("", KeyError::Empty),
            ("2026-11-30/exam-1/cand-A/../cand-B/camera/x.jpg", KeyError::DotSegment),
            ("2026-11-30/exam-1/cand-A/./camera/x.jpg", KeyError::DotSegment),
            ("2026-11-30/exam-1/cand-A/camera/..", KeyError::DotSegment),
            ("../2026-11-30/exam-1/cand-B/camera/x.jpg", KeyError::DotSegment),
            ("2026-11-30/exam-1/cand-A//camera/x.jpg", KeyError::EmptySegment),
            ("/2026-11-30/exam-1/cand-A/camera/x.jpg", KeyError::EmptySegment),
            ("2026-11-30/exam-1/cand-A/camera/", KeyError::EmptySegment),
            ("2026-11-30/exam-1/cand-A/%2e%2e/cand-B/camera/x.jpg", KeyError::BadChar),
            ("2026-11-30/exam-1/cand-A/%2E./cand-B/x.jpg", KeyError::BadChar),
            ("2026-11-30/exam-1/cand-A/%252e%252e/cand-B/x.jpg", KeyError::BadChar),
            ("2026-11-30/exam-1/cand-A/..\\cand-B\\x.jpg", KeyError::BadChar),
            ("2026-11-30/exam-1/cand-A/camera/x.jpg\0", KeyError::BadChar),
            ("2026-11-30/exam-1/cand-A/camera/${filename}", KeyError::BadChar),
            ("2026-11-30/exam-1/cand-A/caméra/x.jpg", KeyError::BadChar),
        ];
        for (key, why) in cases {
            assert_eq!(check(key), Err(why), "{key}");
            assert!(!is_within(key, A), "{key}");
        }
        assert_eq!(check(&"a".repeat(MAX_KEY_BYTES + 1)), Err(KeyError::TooLong));
    }

    #[test]
    fn within_means_under_the_prefix_and_canonical() {
        assert!(is_within(&format!("{A}camera/1_x.jpg"), A));
        assert!(!is_within("2026-11-30/exam-1/cand-AB/camera/1_x.jpg", A), "a sibling sharing a name prefix");
        assert!(!is_within("2026-11-30/exam-1/cand-B/camera/1_x.jpg", A));
        assert!(!is_within(&format!("{A}camera/1_x.jpg"), "2026-11-30/exam-1/cand-A"), "a prefix must end in /");
    }

    #[test]
    fn parse_splits_the_layout_and_names_the_folder_kind() {
        let key = MediaKey::parse("2026-11-30/exam-1/cand-A/screen/1_x.jpg").unwrap();
        assert_eq!((key.date, key.test, key.candidate, key.rest), ("2026-11-30", "exam-1", "cand-A", "screen/1_x.jpg"));
        assert_eq!(key.holds(CaptureKind::Screen), Some(true));
        assert_eq!(key.holds(CaptureKind::Face), Some(false));
        let bundle = MediaKey::parse("2026-11-30/exam-1/cand-A/bundle/1_x.bin").unwrap();
        assert_eq!(bundle.holds(CaptureKind::Audio), Some(true));
        assert_eq!(MediaKey::parse("2026-11-30/exam-1/cand-A/notes/1.txt").unwrap().holds(CaptureKind::Face), None);
        for bad in
            ["2026-11-30/exam-1/cand-A", "20261130xx/exam-1/cand-A/camera/1.jpg", "2026-11-30/exam-1/../camera/1.jpg"]
        {
            assert_eq!(MediaKey::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_are_utc_days_across_leap_years() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_795_305_599), "2026-11-21");
        assert_eq!(utc_date(1_795_305_600), "2026-11-22");
        assert_eq!(utc_date(-1), "1969-12-31");
    }

    #[test]
    fn capture_keys_are_canonical_and_in_their_kinds_folder() {
        use crate::event::CaptureKind;
        let unique: crate::ids::Uuid = "0193a000-0000-7000-8000-000000000001".parse().unwrap();
        let keys = [
            (capture_key(CaptureKind::Face, 5, 0, 1, unique), "camera/base_truth_5.jpg"),
            (capture_key(CaptureKind::Face, 5, 1, 1, unique), "camera/5_0193a000-0000-7000-8000-000000000001.jpg"),
            (capture_key(CaptureKind::Screen, 5, 0, 1, unique), "screen/5_0193a000-0000-7000-8000-000000000001.jpg"),
            (capture_key(CaptureKind::Audio, 5, 7, 1, unique), "audio/audio_1/chunk_00007.webm"),
            (capture_key(CaptureKind::Audio, 5, 123_456, 17, unique), "audio/audio_17/chunk_123456.webm"),
            (bundle_key(-2, unique), "bundle/-2_0193a000-0000-7000-8000-000000000001.bin"),
        ];
        for (key, expected) in keys {
            assert_eq!(key, expected);
            assert_eq!(check(&format!("2026-12-03/t/c/{key}")), Ok(()));
        }
    }

    #[test]
    fn recording_keys_are_canonical_and_name_their_track() {
        use crate::event::RecordingTrack;
        let key = recording_key(RecordingTrack::Screen, 1_700, 42);
        assert_eq!(key, "video/screen/1700/seg_00042.webm");
        let full = format!("{A}{key}");
        let parsed = MediaKey::parse(&full).unwrap();
        assert!(parsed.is_recording_of(RecordingTrack::Screen));
        assert!(!parsed.is_recording_of(RecordingTrack::Camera));
        assert_eq!(parsed.holds(CaptureKind::Screen), None, "no capture lives in video/");
        let sibling = MediaKey::parse("2026-11-30/exam-1/cand-A/video/screens/1/seg_00001.webm").unwrap();
        assert!(!sibling.is_recording_of(RecordingTrack::Screen));
    }

    #[test]
    fn prefix_is_the_layout() {
        let test = TestId::new("exam-1").unwrap();
        let candidate = CandidateId::new("cand-A").unwrap();
        assert_eq!(candidate_prefix("2026-11-30", &test, &candidate), A);
    }
}
