//! The config channel: `GET /api/v1/config` until an answer is taken, and
//! again whenever an events ack names a newer version than the one held.
//! Versions only move forward: behind a balancer one replica can be a
//! moment behind another in reading the config log, and an older answer
//! (from the ack or from the config reply) is ignored rather than taken.
//! What the answer means to the SDK is [`crate::config`]; this module only
//! asks, takes it in, and starts setup when it comes (or when the wait for
//! it ran out).

use invigil_schemas::api::ShutdownReason;
use invigil_schemas::text;

use super::{retry_after, Engine, Pending, Phase};
use crate::config::ConfigReply;
use crate::retry::{Channel, Outcome};

#[derive(Debug)]
pub(super) struct ConfigChannel {
    pub(super) link: Channel,
    /// The version held (`None` before the first answer).
    pub(super) version: Option<u64>,
    /// Asks for the config on the next tick.
    pub(super) wanted: bool,
}

impl ConfigChannel {
    pub(super) fn new() -> Self {
        Self { link: Channel::new(1_000, 30_000), version: None, wanted: true }
    }

    /// An events ack named the server's config version: a newer one than
    /// held is fetched on the next tick.
    pub(super) fn server_has(&mut self, version: u64) {
        if self.version.is_none_or(|held| version > held) {
            self.wanted = true;
        }
    }
}

impl Engine {
    /// Asks for the config while none is held and the link is ready.
    pub(super) fn ask_config(&mut self, now: i64) {
        if self.config_channel.wanted && self.config_channel.link.ready(now) {
            self.config_channel.link.sent();
            let url = text::cat(&[&self.endpoint, "/api/v1/config"]);
            self.fetch(Pending::Config, "GET", url, None, false);
        }
    }

    pub(super) fn on_config_reply(&mut self, now: i64, unit: f64, outcome: Outcome, body: &str) {
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

    fn apply_config(&mut self, now: i64, reply: ConfigReply) {
        self.config_channel.wanted = false;
        if self.config_channel.version.is_some_and(|held| reply.config_version < held) {
            // A replica that has not read as far as the one that told us
            // about our version: keep what we hold.
            return;
        }
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
}
