//! Identifiers: validated test and candidate ids, and UUIDv7 event ids.
//!
//! Test and candidate ids come from tokens minted by host apps, and end up in
//! S3 keys (`{date}/{test}/{candidate}/`), Kafka keys (`test/candidate`) and
//! ClickHouse rows. They are restricted to a charset that is safe in all three,
//! so a hostile id can never escape its prefix.

use std::fmt;

use serde::{Deserialize, Serialize};
pub use uuid::Uuid;

/// Longest test or candidate id accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// Why a string is not a valid test or candidate id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_ID_LEN} bytes, got {0}")]
    TooLong(usize),
    #[error("may contain only ASCII letters, digits and . _ - @ : (found {0:?})")]
    BadChar(char),
    #[error("must not be \".\" or \"..\"")]
    DotPath,
}

/// Checks the shared id rules: 1..=128 bytes of `[A-Za-z0-9._@:-]`, not a dot path.
pub fn check_id(raw: &str) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty);
    }
    if raw.len() > MAX_ID_LEN {
        return Err(IdError::TooLong(raw.len()));
    }
    if let Some(bad) = raw.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | ':'))) {
        return Err(IdError::BadChar(bad));
    }
    if raw == "." || raw == ".." {
        return Err(IdError::DotPath);
    }
    Ok(())
}

macro_rules! validated_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `raw` against the id rules.
            pub fn new(raw: impl Into<String>) -> Result<Self, IdError> {
                let raw = raw.into();
                check_id(&raw)?;
                Ok(Self(raw))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(raw: String) -> Result<Self, IdError> {
                Self::new(raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

validated_id!(
    /// A test (exam, interview, class) as named by the host app.
    TestId
);
validated_id!(
    /// A candidate within a test, the `sub` of their token.
    CandidateId
);

/// Builds a UUIDv7 from a Unix time in milliseconds and 10 random bytes.
///
/// The caller supplies the randomness so this works the same natively and in
/// the browser (where the SDK draws it from `crypto.getRandomValues`).
pub fn event_id_v7(unix_ms: u64, random: [u8; 10]) -> Uuid {
    uuid::Builder::from_unix_timestamp_millis(unix_ms, &random).into_uuid()
}

/// Whether `id` is a version 7 UUID, as event ids must be.
pub fn is_v7(id: &Uuid) -> bool {
    id.get_version_num() == 7
}

/// The Unix millisecond timestamp embedded in a UUIDv7.
pub fn v7_unix_ms(id: &Uuid) -> Option<u64> {
    if !is_v7(id) {
        return None;
    }
    let bytes = id.as_bytes();
    Some(bytes[..6].iter().fold(0u64, |ms, b| (ms << 8) | u64::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_safe_names_and_refuse_path_tricks() {
        assert!(TestId::new("exam-2026.final_A@x:1").is_ok());
        assert_eq!(TestId::new(""), Err(IdError::Empty));
        assert_eq!(CandidateId::new("a/b"), Err(IdError::BadChar('/')));
        assert_eq!(CandidateId::new(".."), Err(IdError::DotPath));
        assert_eq!(CandidateId::new("x".repeat(129)), Err(IdError::TooLong(129)));
        assert!(CandidateId::new("x".repeat(128)).is_ok());
    }

    #[test]
    fn ids_deserialize_through_validation() {
        let ok: TestId = serde_json::from_str("\"t1\"").unwrap();
        assert_eq!(ok.as_str(), "t1");
        let err = serde_json::from_str::<TestId>("\"t 1\"").unwrap_err();
        assert!(err.to_string().contains("may contain only"), "{err}");
    }

    #[test]
    fn v7_ids_carry_their_timestamp() {
        let id = event_id_v7(1_760_000_000_123, [7; 10]);
        assert!(is_v7(&id));
        assert_eq!(v7_unix_ms(&id), Some(1_760_000_000_123));
        assert_eq!(v7_unix_ms(&Uuid::nil()), None);
    }
}
