//! The upload channel: media the glue stored in IndexedDB, uploaded straight
//! to S3 one object at a time, oldest first, with the credentials channel's
//! keys (a SigV4-signed `PUT`) or forms (a presigned `POST`). In bundled
//! mode, captures wait until the oldest is `bundle_ms` old and the glue joins
//! them into one object. Every outcome ends as a `capture` or `recording`
//! event: uploaded (with the object's key), failed, or skipped when the
//! local storage cap pushed a capture out.

use invigil_schemas::api::CredentialsResponse;
use invigil_schemas::event::{Capture, CaptureStatus, Recording, MAX_SEGMENT_DURATION_MS};
use invigil_schemas::ids::event_id_v7;
use invigil_schemas::text;

use super::{retry_after, Engine, Pending, Phase};
use crate::media::{MediaItem, MediaQueue, Part, MAX_BUNDLE_BYTES};
use crate::protocol::{Command, Store};
use crate::retry::{Channel, Outcome};
use crate::s3::{put_url, PutSigning};

/// Media kept in IndexedDB before the least valuable captures are dropped.
pub const MEDIA_CAP_BYTES: u64 = 64 << 20;
/// A bundle the glue has not answered for this long (IndexedDB failed or
/// stalled) is asked for again; a late answer is still taken.
const BUNDLE_TIMEOUT_MS: i64 = 30_000;

#[derive(Debug)]
pub(super) struct UploadsChannel {
    pub(super) link: Channel,
    pub(super) media: MediaQueue,
    /// Bundles asked of the glue and not yet answered, with when: the last
    /// is the one in progress; older ones timed out but may still answer.
    bundling: Vec<(MediaItem, i64)>,
}

impl UploadsChannel {
    pub(super) fn new() -> Self {
        Self { link: Channel::new(1_000, 60_000), media: MediaQueue::default(), bundling: Vec::new() }
    }
}

impl Engine {
    /// The glue stored a capture, a segment or a bundle: it joins the queue,
    /// which may push the least valuable captures out.
    pub(super) fn on_captured(&mut self, item: MediaItem) {
        for dropped in self.uploads.media.push(item, MEDIA_CAP_BYTES) {
            self.commands.push(Command::Forget { store: Store::Media, keys: vec![dropped.key.clone()] });
            self.report(&dropped, CaptureStatus::Skipped, Some("local storage cap reached".into()));
        }
    }

    /// Records a `capture` event for each capture `item` holds: itself, or
    /// every part of a bundle (an uploaded part's key names its byte range);
    /// for a video segment, its `recording` event.
    pub(super) fn report(&mut self, item: &MediaItem, status: CaptureStatus, error: Option<String>) {
        let uploaded = status == CaptureStatus::Uploaded;
        let object = self.credentials.held().map_or(String::new(), |c| text::cat(&[&c.prefix, &item.key]));
        let kind = match (item.kind.capture(), item.kind.track()) {
            (Some(kind), _) => kind,
            (None, Some(track)) => {
                let body = Recording {
                    track,
                    status,
                    key: uploaded.then_some(object),
                    bytes: uploaded.then_some(item.bytes),
                    segment_seq: item.capture_seq,
                    // The page's clock may jump (a laptop asleep mid-segment):
                    // the event stays valid whatever the glue measured.
                    duration_ms: item.duration_ms.clamp(1, MAX_SEGMENT_DURATION_MS),
                    attempts: item.attempts,
                    error,
                };
                // At the segment's start, like a capture's time.
                self.record_in(item.session_id, item.ts, body.into());
                return;
            }
            (None, None) => unreachable!("every media kind is a capture or a track"),
        };
        let single = [Part {
            key: String::new(),
            kind,
            capture_seq: item.capture_seq,
            ts: item.ts,
            offset: 0,
            bytes: item.bytes,
        }];
        let parts = if item.is_bundle() { &item.parts[..] } else { &single[..] };
        for part in parts {
            let key = if item.is_bundle() {
                invigil_schemas::event::part_key(&object, part.offset, part.bytes)
            } else {
                object.clone()
            };
            let body = Capture {
                kind: part.kind,
                status,
                key: uploaded.then_some(key),
                bytes: uploaded.then_some(part.bytes),
                capture_seq: part.capture_seq,
                attempts: item.attempts,
                error: error.clone(),
            };
            // The event's time is the capture's (an audio chunk's start),
            // not the upload's: the pipeline credits captures to the slot
            // they were taken for, however late the upload got through.
            self.record_in(item.session_id, part.ts, body.into());
        }
    }

