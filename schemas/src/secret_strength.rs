//! Is a shared secret strong enough to sign tokens with?
//!
//! Whoever knows the HS256 secret can mint any token, admin included, so a
//! secret an operator forgot to replace must stop the server at start-up
//! rather than run. The checks are cheap and conservative; each names what
//! is wrong, and every refusal says how to make a good secret:
//!
//! - at least [`MIN_SECRET_BYTES`] bytes;
//! - none of the words a placeholder is made of (`replace`, `changeme`,
//!   `secret`, `example`, …): the manifests, docs and examples of this
//!   repository and of most others write their placeholders with them;
//! - no short pattern repeated (`abcabcabc…`, 32 × `x`);
//! - no run of counting characters (`abcdef…`, `123456…`) making up most of it;
//! - an estimate of at least [`MIN_ENTROPY_BITS`] bits: the empirical
//!   per-character entropy times the length. A random hex string of 32
//!   bytes scores ~250, base64 of 32 bytes ~230; a sentence of lowercase
//!   words scores ~150 on this measure, which is why the word check exists.

/// The shortest secret accepted (RFC 7518 §3.2: an HS256 key at least as long
/// as the hash output).
pub const MIN_SECRET_BYTES: usize = 32;

/// The entropy estimate a secret must reach.
pub const MIN_ENTROPY_BITS: f64 = 128.0;

/// How to make a secret that passes, appended to every refusal.
pub const HOW_TO_GENERATE: &str = "generate one with `openssl rand -base64 48` (or `head -c 48 /dev/urandom | base64`)";

/// Words placeholders are made of, matched case-insensitively anywhere in the
/// secret. Random base64 of 64 characters contains a given six-letter word
/// with odds under 1 in 10⁸.
const PLACEHOLDER_WORDS: &[&str] = &[
    "replace",
    "changeme",
    "change-me",
    "change_me",
    "secret",
    "password",
    "passw0rd",
    "example",
    "placeholder",
    "default",
    "sample",
    "dummy",
    "insecure",
    "your-",
    "your_",
    "todo",
    "fixme",
];

/// Why a secret was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeakSecret {
    #[error("is {0} bytes; at least {MIN_SECRET_BYTES} are needed")]
    TooShort(usize),
    #[error("contains {0:?}, a word placeholders are made of (was a shipped or example value left in place?)")]
    Placeholder(String),
    #[error("repeats a pattern of {0} characters")]
    Repeats(usize),
    #[error("is mostly a run of counting characters (like abcdef or 123456)")]
    Counting,
    #[error("has about {0:.0} bits of entropy; at least {MIN_ENTROPY_BITS:.0} are needed")]
    LowEntropy(f64),
}

/// Checks `secret` against every rule, returning the first it breaks.
pub fn check(secret: &[u8]) -> Result<(), WeakSecret> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(WeakSecret::TooShort(secret.len()));
    }
    let lower = secret.to_ascii_lowercase();
    if let Some(word) = PLACEHOLDER_WORDS.iter().find(|word| contains(&lower, word.as_bytes())) {
        return Err(WeakSecret::Placeholder((*word).to_owned()));
    }
    if let Some(period) = shortest_period(secret) {
        return Err(WeakSecret::Repeats(period));
    }
    if counting_pairs(secret) * 2 > secret.len() - 1 {
        return Err(WeakSecret::Counting);
    }
    let bits = entropy_bits(secret);
    if bits < MIN_ENTROPY_BITS {
        return Err(WeakSecret::LowEntropy(bits));
    }
    Ok(())
}

/// The whole message for a refused secret held in `variable`.
pub fn refusal(variable: &str, weak: &WeakSecret) -> String {
    format!("{variable} {weak}: {HOW_TO_GENERATE}")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// The smallest `p ≤ len / 2` such that the secret is its first `p` bytes
/// repeated (the last repetition may be cut short).
fn shortest_period(secret: &[u8]) -> Option<usize> {
    (1..=secret.len() / 2).find(|&p| secret.iter().enumerate().skip(p).all(|(i, &b)| b == secret[i - p]))
}

/// Adjacent pairs that count up or down by one (`ab`, `98`).
fn counting_pairs(secret: &[u8]) -> usize {
    secret.windows(2).filter(|pair| pair[0].abs_diff(pair[1]) == 1).count()
}

/// The empirical Shannon entropy of the secret's bytes times its length.
fn entropy_bits(secret: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &b in secret {
        counts[usize::from(b)] += 1;
    }
    let n = secret.len() as f64;
    let per_byte: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    per_byte * n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_secrets_in_the_usual_encodings_pass() {
        // `openssl rand -base64 48` and `openssl rand -hex 32`, made once.
        check(b"q3J8vYwq0b1Zp7rV4nE2kXh9sT5uLc6dMf0aGi3oWy8RzB1eNj7Kl2PxHt4QmUv9").unwrap();
        check(b"5f0c2b9e71d44a8f93b6e0d2c7a1f8e46b3d9c0a5e7f2b1d8c4a6e9f0b3d7c21").unwrap();
    }

    #[test]
    fn the_shipped_placeholder_and_common_ones_are_refused_by_their_word() {
        for (secret, word) in [
            ("replace-me-with-32-or-more-random-bytes", "replace"),
            ("an-hs256-secret-of-at-least-32-bytes!!", "secret"),
            ("CHANGEME-CHANGEME-CHANGEME-0123456789", "changeme"),
            ("your-256-bit-key-goes-right-here-now", "your-"),
        ] {
            assert_eq!(check(secret.as_bytes()), Err(WeakSecret::Placeholder(word.into())), "{secret}");
        }
    }

    #[test]
    fn short_repeated_counting_and_low_entropy_secrets_are_refused() {
        assert_eq!(check(b"0123456789"), Err(WeakSecret::TooShort(10)));
        assert_eq!(check(&[b'x'; 40]), Err(WeakSecret::Repeats(1)));
        assert_eq!(check(b"k9Q!k9Q!k9Q!k9Q!k9Q!k9Q!k9Q!k9Q!k9"), Err(WeakSecret::Repeats(4)));
        assert_eq!(check(b"abcdefghijklmnopqrstuvwxyz0123456789"), Err(WeakSecret::Counting));
        // Two symbols in no pattern: 36 bits or so.
        let two = b"accacacccaacacacccacaacccacaacaccaccac";
        assert!(matches!(check(two), Err(WeakSecret::LowEntropy(bits)) if bits < 40.0), "{:?}", check(two));
    }

    #[test]
    fn a_refusal_names_the_variable_and_how_to_make_a_good_one() {
        let message = refusal("INVIGIL_TOKEN_SECRET", &check(b"short").unwrap_err());
        assert!(message.starts_with("INVIGIL_TOKEN_SECRET is 5 bytes"), "{message}");
        assert!(message.contains("openssl rand -base64 48"), "{message}");
    }
}
