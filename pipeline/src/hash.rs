//! The one hash every process agrees on: which worker owns a candidate (the
//! dataflow's exchange) and which partition a key falls in (the in-memory
//! source that stands in for Kafka). A leaf module, so both import it
//! without importing each other.

/// Hashes bytes the same way in every process (std's default hasher is
/// randomly seeded per process, which would split one candidate over workers).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    // FNV-1a, 64 bit.
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fnv1a_and_the_same_everywhere() {
        // FNV-1a's published offset basis and the value for "a".
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(stable_hash(b"exam-1/cand-1"), stable_hash(b"exam-1/cand-2"));
    }
}
