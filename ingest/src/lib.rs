//! The front door (SPEC §4): an axum service between browsers and Kafka.
//!
//! Data flow of `POST /api/v1/events`, in [`events`]: verify the candidate's
//! token ([`auth`]) → check the resolved config, answering `shutdown` before
//! any processing ([`config_store`]) → per-candidate rate limit
//! ([`rate_limit`]) → validate the body
//! ([`invigil_schemas::validate::parse_batch`]) → enrich into a
//! [`invigil_schemas::record::KafkaRecord`] ([`enrich`]) → make it durable
//! ([`delivery`]): produced to `proctor_events` and acknowledged by Kafka
//! ([`kafka`]), or, when Kafka is away, fsynced to the on-disk [`spool`] that
//! a background task replays in order → answer `ok`. Every failure is an
//! [`error::ApiError`]: SPEC §4's JSON body.
//!
//! Around it: upload credentials from STS ([`credentials`], served by
//! [`credentials_api`]), the hot-reloaded config file and its admin API
//! ([`config_store`], [`config_api`]), Prometheus [`metrics`], live video on
//! demand — the publish signal, WHIP, WHEP and the SFU ([`live_video`],
//! its routes in [`live_api`]) —
//! and what an operator sets ([`settings`]). Staff tokens (proctor,
//! reviewer, admin) are checked here too ([`auth::Verifier::staff`]), for
//! the admin API and for the dashboards.
//!
//! [`router`] lists every route; [`state::AppState`] is what the handlers
//! share; [`app::Ingest`] starts and stops the whole. The binary mounts the
//! dashboards (`invigil-dashboards`) beside these through [`host`]: ingest
//! lends a [`host::Host`] (verifier, config store, brokers, media bucket, a
//! place for metrics) and serves the
//! [`host::Mounted`] routes, asking the mounted walls whom a proctor may
//! watch live.
//!
//! Where to look: a media key in an event is checked while [`events`]
//! validates the batch — its form by [`invigil_schemas::media_key::check`],
//! that it lies under the caller's own prefix by
//! [`invigil_schemas::validate::check_caller`]; uploads themselves are
//! bounded to that prefix by [`credentials::session_policy`]. A WHEP subscription is authorised
//! in `live_api::watcher`: a proctor of the test with the
//! candidate on their wall, or an admin.

pub mod app;
pub mod auth;
pub mod config_api;
pub mod config_store;
pub mod credentials;
pub mod credentials_api;
pub mod delivery;
pub mod enrich;
pub mod error;
pub mod events;
pub mod host;
pub mod kafka;
pub mod live_api;
pub mod live_video;
pub mod lti;
pub mod metrics;
pub mod oidc;
pub mod post_policy;
pub mod rate_limit;
pub mod router;
pub mod sdk_files;
pub mod settings;
pub mod spool;
pub mod staff_log;
pub mod state;

/// Logs as JSON lines on stderr (or human-readable with `INVIGIL_LOG_FORMAT=text`),
/// filtered by `RUST_LOG` (default `info`). Secrets and candidate content are
/// never logged: tokens, credentials and bodies do not reach any log call.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if std::env::var("INVIGIL_LOG_FORMAT").is_ok_and(|f| f == "text") {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).try_init()
    };
    let _ = result;
}
