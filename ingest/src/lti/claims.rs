//! What LTI 1.3 messages carry, as invigil reads and writes them: the claim
//! names (full URIs, LTI Core 1.3 and LTI Proctoring Services 1.0, "LTI-AP")
//! and the payloads. Platforms add claims of their own, so nothing here
//! refuses unknown fields.

use serde::{Deserialize, Serialize};

pub const LTI_VERSION: &str = "1.3.0";

/// The message types invigil takes.
pub mod message {
    /// A plain launch (platforms without LTI-AP: Moodle, Canvas).
    pub const RESOURCE_LINK: &str = "LtiResourceLinkRequest";
    /// LTI-AP: proctor this attempt, then send the candidate on to it.
    pub const START_PROCTORING: &str = "LtiStartProctoring";
    /// LTI-AP, tool → platform: the checks passed, start the assessment.
    pub const START_ASSESSMENT: &str = "LtiStartAssessment";
    /// LTI-AP: the attempt is over.
    pub const END_ASSESSMENT: &str = "LtiEndAssessment";
}

/// `aud`: one client id, or several (then `azp` names ours).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, client_id: &str) -> bool {
        match self {
            Audience::One(one) => one == client_id,
            Audience::Many(many) => many.iter().any(|a| a == client_id),
        }
    }

    /// Whether the token names more than one audience (then `azp` must
    /// name ours).
    pub fn is_several(&self) -> bool {
        matches!(self, Audience::Many(many) if many.len() > 1)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ResourceLink {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// The Assessment Control Service the platform offers for this attempt.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Acs {
    pub assessment_control_url: String,
    #[serde(default)]
    pub actions: Vec<String>,
}

/// A launch's id_token, as far as invigil reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct IdToken {
    pub iss: String,
    pub aud: Audience,
    #[serde(default)]
    pub azp: Option<String>,
    /// Absent in an anonymous launch, which invigil refuses: a proctored
    /// attempt belongs to someone.
    #[serde(default)]
    pub sub: Option<String>,
    pub nonce: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/message_type")]
    pub message_type: String,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/version")]
    pub version: String,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/deployment_id")]
    pub deployment_id: String,
    #[serde(default, rename = "https://purl.imsglobal.org/spec/lti/claim/resource_link")]
    pub resource_link: Option<ResourceLink>,
    #[serde(default, rename = "https://purl.imsglobal.org/spec/lti/claim/custom")]
    pub custom: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, rename = "https://purl.imsglobal.org/spec/lti-ap/claim/start_assessment_url")]
    pub start_assessment_url: Option<String>,
    #[serde(default, rename = "https://purl.imsglobal.org/spec/lti-ap/claim/session_data")]
    pub session_data: Option<String>,
    #[serde(default, rename = "https://purl.imsglobal.org/spec/lti-ap/claim/attempt_number")]
    pub attempt_number: Option<AttemptNumber>,
    #[serde(default, rename = "https://purl.imsglobal.org/spec/lti-ap/claim/acs")]
    pub acs: Option<Acs>,
    #[serde(default, rename = "https://purl.imsglobal.org/spec/lti-ap/claim/proctoring_settings")]
    pub proctoring_settings: Option<ProctoringSettings>,
}

/// The settings an instructor chose on the platform for the tool.
#[derive(Debug, Clone, Deserialize)]
pub struct ProctoringSettings {
    /// Tool-specific; invigil reads a JSON object of test settings.
    #[serde(default)]
    pub data: Option<String>,
}

impl IdToken {
    /// The names the launch gave the user, as `verified_user` carries them
    /// (never `iss` or `sub`: the platform's own, not ours to vouch for).
    /// `None` when it gave none.
    pub fn names(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        let names: serde_json::Map<String, serde_json::Value> =
            [("name", &self.name), ("given_name", &self.given_name), ("family_name", &self.family_name)]
                .into_iter()
                .filter_map(|(claim, value)| {
                    value.as_ref().filter(|v| !v.trim().is_empty()).map(|v| (claim.to_owned(), v.clone().into()))
                })
                .collect();
        (!names.is_empty()).then_some(names)
    }
}

/// An attempt number: platforms send an integer, some a numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AttemptNumber(pub u32);

impl<'de> Deserialize<'de> for AttemptNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .map(AttemptNumber)
        .ok_or_else(|| serde::de::Error::custom("attempt_number is not a whole number"))
    }
}

/// The `LtiStartAssessment` message the tool posts to the platform's
/// `start_assessment_url` (form field `JWT`), signed with the tool's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartAssessment {
    /// The tool: its client id at the platform.
    pub iss: String,
    /// The platform's issuer.
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub nonce: String,
    pub jti: String,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/message_type")]
    pub message_type: String,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/version")]
    pub version: String,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/deployment_id")]
    pub deployment_id: String,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/resource_link")]
    pub resource_link: ResourceLink,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti-ap/claim/session_data")]
    pub session_data: String,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti-ap/claim/attempt_number")]
    pub attempt_number: AttemptNumber,
    /// Asks the platform for an `LtiEndAssessment` launch when the attempt ends.
    #[serde(rename = "https://purl.imsglobal.org/spec/lti-ap/claim/end_assessment_return")]
    pub end_assessment_return: bool,
    /// The person whose face became the reference before the assessment
    /// opened, by the names the launch gave (identity mode only).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "https://purl.imsglobal.org/spec/lti-ap/claim/verified_user"
    )]
    pub verified_user: Option<serde_json::Map<String, serde_json::Value>>,
}
