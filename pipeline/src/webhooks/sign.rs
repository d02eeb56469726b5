//! Standard Webhooks signatures: `webhook-signature` is `v1,` and the
//! base64 of HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`,
//! keyed with the bytes of the endpoint's secret (`whsec_` + base64, the
//! form the scheme's verifier libraries take).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a secret in its text form.
pub const SECRET_PREFIX: &str = "whsec_";

/// An endpoint's signing key. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Why a secret's text was refused (the text itself is never repeated).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a webhook secret starts with `whsec_` followed by base64")]
    Prefix,
    #[error("the part after `whsec_` is not base64")]
    Base64,
    #[error("the key is {0} bytes; at least 24 (32 recommended: `whsec_` + 32 random bytes in base64)")]
    Short(usize),
}

impl Secret {
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text.trim().strip_prefix(SECRET_PREFIX).ok_or(SecretError::Prefix)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError::Base64)?;
        if key.len() < 24 {
            return Err(SecretError::Short(key.len()));
        }
        Ok(Self(key))
    }

    /// The `webhook-signature` value for one delivery.
    pub fn sign(&self, message_id: &str, timestamp_secs: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp_secs.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    use proptest::prelude::*;

    /// The example of the scheme's own test suites.
    #[test]
    fn the_published_example_signs_alike() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn bad_secrets_say_why_without_repeating_them() {
        assert_eq!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Err(SecretError::Prefix));
        assert_eq!(Secret::parse("whsec_not base64!"), Err(SecretError::Base64));
        assert_eq!(Secret::parse("whsec_c2hvcnQ="), Err(SecretError::Short(5)));
        let debug = format!("{:?}", Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap());
        assert_eq!(debug, "Secret(24 bytes)");
    }

    proptest! {
        /// Whatever the key, id, time and body, the `standardwebhooks`
        /// crate (its own HMAC, not ours) accepts our signature, and rejects
        /// it once the body changes.
        #[test]
        fn the_reference_verifier_accepts_our_signatures(
            key in proptest::collection::vec(any::<u8>(), 24..64),
            id in "msg_[A-Za-z0-9]{1,30}",
            text_body in any::<String>(),
        ) {
            // The reference signs text only (our bodies are JSON).
            let body = text_body.into_bytes();
            let text = format!("{SECRET_PREFIX}{}", STANDARD.encode(&key));
            let ours = Secret::parse(&text).unwrap();
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let mut headers = HeaderMap::new();
            headers.insert("webhook-id", id.parse().unwrap());
            headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
            headers.insert("webhook-signature", ours.sign(&id, now, &body).parse().unwrap());
            let reference = standardwebhooks::Webhook::new(&text).unwrap();
            prop_assert!(reference.verify(&body, &headers).is_ok());
            let theirs = reference.sign(&id, now, &body).unwrap();
            prop_assert_eq!(theirs, ours.sign(&id, now, &body));
            let mut tampered = body.clone();
            tampered.push(b' ');
            prop_assert!(reference.verify(&tampered, &headers).is_err());
        }
    }
}
