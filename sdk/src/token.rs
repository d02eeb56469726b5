//! Who the token is for, read without verifying it.
//!
//! Ingest verifies every token; the SDK only needs the candidate and test to
//! decide which leftovers in IndexedDB (from an earlier page of the same
//! browser) it may upload under this token. A forged token gains nothing: the
//! server takes identities from the verified token, never from the SDK.

use crate::json::{Error, FromJson, Node};

/// The claims the SDK reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The `sub` claim.
    pub candidate_id: String,
    pub test_id: String,
}

impl FromJson for Identity {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        Ok(Self { candidate_id: node.read("sub")?, test_id: node.read("test_id")? })
    }
}

/// Reads the identity from a JWT's payload; `None` if it is not one.
pub fn identity(token: &str) -> Option<Identity> {
    let payload = token.split('.').nth(1)?;
    let claims = String::from_utf8(base64url_decode(payload)?).ok()?;
    crate::json::from_str(&claims).ok()
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().take_while(|&c| c != b'=') {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sub_and_test_from_a_jwt() {
        // {"alg":"HS256"} . {"sub":"cand-7","test_id":"exam-1","exp":1} . sig
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5kLTciLCJ0ZXN0X2lkIjoiZXhhbS0xIiwiZXhwIjoxfQ.c2ln";
        assert_eq!(identity(token), Some(Identity { candidate_id: "cand-7".into(), test_id: "exam-1".into() }));
        assert_eq!(identity("not a token"), None);
        assert_eq!(identity("a.!!!.c"), None);
    }
}
