//! The browser SDK's core (SPEC §5), compiled to `wasm32-unknown-unknown`.
//!
//! The core decides; the JS glue (`sdk/js/`) acts. Data flow:
//!
//! ```text
//!  page events, timers, HTTP replies ──Input (JSON)──► engine ──Command (JSON)──► glue
//!                                                        │                          │ fetch, S3 PUT,
//!                                                        │                          │ IndexedDB, devices,
//!                                                        ▼                          ▼ overlay, Worker
//!                          outbox (events) · media queue · credentials · compliance
//! ```
//!
//! - [`engine`]: the state machine: the phases in `engine/mod.rs`, and a
//!   module per channel (`config`, `events`, `credentials`, `uploads`) beside
//!   `captures`, `blocks` (what blocks the test) and `restore`.
//! - [`json`]: JSON in and out by hand, without serde at run time.
//! - `event_json`: the events the core records, written as the server reads them.
//! - [`protocol`]: the `Input` / `Command` messages and IndexedDB layout.
//! - [`outbox`]: events waiting for ingest's ack, cut into valid batches.
//! - [`media`]: captures waiting for upload and their drop order (the S3 key
//!   layout is `invigil_schemas::media_key`, shared with ingest and loadgen).
//! - [`compliance`]: what blocks the test, and only that.
//! - [`config`]: the part of the test's config the SDK reads.
//! - [`retry`]: retry classification, backoff with jitter, the id/jitter RNG.
//! - [`s3`]: an S3 `PUT`'s URL and the keys the glue signs it with (SigV4, WebCrypto).
//! - [`token`]: the candidate identity, as the glue read it from the JWT (unverified).
//! - `vecmap`: the sorted-vector map the engine uses instead of B-trees.
//! - `wasm` (wasm32 only): the three functions the glue calls, on the page's one engine.
//!
//! Everything but `wasm` is plain Rust and tested natively.

pub mod compliance;
pub mod config;
pub mod engine;
mod event_json;
pub mod json;
pub mod media;
pub mod outbox;
pub mod protocol;
pub mod retry;
pub mod s3;
pub mod token;
mod vecmap;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use engine::Engine;
pub use protocol::{Command, Input};
