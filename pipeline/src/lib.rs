//! The stream processor (SPEC §6): Kafka `proctor_events` → per-candidate
//! windows → ClickHouse, and live counters → `proctor_live`.
//!
//! What is here so far is the storage end, which the foundation needs to prove
//! the analytics engines are real:
//!
//! - [`store::chdb`]: the ClickHouse engine in-process (chDB), reached through
//!   a small C-API binding loaded at run time — the embedded default store.
//! - [`store::http`]: a ClickHouse server over HTTP (`clickhouse` crate), for
//!   production clusters; also speaks to ClickHouse 18.16 through the legacy
//!   twin tables, which is how the transport is tested on machines without a
//!   modern server.
//! - [`store::migrate`]: applies `schemas/clickhouse` through either one.
//! - [`rows`]: one row type per table; how a Kafka record becomes rows. The
//!   same structs write to chDB and (as RowBinary) to a server.
//!
//! The dataflow itself (sources, event-time windows, sinks with commit
//! barriers) is the subject of the pipeline issue.

pub mod dataflow;
pub mod emit;
pub mod faults;
pub mod live;
pub mod metrics;
pub mod rows;
pub mod run;
pub mod scripted;
pub mod session;
pub mod settings;
pub mod source;
pub mod store;
pub mod topics;
pub mod windows;
