//! The `invigil` product: what the `invigil` binary runs in production and
//! on a laptop — `up` (everything in one process, with its embedded broker,
//! media store and demo exam), `ingest`, `pipeline`, `migrate`, `sql`,
//! `token`, `tail`, `validate`. The measuring and load tools (`loadgen`,
//! `bench`, `cost`, the chaos test) are a crate of their own
//! (`ops/tools`, binary `invigil-tools`) that the `invigil` binary hands
//! those subcommands to, so production links none of their dependencies.
//!
//! Shared with the tools: the local broker ([`broker`]), child-process
//! handling ([`process`]), token signing ([`token`]) and the allocator
//! ([`alloc`]).

pub mod alloc;
pub mod analytics;
pub mod broker;
pub mod demo;
pub mod export;
pub mod ingest;
pub mod kafka_args;
pub mod media_store;
pub mod migrate;
pub mod pipeline;
pub mod process;
pub mod retention;
pub mod sql;
pub mod staff_api;
pub mod tail;
pub mod token;
pub mod up;
pub mod validate;

pub use invigil_schemas::clock::now_ms;