    /// Asks the glue for a bundle when one is due (bundled mode only).
    pub(super) fn bundle_media(&mut self, now: i64) {
        if !self.config.uploads.bundled()
            || self.uploads.bundling.last().is_some_and(|(_, at)| now < at + BUNDLE_TIMEOUT_MS)
        {
            return;
        }
        let Some(oldest) = self.uploads.media.oldest_unbundled() else { return };
        let session_id = oldest.session_id;
        let due = oldest.ts + i64::from(self.config.uploads.bundle_ms) <= now
            || session_id != self.session.session_id
            || self.phase == Phase::Stopping;
        if !due {
            return;
        }
        let parts = self.uploads.media.unbundled(session_id, MAX_BUNDLE_BYTES);
        let unique = event_id_v7(now.max(0) as u64, self.rng.bytes10());
        let key = invigil_schemas::media_key::bundle_key(parts[0].ts, unique);
        let item = MediaItem::bundle(key, &parts).expect("at least one part, captures only");
        let mut keys = Vec::with_capacity(item.parts.len());
        for part in &item.parts {
            keys.push(part.key.clone());
        }
        self.commands.push(Command::Bundle { key: item.key.clone(), parts: keys });
        if self.uploads.bundling.len() >= 4 {
            self.uploads.bundling.remove(0);
        }
        self.uploads.bundling.push((item, now));
    }

    pub(super) fn on_bundled(&mut self, key: &str, missing: &[String]) {
        // A late answer to a timed-out request counts too: the glue wrote
        // that bundle and deleted its parts.
        let Some(at) = self.uploads.bundling.iter().position(|(b, _)| b.key == key) else { return };
        let (mut bundle, _) = self.uploads.bundling.remove(at);
        if !missing.is_empty() {
            // Nothing was written: the gone parts are failures, the rest
            // are bundled again on the next tick.
            for part in bundle.parts.iter().filter(|p| missing.contains(&p.key)) {
                if let Some(item) = self.uploads.media.remove(part.ts, &part.key) {
                    self.report(&item, CaptureStatus::Failed, Some("the stored capture is gone".into()));
                }
            }
            return;
        }
        // A part dropped (storage cap) or discarded (shutdown) while the
        // glue worked was reported then; its bytes stay in the object but
        // it is not reported again.
        bundle.parts.retain(|part| self.uploads.media.remove(part.ts, &part.key).is_some());
        if bundle.parts.is_empty() {
            self.commands.push(Command::Forget { store: Store::Media, keys: vec![bundle.key] });
        } else {
            self.on_captured(bundle);
        }
    }

    /// Starts the next upload when the link is ready and usable credentials
    /// are held. In bundled mode single captures wait for their bundle
    /// (video segments go on their own).
    pub(super) fn send_media(&mut self, now: i64) {
        if !self.uploads.link.ready(now) {
            return;
        }
        let next = if self.config.uploads.bundled() {
            self.uploads.media.next_where(MediaItem::travels_alone)
        } else {
            self.uploads.media.next()
        };
        let (Some(_), Some(item)) = (self.credentials.usable(now), next) else { return };
        let (ts, media) = (item.ts, item.key.clone());
        let req = self.take_req(Pending::Upload { ts, key: media.clone() });
        let response = self.credentials.held().expect("checked above");
        let command = upload_command(response, req, media);
        self.uploads.link.sent();
        self.commands.push(command);
    }

    pub(super) fn on_upload_reply(&mut self, now: i64, unit: f64, ts: i64, key: String, outcome: Outcome, status: u16) {
        self.uploads.link.answered();
        let Some(item) = self.uploads.media.get_mut(ts, &key) else { return };
        item.attempts += 1;
        match outcome {
            Outcome::Success => {
                self.uploads.link.succeeded();
                let item = self.uploads.media.remove(ts, &key).expect("present");
                self.report(&item, CaptureStatus::Uploaded, None);
                self.commands.push(Command::Forget { store: Store::Media, keys: vec![item.key] });
                self.forget_finished_sessions();
            }
            Outcome::Unauthorized => {
                self.credentials.refused();
                self.uploads.link.failed(now, unit, None);
            }
            Outcome::NetworkError | Outcome::Transient { .. } => {
                self.uploads.link.failed(now, unit, retry_after(outcome));
            }
            Outcome::Rejected => {
                let item = self.uploads.media.remove(ts, &key).expect("present");
                let mut message = String::from("upload rejected with ");
                text::push_u64(&mut message, status.into());
                self.report(&item, CaptureStatus::Failed, Some(message));
                self.commands.push(Command::Forget { store: Store::Media, keys: vec![item.key] });
            }
        }
    }
}

/// The request that uploads `media` under the credentials' prefix. With
/// presigned POST forms (no keys), the form of the object's folder; a key no
/// form covers falls through to a PUT signed with the empty keys, which S3
/// refuses like any other failed upload.
fn upload_command(response: &CredentialsResponse, req: u64, media: String) -> Command {
    let key = text::cat(&[&response.prefix, &media]);
    if let Some(form) = response.forms.iter().find(|form| key.starts_with(&form.key_prefix)) {
        let mut fields = form.fields.clone();
        fields.push(("Content-Type".into(), form.content_type.clone()));
        fields.push(("key".into(), key));
        let url = text::cat(&[text::without_trailing_slashes(&response.endpoint), "/", &response.bucket]);
        return Command::Post { req, url, fields, media };
    }
    let url = put_url(&response.endpoint, &response.bucket, &key);
    Command::Put { req, url, sign: PutSigning::of_grant(response), media }
}
