//! The stream processor (SPEC §6): Kafka `proctor_events` → per-candidate
//! windows → ClickHouse, and live counters → `proctor_live`.
//!
//! A tour in the order data flows:
//!
//! - [`source`]: each timely worker reads its own Kafka partitions
//!   (assigned, not rebalanced), decodes records and stamps each with the
//!   end of the window of its newest event; the source's capability is the
//!   watermark (newest event time − allowed lateness; idle partitions follow
//!   the wall clock). A [`source::Ledger`] remembers every offset read.
//! - [`dataflow`]: event sink (rows for `proctor_events`) → exchange by
//!   candidate → windows operator → live counters operator (publishes to
//!   `proctor_live`, passes the rows on) → row sink (`candidate_windows`,
//!   `anomalies`, `sessions`) → probe, each operator a module of its own
//!   (`dataflow/{kafka_source,event_sink,windows,live_counters,row_sink}.rs`,
//!   the sinks sharing `writer.rs`). Sinks hold capabilities until the store
//!   acknowledged their rows, so the probe's frontier is a durability
//!   frontier, and offsets are committed only through it.
//! - [`session`]: the digest of one SDK session (deduplicated by `seq`),
//!   built from stored rows the same way whether live or rebuilt after a
//!   restart; [`scoring`]: the pure function from a digest to 1-minute
//!   windows, session totals and scores with their components.
//! - [`emit`]: which rows to (re)write, with versions that only rise and
//!   fingerprints of what the store holds, so corrections replace and
//!   repeats are skipped.
//! - [`live`]: what a proctor's tile shows of a session, and the best-effort
//!   producer for `proctor_live`.
//! - [`store`]: chDB in process (the embedded default, through a small C-API
//!   binding loaded at run time, fed Native blocks) or ClickHouse over HTTP
//!   (RowBinary; also 18.16 via legacy twin tables); [`rows`]: one row type
//!   per table, and [`rows::RowBlock`], rows already encoded, which the event
//!   sink buffers from the moment a record is decoded.
//! - [`run`]: a process — store, live producer, timely workers or cluster
//!   ([`run::RunError`] says why one could not start);
//!   [`settings`], [`metrics`] (prometheus-client, as ingest's), [`faults`] (crash injection for tests),
//!   [`topics`] (Kafka chores), [`hash`] (the one hash every process agrees
//!   on: which worker owns a candidate). With the `testing` feature (tests
//!   and benchmarks turn it on): `scripted` (the reference exam and its
//!   truth) and `source::MemorySource` (records from memory instead of Kafka).
//!
//! Where each thing is credited, all in [`scoring`] over the digest
//! [`session`] builds: a tab switch (`visibility: hidden`) is counted and
//! weighted in [`scoring::compute`] (a blur or fullscreen exit within
//! [`scoring::SWITCH_CAUSE_MS`] of it is context, not scored again); a capture
//! is credited to the earliest free slot of its kind's grid in
//! `scoring::credit_slots`; a video recording's segments are credited per
//! track against the time a recording was expected in
//! `scoring::recording_credit` (the segments themselves are read from
//! `recording` events in `session.rs`).
//!
//! ## Exactness after a crash
//! Offsets are committed only when every row derived from the records
//! before them is durable. A record's dataflow time is the end of the last
//! window it touches, so the frontier passing it means those windows were
//! written: the windows operator gives its rows at the time its frontier
//! stood at *before* each step, never later than the records they reflect
//! (`pipeline/tests/dataflow.rs` stretches the row sink between an
//! emission's windows and its session rows and checks that a commit never
//! runs ahead of them). Windows still open when a record is committed belong to a
//! session that has a later, uncommitted record; after a restart that
//! record is replayed, the session is rebuilt from its events in the store
//! (which hold at least everything committed) plus the replay, and every
//! row is compared with what the store holds — differences are written with
//! a higher version. Sessions never seen again were fully written before
//! their last commit. Conversely, a session with no window row in the store
//! has had no record committed, so its whole history is replayed and
//! nothing needs reading back: the first sight of a session asks the store
//! only that, and reads the rest for the few that have rows. `ops/tests/pipeline_process.rs` SIGKILLs the process
//! at each durability step and checks the totals.

pub mod dataflow;
pub mod emit;
pub mod faults;
pub mod hash;
pub mod live;
pub mod metrics;
pub mod rows;
pub mod run;
pub mod scoring;
#[cfg(any(test, feature = "testing"))]
pub mod scripted;
pub mod session;
pub mod settings;
pub mod source;
pub mod staff_log;
pub mod store;
pub mod topics;
pub mod webhooks;
