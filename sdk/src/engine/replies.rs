//! What the engine does with each reply: config, events acks, credentials,
//! uploads. Split from `mod.rs` so each file holds one idea.

use invigil_schemas::api::{CredentialsResponse, EventsResponse, PostForm, ShutdownReason};
use invigil_schemas::event::{CaptureStatus, SdkError};

use super::*;
use crate::json::{Error, FromJson, Node};

impl Engine {
    // --------------------------------------------------------- responses --

    pub(super) fn on_response(&mut self, now: i64, pending: Pending, outcome: Outcome, status: u16, body: &str) {
        let unit = self.rng.unit();
        match pending {
            Pending::Config => {
                self.config_channel.link.answered();
                match crate::json::from_str::<ConfigReply>(body) {
                    Ok(reply) if outcome == Outcome::Success => {
                        self.config_channel.link.succeeded();
                        self.apply_config(now, reply);
                    }
                    _ => {
                        self.config_channel.link.failed(now, unit, retry_after(outcome));
                    }
                }
                if matches!(self.phase, Phase::Configuring { .. }) {
                    self.enter_setup(now);
                }
            }
            Pending::Events(cut) => {
                self.events.link.answered();
                match outcome {
                    Outcome::Success => match EventsReply::parse(body) {
                        Ok(EventsResponse::Ok { config_version, .. }) => {
                            self.events.link.succeeded();
                            self.acknowledge(cut);
                            if self.config_channel.version != Some(config_version) {
                                self.config_channel.version = None;
                            }
                        }
                        Ok(EventsResponse::Shutdown { reason, .. }) => self.shutdown(reason),
                        Err(_) => {
                            self.events.link.failed(now, unit, None);
                        }
                    },
                    Outcome::Rejected => {
                        // The batch can never be accepted; keep it from
                        // blocking the queue, and say so.
                        self.acknowledge(cut);
                        let message = format!("events batch rejected with {status}: {}", truncate(body, 300));
                        self.record(now, SdkError { code: "batch_rejected".into(), message }.into());
                    }
                    Outcome::Unauthorized => {
                        self.events.link.failed(now, unit, None);
                        self.notify(
                            "error",
                            Notice { code: Some("unauthorized"), http_status: Some(status), ..Notice::default() },
                        );
                    }
                    Outcome::NetworkError | Outcome::Transient { .. } => {
                        self.events.link.failed(now, unit, retry_after(outcome));
                    }
                }
            }
            Pending::Credentials => {
                self.credentials.link.answered();
                match crate::json::from_str::<CredentialsResponse>(body) {
                    Ok(response) if outcome == Outcome::Success => {
                        let lifetime = (response.expiration - now).max(0);
                        let refresh_at = now + lifetime * 4 / 5;
                        self.credentials.issued = Some(Issued { response, refresh_at });
                        self.credentials.link.succeeded();
                        self.uploads.link.wake();
                        if std::mem::take(&mut self.credentials.disabled) {
                            self.notify("uploads", Notice { state: Some("enabled"), ..Notice::default() });
                        }
                    }
                    _ => {
                        self.credentials.link.failed(now, unit, retry_after(outcome));
                        if self.credentials.link.backoff.failures >= CREDENTIAL_ATTEMPTS {
                            self.credentials.link.backoff.not_before = now + UPLOADS_RETRY_MS;
                            if !self.credentials.disabled {
                                self.credentials.disabled = true;
                                let message = format!(
                                    "upload credentials failed {CREDENTIAL_ATTEMPTS} times (last status {status}); \
                                     media stays queued, retrying in {} min",
                                    UPLOADS_RETRY_MS / 60_000
                                );
                                self.record(now, SdkError { code: "uploads_disabled".into(), message }.into());
                                self.notify("uploads", Notice { state: Some("disabled"), ..Notice::default() });
                            }
                        }
                    }
                }
            }
            Pending::Upload { ts, key } => {
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
                        // Expired or revoked credentials: fetch new ones.
                        self.credentials.issued = None;
                        self.uploads.link.failed(now, unit, None);
                    }
                    Outcome::NetworkError | Outcome::Transient { .. } => {
                        self.uploads.link.failed(now, unit, retry_after(outcome));
                    }
                    Outcome::Rejected => {
                        let item = self.uploads.media.remove(ts, &key).expect("present");
                        self.report(&item, CaptureStatus::Failed, Some(format!("upload rejected with {status}")));
                        self.commands.push(Command::Forget { store: Store::Media, keys: vec![item.key] });
                    }
                }
            }
        }
    }

    fn apply_config(&mut self, now: i64, reply: ConfigReply) {
        let interval_changed = reply.config.events_interval_ms != self.config.events_interval_ms;
        self.config = reply.config;
        self.config_channel.version = Some(reply.config_version);
        if !self.config.proctoring_enabled {
            self.shutdown(ShutdownReason::ProctoringDisabled);
            return;
        }
        if interval_changed && self.events.next_interval != i64::MAX {
            self.events.next_interval = now + i64::from(self.config.events_interval_ms.max(1_000));
        }
    }

    fn acknowledge(&mut self, cut: Cut) {
        let keys = self.events.outbox.acknowledge(&cut).into_iter().map(|seq| event_key(cut.session_id, seq)).collect();
        self.commands.push(Command::Forget { store: Store::Events, keys });
        self.forget_finished_sessions();
    }

    /// Restored sessions whose last event and capture are delivered are
    /// forgotten, meta included.
    pub(super) fn forget_finished_sessions(&mut self) {
        let done: Vec<Uuid> = self
            .old_sessions
            .keys()
            .copied()
            .filter(|id| self.events.outbox.last_seq(*id).is_none() && !self.uploads.media.has_session(*id))
            .collect();
        for session_id in done {
            self.old_sessions.remove(&session_id);
            self.commands.push(Command::Forget { store: Store::Sessions, keys: vec![session_id.to_string()] });
        }
    }
}

