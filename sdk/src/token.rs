//! Who the token is for, as the glue read it without verifying it.
//!
//! Ingest verifies every token; the SDK only needs the candidate and test to
//! decide which leftovers in IndexedDB (from an earlier page of the same
//! browser) it may upload under this token. A forged token gains nothing: the
//! server takes identities from the verified token, never from the SDK. The
//! glue decodes the JWT's payload (`atob` and `JSON.parse`, which the page
//! has anyway: ~2 KB of wasm less than a base64 and UTF-8 reader here).

/// The claims the SDK reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The `sub` claim.
    pub candidate_id: String,
    pub test_id: String,
}
