//! The wire contract of invigil: every type that crosses a process boundary.
//!
//! A tour, in the order data flows:
//!
//! - [`claims`]: what a candidate or staff JWT carries. `test_id` and
//!   `candidate_id` are only ever taken from here, never from a request body.
//! - [`ids`]: validated identifiers ([`ids::TestId`], [`ids::CandidateId`]) and
//!   UUIDv7 helpers for event ids.
//! - [`event`]: the [`event::Event`] the SDK records, one struct per kind, and
//!   its two encodings (flat JSON on the wire, positional in binary records).
//! - [`event_columns`]: which events keep a JSON copy in ClickHouse, and the
//!   wire event rebuilt from a `proctor_events` row for the review timeline.
//! - [`batch`]: the [`batch::EventBatch`] the SDK posts to `/api/v1/events`.
//! - [`validate`]: turns request bytes into a batch or into *every* problem,
//!   each named by its JSON path (`events[3].bytes`), under configurable
//!   [`validate::Limits`].
//! - [`media_key`]: the S3 key layout of candidate media
//!   (`{date}/{test}/{candidate}/camera/…`) and the canonical-key check
//!   ([`media_key::check`]) every prefix comparison relies on; a batch's
//!   keys are held to the caller's own prefix by [`validate::check_caller`].
//! - [`record`]: the server-enriched [`record::KafkaRecord`] that ingest writes
//!   to `proctor_events`, and its versioned compact encoding.
//! - [`api`]: response bodies of the HTTP API: events (ok / shutdown),
//!   credentials, config and the one error body.
//! - [`config`]: the layered configuration document of SPEC §7 and how it
//!   resolves for one candidate.
//! - [`config_log`]: the config as one log of whole-document writes, and
//!   the rule every reader applies so a document has one version everywhere
//!   (with feature `config-log`, a follower of the real topic).
//! - [`erasure`]: erasing one candidate's data and the erasures topic
//!   that keeps a replay from writing it again (with feature `config-log`,
//!   a follower of it).
//! - [`kafka_access`]: how a process reaches Kafka (TLS, SASL, librdkafka
//!   options), checked once and naming the setting that is wrong.
//! - [`live`]: the live counters the pipeline publishes to `proctor_live`.
//! - [`migrations`]: the ClickHouse DDL under `schemas/clickhouse/`, embedded,
//!   and an ordered idempotent runner over any SQL executor.
//! - [`names`]: the wire names of the unit enums as plain data
//!   ([`names::WireName`]), for code that writes JSON without serde.
//! - [`text`]: strings built without `core::fmt`, for what the SDK's wasm
//!   shares with the servers.
//! - [`secret_strength`]: whether a token-signing secret is strong enough to
//!   run with (not a placeholder, a pattern or too little entropy).
//!
//! The crate has no I/O and no native dependencies (except behind the
//! `config-log` feature, which the servers turn on): it builds for
//! `wasm32-unknown-unknown`, where the SDK uses the same types.

pub mod api;
pub mod batch;
pub mod claims;
pub mod clock;
pub mod config;
pub mod config_catalog;
pub mod config_log;
pub mod environment;
pub mod erasure;
pub mod event;
pub mod event_columns;
pub mod ids;
pub mod kafka_access;
pub mod live;
pub mod lti;
pub mod media_key;
pub mod migrations;
pub mod names;
pub mod record;
pub mod secret_strength;
pub mod sql;
pub mod staff;
pub mod text;
pub mod validate;
pub mod webhook;

/// The protocol version every batch and record carries as `v`.
pub const PROTOCOL_VERSION: u16 = 1;