/// `EventsResponse` (internally tagged by `status`), as the SDK reads it.
struct EventsReply;

impl EventsReply {
    fn parse(body: &str) -> Result<EventsResponse, Error> {
        let node = Node::parse(body)?;
        match node.field("status")?.str()? {
            "ok" => Ok(EventsResponse::Ok {
                accepted: node.or("accepted", 0, Node::u32)?,
                config_version: node.or("config_version", 0, Node::u64)?,
            }),
            "shutdown" => Ok(EventsResponse::Shutdown {
                reason: node.field("reason")?.variant::<ShutdownReason>()?,
                action: Default::default(),
            }),
            _ => Err(Error::new("an unknown status")),
        }
    }
}

impl FromJson for CredentialsResponse {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        Ok(Self {
            access_key_id: node.read("access_key_id")?,
            secret_access_key: node.read("secret_access_key")?,
            session_token: node.read("session_token")?,
            expiration: node.field("expiration")?.i64()?,
            bucket: node.read("bucket")?,
            region: node.read("region")?,
            endpoint: node.read("endpoint")?,
            prefix: node.read("prefix")?,
            forms: node.field_or_default("forms")?,
        })
    }
}

impl FromJson for PostForm {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        Ok(Self {
            key_prefix: node.read("key_prefix")?,
            content_type: node.read("content_type")?,
            fields: node.read("fields")?,
        })
    }
}

pub(super) fn retry_after(outcome: Outcome) -> Option<u64> {
    match outcome {
        Outcome::Transient { retry_after_ms } => retry_after_ms,
        _ => None,
    }
}

fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use invigil_schemas::api::ShutdownAction;

    #[test]
    fn events_replies_are_read_as_the_server_writes_them() {
        let replies = [
            EventsResponse::Ok { accepted: 12, config_version: 3 },
            EventsResponse::Shutdown {
                reason: ShutdownReason::ProctoringDisabled,
                action: ShutdownAction::GracefulShutdown,
            },
            EventsResponse::Shutdown {
                reason: ShutdownReason::CandidateBypassed,
                action: ShutdownAction::GracefulShutdown,
            },
        ];
        for reply in replies {
            let wire = serde_json::to_string(&reply).unwrap();
            assert_eq!(EventsReply::parse(&wire), Ok(reply), "{wire}");
        }
        for bad in [r#"{"status":"maybe"}"#, r#"{"status":"shutdown"}"#, r#"{"accepted":1}"#, "[]", ""] {
            assert!(EventsReply::parse(bad).is_err(), "{bad}");
        }
    }
}
