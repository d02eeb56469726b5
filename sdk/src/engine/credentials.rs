//! The credentials channel: temporary S3 credentials (or presigned POST
//! forms) for this candidate's prefix, fetched before uploads need them and
//! refreshed at 80 % of their lifetime. [`CREDENTIAL_ATTEMPTS`] failures in
//! a row disable uploads for [`UPLOADS_RETRY_MS`] (media stays queued,
//! events keep flowing): the candidate never waits on us.

use invigil_schemas::api::{CredentialsResponse, PostForm};
use invigil_schemas::event::SdkError;
use invigil_schemas::text;

use super::{retry_after, Engine, Pending, Phase};
use crate::json::{Error, FromJson, Node};
use crate::protocol::Notice;
use crate::retry::{Channel, Outcome};

/// After 3 credential failures, uploads pause this long before one more try.
pub const UPLOADS_RETRY_MS: i64 = 5 * 60_000;
/// Consecutive credential failures that disable uploads.
pub const CREDENTIAL_ATTEMPTS: u32 = 3;
/// Credentials this close to expiry are not used for a new upload.
const EXPIRY_MARGIN_MS: i64 = 60_000;

#[derive(Debug)]
pub(super) struct CredentialsChannel {
    pub(super) link: Channel,
    issued: Option<Issued>,
    /// Paused after [`CREDENTIAL_ATTEMPTS`] failures in a row.
    pub(super) disabled: bool,
}

/// Upload credentials and their schedule.
#[derive(Debug)]
struct Issued {
    response: CredentialsResponse,
    refresh_at: i64,
}

impl CredentialsChannel {
    pub(super) fn new() -> Self {
        Self { link: Channel::new(1_000, 8_000), issued: None, disabled: false }
    }

    /// The credentials held, whatever their age (a capture's event names
    /// its object under their prefix).
    pub(super) fn held(&self) -> Option<&CredentialsResponse> {
        self.issued.as_ref().map(|issued| &issued.response)
    }

    /// Credentials a new upload may use at `now`: not about to expire.
    pub(super) fn usable(&self, now: i64) -> Option<&CredentialsResponse> {
        self.held().filter(|response| now < response.expiration - EXPIRY_MARGIN_MS)
    }

    /// S3 refused them (expired or revoked): fetch new ones.
    pub(super) fn refused(&mut self) {
        self.issued = None;
    }
}

impl Engine {
    /// Asks for credentials when uploads will want them (media waits, or
    /// captures are running) and those held are due for a refresh.
    pub(super) fn refresh_credentials(&mut self, now: i64) {
        let wanted = !self.uploads.media.is_empty() || self.phase == Phase::Running;
        let fresh = self.credentials.issued.as_ref().is_some_and(|c| now < c.refresh_at);
        if wanted && !fresh && self.credentials.link.ready(now) {
            self.credentials.link.sent();
            let url = text::cat(&[&self.endpoint, "/api/v1/credentials"]);
            self.fetch(Pending::Credentials, "POST", url, None, false);
        }
    }

    pub(super) fn on_credentials_reply(&mut self, now: i64, unit: f64, outcome: Outcome, status: u16, body: &str) {
        self.credentials.link.answered();
        match crate::json::from_str::<CredentialsResponse>(body) {
            Ok(response) if outcome == Outcome::Success => {
                let lifetime = (response.expiration - now).max(0);
                let refresh_at = now + lifetime * 4 / 5;
                self.credentials.issued = Some(Issued { response, refresh_at });
                self.credentials.link.succeeded();
                self.uploads.link.wake();
                if std::mem::take(&mut self.credentials.disabled) {
                    self.notify("uploads", Notice { state: Some("enabled"), ..Notice::default() });
                }
            }
            _ => {
                self.credentials.link.failed(now, unit, retry_after(outcome));
                if self.credentials.link.backoff.failures >= CREDENTIAL_ATTEMPTS {
                    self.credentials.link.backoff.not_before = now + UPLOADS_RETRY_MS;
                    self.disable_uploads(now, status);
                }
            }
        }
    }

    /// Says once, in the timeline and to the host, that uploads pause.
    fn disable_uploads(&mut self, now: i64, status: u16) {
        if self.credentials.disabled {
            return;
        }
        self.credentials.disabled = true;
        let mut message = String::from("upload credentials failed ");
        text::push_u64(&mut message, CREDENTIAL_ATTEMPTS.into());
        message.push_str(" times (last status ");
        text::push_u64(&mut message, status.into());
        message.push_str("); media stays queued, retrying in ");
        text::push_i64(&mut message, UPLOADS_RETRY_MS / 60_000);
        message.push_str(" min");
        self.record(now, SdkError { code: "uploads_disabled".into(), message }.into());
        self.notify("uploads", Notice { state: Some("disabled"), ..Notice::default() });
    }
}

impl FromJson for CredentialsResponse {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        Ok(Self {
            access_key_id: node.read("access_key_id")?,
            secret_access_key: node.read("secret_access_key")?,
            session_token: node.read("session_token")?,
            expiration: node.field("expiration")?.i64()?,
            bucket: node.read("bucket")?,
            region: node.read("region")?,
            endpoint: node.read("endpoint")?,
            prefix: node.read("prefix")?,
            forms: node.field_or_default("forms")?,
        })
    }
}

impl FromJson for PostForm {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        Ok(Self {
            key_prefix: node.read("key_prefix")?,
            content_type: node.read("content_type")?,
            fields: node.read("fields")?,
        })
    }
}
