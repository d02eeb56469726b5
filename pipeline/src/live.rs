//! Publishing live counters to `proctor_live`.
//!
//! Best effort by design: the store is the system of record, and a proctor
//! who misses one update gets the next one a moment later. So sends never
//! block the dataflow; a full queue or an unreachable broker drops the
//! message and counts it (`live_dropped`).

use std::sync::Arc;

use invigil_schemas::config::ProctorConfig;
use invigil_schemas::kafka_access::KafkaEndpoint;
use invigil_schemas::kafka_access::Polled;
use invigil_schemas::live::{LiveCounters, LiveStatus, LiveTotals};
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext};

use crate::emit::Tracked;
use crate::metrics::Metrics;
use crate::session::Dimension;

/// The message for one tracked session, as of now.
pub fn counters(tracked: &mut Tracked, config: &ProctorConfig, received_at: i64, now_ms: i64) -> LiveCounters {
    tracked.refresh(config);
    let total = tracked.totals(config);
    let window_score = tracked.windows().last().map_or(0.0, |w| w.score);
    let session = &tracked.session;
    let blocked_now = {
        let mut active = std::collections::HashSet::new();
        for t in session.transitions.iter().filter(|t| matches!(t.dimension, Dimension::Blocked(_))) {
            if t.on {
                active.insert(t.dimension);
            } else {
                active.remove(&t.dimension);
            }
        }
        !active.is_empty()
    };
    let status = if session.ended.is_some() {
        LiveStatus::Ended
    } else if blocked_now {
        LiveStatus::Blocked
    } else {
        LiveStatus::Active
    };
    LiveCounters {
        v: 1,
        test_id: session.key.test_id.to_string(),
        candidate_id: session.key.candidate_id.to_string(),
        session_id: session.key.session_id,
        received_at,
        published_at: now_ms,
        last_event_ts: session.last_ts,
        status,
        counters: LiveTotals {
            events: session.events,
            tab_switches: total.tab_switches,
            hidden_ms: total.hidden_ms,
            blur_count: total.blur_count,
            blur_ms: total.blur_ms,
            fullscreen_exits: total.fullscreen_exits,
            clipboard_actions: total.clipboard_actions,
            key_bursts: total.key_bursts,
            permission_revocations: total.permission_revocations,
            blocked_ms: total.blocked_ms,
            missing_captures: total.missing_captures(),
            uploads_failed: total.uploads_failed,
            network_gaps: total.network_gaps,
            late_events: total.late_events,
            face_flags: total.face_flags,
            screens: session.displays.last().map_or(0, |(_, _, count)| u32::from(*count)),
            other_tabs: session.other_tabs.last().map_or(0, |(_, _, tabs)| u32::from(*tabs)),
            screens_added: total.screens_added,
            paste_chars: total.paste_chars,
            burst_s: total.burst_s,
            concurrent_sessions: tracked.windows().last().map_or(0, |w| w.concurrent_sessions),
            concurrent_ms: total.concurrent_ms,
            hints: total.new_hints.count_ones(),
        },
        score: total.score,
        window_score,
        components: total.components.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect(),
        face_key: session.latest_images[0].as_ref().map(|(_, key)| key.clone()),
        screen_key: session.latest_images[1].as_ref().map(|(_, key)| key.clone()),
    }
}

/// Someone in this process who takes every live message as it is
/// published, besides the topic: `invigil up`'s dashboards, whose wall then
/// needs no consumer of its own (one fetch loop less on the broker, one
/// broker round trip less on the way to the wall).
#[derive(Clone)]
pub struct LiveTap(pub Arc<dyn Fn(&LiveCounters) + Send + Sync>);

impl std::fmt::Debug for LiveTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveTap")
    }
}

/// A non-blocking producer for `proctor_live`, shared by the workers.
pub struct LivePublisher {
    producer: Polled<DefaultProducerContext>,
    topic: String,
    metrics: Arc<Metrics>,
    tap: Option<LiveTap>,
}

impl LivePublisher {
    pub fn new(
        kafka: &KafkaEndpoint,
        topic: &str,
        metrics: Arc<Metrics>,
        tap: Option<LiveTap>,
    ) -> Result<Self, String> {
        let producer: BaseProducer = kafka
            .client_config()
            .set("linger.ms", "5")
            .set("acks", "1")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "10000")
            .set("queue.buffering.max.messages", "100000")
            .create()
            .map_err(|e| format!("creating the live producer: {e}"))?;
        let producer = Polled::start("live-deliveries", producer)
            .map_err(|e| format!("starting the live producer's thread: {e}"))?;
        Ok(Self { producer, topic: topic.to_owned(), metrics, tap })
    }

    pub fn publish(&self, counters: &LiveCounters) {
        if let Some(tap) = &self.tap {
            (tap.0)(counters);
        }
        let Ok(payload) = serde_json::to_vec(counters) else { return };
        // The same key as the candidate's records (`record_key`): test/candidate.
        let key = format!("{}/{}", counters.test_id, counters.candidate_id);
        match self.producer.producer().send(BaseRecord::to(&self.topic).key(&key).payload(&payload)) {
            Ok(()) => Metrics::add(&self.metrics.live_published, 1),
            Err(_) => Metrics::add(&self.metrics.live_dropped, 1),
        }
    }
}
