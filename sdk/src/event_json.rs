//! The events the core records, written as the server reads them: the flat
//! form of `invigil_schemas::event` (`{"id":…,"seq":…,"ts":…,"type":…,`
//! then the body's fields in declaration order, an absent optional field
//! as `null`).
//!
//! By hand, through [`Writer`]: the `match` is exhaustive, so a new kind
//! does not compile until it is written here, and `tests/json.rs` holds
//! every kind of the golden fixtures to serde_json's bytes.

use invigil_schemas::event::{Blocked, Event, EventBody, Unblocked};

use crate::json::{ToJson, Writer};

impl ToJson for Event {
    fn write_json(&self, out: &mut Writer) {
        out.open_object().key("id").uuid(self.id).key("seq").u64(self.seq).key("ts").i64(self.ts);
        out.key("type").name(self.body.kind().as_str());
        match &self.body {
            EventBody::SessionStarted(b) => {
                out.key("sdk_version").string(&b.sdk_version).key("user_agent").string(&b.user_agent);
                out.key("screen_w").u64(b.screen_w.into()).key("screen_h").u64(b.screen_h.into());
                out.key("displays").u64(b.displays.into());
            }
            EventBody::SessionEnded(b) => {
                out.key("reason").variant(b.reason);
            }
            EventBody::Permission(b) => {
                out.key("device").variant(b.device).key("state").variant(b.state);
            }
            EventBody::Visibility(b) => {
                out.key("state").variant(b.state);
            }
            EventBody::Focus(b) => {
                out.key("state").variant(b.state);
            }
            EventBody::Fullscreen(b) => {
                out.key("state").variant(b.state);
            }
            EventBody::ScreenShareEnded(_) | EventBody::ContextMenu(_) => {}
            EventBody::Clipboard(b) => {
                out.key("action").variant(b.action).key("chars").u64(b.chars.into());
                match b.target {
                    Some(target) => out.key("target").variant(target),
                    None => out.key("target").null(),
                };
            }
            EventBody::KeyActivity(b) => {
                out.key("keys").u64(b.keys.into()).key("interval_ms").u64(b.interval_ms.into());
                out.key("peak_per_s").u64(b.peak_per_s.into()).key("burst_s").u64(b.burst_s.into());
            }
            EventBody::Display(b) => {
                out.key("count").u64(b.count.into()).key("extended").bool(b.extended);
                out.key("permission").variant(b.permission);
            }
            EventBody::Environment(b) => {
                out.key("renderer").string(&b.renderer).key("vendor").string(&b.vendor);
                out.key("cores").u64(b.cores.into()).key("memory_mb").u64(b.memory_mb.into());
                out.key("screen_w").u64(b.screen_w.into()).key("screen_h").u64(b.screen_h.into());
                out.key("window_w").u64(b.window_w.into()).key("window_h").u64(b.window_h.into());
                out.key("pointer").variant(b.pointer).key("hover").bool(b.hover);
                match b.share_surface {
                    Some(surface) => out.key("share_surface").variant(surface),
                    None => out.key("share_surface").null(),
                };
                out.key("share_w").u64(b.share_w.into()).key("share_h").u64(b.share_h.into());
            }
            EventBody::OtherTabs(b) => {
                out.key("tabs").u64(b.tabs.into());
            }
            EventBody::Capture(b) => {
                out.key("kind").variant(b.kind).key("status").variant(b.status);
                out.key("key").opt_string(b.key.as_deref()).key("bytes").opt_u64(b.bytes);
                out.key("capture_seq").u64(b.capture_seq).key("attempts").u64(b.attempts.into());
                out.key("error").opt_string(b.error.as_deref());
            }
            EventBody::Network(b) => {
                out.key("state").variant(b.state);
            }
            EventBody::Blocked(Blocked { reason }) | EventBody::Unblocked(Unblocked { reason }) => {
                out.key("reason").variant(*reason);
            }
            EventBody::SdkError(b) => {
                out.key("code").string(&b.code).key("message").string(&b.message);
            }
            EventBody::Custom(b) => {
                out.key("name").string(&b.name).key("data").raw(b.data.as_json());
            }
            EventBody::Face(b) => {
                out.key("faces").u64(b.faces.into()).key("confidence").fraction(b.confidence);
                out.key("face_size").fraction(b.face_size).key("light").fraction(b.light).key("ms").u64(b.ms.into());
                match b.similarity {
                    Some(similarity) => out.key("similarity").fraction(similarity),
                    None => out.key("similarity").null(),
                };
                out.key("reference").bool(b.reference);
            }
            EventBody::Recording(b) => {
                out.key("track").variant(b.track).key("status").variant(b.status);
                out.key("key").opt_string(b.key.as_deref()).key("bytes").opt_u64(b.bytes);
                out.key("segment_seq").u64(b.segment_seq).key("duration_ms").u64(b.duration_ms.into());
                out.key("attempts").u64(b.attempts.into()).key("error").opt_string(b.error.as_deref());
            }
        }
        out.close_object();
    }
}
