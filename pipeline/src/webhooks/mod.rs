//! Signed webhooks: notices of what happened (see
//! [`invigil_schemas::webhook`]) delivered to the endpoints a deployment
//! configured.
//!
//! ```text
//! windows ─► row sink ──┐                      ┌─► endpoint A (its own group)
//! event sink ───────────┼─► outbox topic ──────┼─► endpoint B
//! staff follower ───────┘   (acked before      └─► …        └─► webhook_deliveries
//!   (verdicts)               the rows are written)
//! ```
//!
//! The sinks send a round's notices ([`outbox::Outbox`]) before they write
//! its rows, so a notice is never lost to a crash (what the store holds
//! was announced, and what it does not is computed and announced again on
//! replay, under the same id). The [`dispatch::Dispatcher`] delivers them,
//! signed ([`sign`]), at least once, retrying each with backoff for a day.

pub mod dispatch;
pub mod endpoint;
pub mod outbox;
pub mod sign;
