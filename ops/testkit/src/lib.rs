//! What the integration tests of every crate share, so each test says what
//! it checks rather than how to set it up: batches as the SDK sends them
//! ([`batches`]), tokens signed like a host app or
//! an operator would ([`tokens`]), where the dev services listen
//! ([`services`]), Kafka topics made and read back ([`kafka`]), a broker a
//! test may kill ([`broker`]), a CA and stunnel for TLS ([`tls`]), `invigil` child processes ([`process`]), an in-process front door with the dashboards
//! mounted (`front_door`, with the `front-door` feature) and an LTI
//! platform to launch it (`lti_platform`, same feature), the tools binary
//! beside `invigil` ([`tools`]), a scripted webhook receiver
//! ([`webhook_receiver`]), and polling until something holds ([`wait`]).
//!
//! A dev-dependency only: nothing here ships.

pub mod batches;
pub mod broker;
#[cfg(feature = "front-door")]
pub mod front_door;
pub mod kafka;
#[cfg(feature = "front-door")]
pub mod lti_platform;
#[cfg(feature = "front-door")]
pub mod oidc_provider;
pub mod process;
pub mod services;
pub mod tls;
pub mod tokens;
pub mod tools;
pub mod wait;
pub mod webhook_receiver;

pub use invigil_schemas::clock::now_ms;
