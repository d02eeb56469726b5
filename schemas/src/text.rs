//! Strings built without `core::fmt`.
//!
//! The browser SDK builds this crate for wasm, and every `format!` it
//! reaches brings the formatting machinery behind it (integer padding,
//! `Display` impls, `Formatter`) into the bundle that 50,000 browsers
//! download. The keys and texts the SDK shares with the servers
//! ([`crate::media_key`]) and the SDK's own are written with these instead;
//! the tests hold each to what `format!` writes.

use uuid::Uuid;

/// `parts` joined, with one allocation.
pub fn cat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// The longest start of `text` of at most `max` bytes that ends between
/// characters.
pub fn prefix(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `url` without the slashes it ends with (`trim_end_matches('/')` brings
/// std's generic pattern searcher, ~250 B of the SDK's wasm, for this).
pub fn without_trailing_slashes(url: &str) -> &str {
    let mut url = url;
    while let Some(shorter) = url.strip_suffix('/') {
        url = shorter;
    }
    url
}

/// `v` in decimal.
pub fn push_u64(out: &mut String, v: u64) {
    push_padded(out, v, 1);
}

/// `v` in decimal, `-` first if negative.
pub fn push_i64(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    push_u64(out, v.unsigned_abs());
}

/// `v` in decimal with at least `width` digits (`{v:0width$}` for `v ≥ 0`).
pub fn push_padded(out: &mut String, mut v: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for _ in digits.len() - at..width {
        out.push('0');
    }
    for &digit in &digits[at..] {
        out.push(char::from(digit));
    }
}

/// `bytes` as lower-case hex.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 15)]));
    }
}

/// `value` percent-encoded as S3 and SigV4 want it: RFC 3986's unreserved
/// characters and the bytes in `keep` as they are (`/` for an object key in
/// a URL path, nothing for a query value), every other byte as `%XX`
/// (upper-case hex).
pub fn push_percent_encoded(out: &mut String, value: &str, keep: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') || keep.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(DIGITS[usize::from(byte & 15)]));
        }
    }
}

/// `id` hyphenated and lower-case, as its `Display` writes it.
pub fn push_uuid(out: &mut String, id: Uuid) {
    let bytes = id.as_bytes();
    for (from, to) in [(0, 4), (4, 6), (6, 8), (8, 10), (10, 16)] {
        if from > 0 {
            out.push('-');
        }
        push_hex(out, &bytes[from..to]);
    }
}

pub fn uuid_string(id: Uuid) -> String {
    let mut out = String::with_capacity(36);
    push_uuid(&mut out, id);
    out
}

/// A UUID in the hyphenated form [`push_uuid`] writes (either case of hex);
/// `None` for anything else. The SDK's reader: `Uuid::try_parse` also takes
/// the simple, braced and URN forms, which nothing sends it.
pub fn parse_uuid(text: &str) -> Option<Uuid> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut value = 0u128;
    for (at, &byte) in bytes.iter().enumerate() {
        if matches!(at, 8 | 13 | 18 | 23) {
            if byte != b'-' {
                return None;
            }
            continue;
        }
        let digit = char::from(byte).to_digit(16)?;
        value = value << 4 | u128::from(digit);
    }
    Some(Uuid::from_u128(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn trailing_slashes_go_as_trim_end_matches_cuts_them(url in "[a-z/:.]{0,12}") {
            prop_assert_eq!(without_trailing_slashes(&url), url.trim_end_matches('/'));
        }

        #[test]
        fn writes_what_format_writes(v in any::<u64>(), i in any::<i64>(), width in 0usize..24, id in any::<u128>()) {
            let mut out = String::new();
            push_u64(&mut out, v);
            out.push(' ');
            push_i64(&mut out, i);
            out.push(' ');
            push_padded(&mut out, v, width);
            out.push(' ');
            push_uuid(&mut out, Uuid::from_u128(id));
            prop_assert_eq!(out, format!("{v} {i} {v:0width$} {}", Uuid::from_u128(id)));
            prop_assert_eq!(uuid_string(Uuid::from_u128(id)), Uuid::from_u128(id).to_string());
            let text = Uuid::from_u128(id).to_string();
            prop_assert_eq!(parse_uuid(&text), Some(Uuid::from_u128(id)));
            prop_assert_eq!(parse_uuid(&text.to_uppercase()), Some(Uuid::from_u128(id)));
        }

        /// Each byte as RFC 3986 says, `%XX` written as `format!` writes it.
        #[test]
        fn percent_encodes_every_byte_but_the_unreserved_and_kept(value in any::<String>(), slash in any::<bool>()) {
            let keep: &[u8] = if slash { b"/" } else { b"" };
            let mut ours = String::new();
            push_percent_encoded(&mut ours, &value, keep);
            let theirs: String = value
                .bytes()
                .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") })
                .collect();
            prop_assert_eq!(ours, theirs);
        }

        #[test]
        fn reads_a_uuid_only_where_uuid_reads_a_hyphenated_one(text in "[0-9a-fA-F-]{35,37}|.{0,40}") {
            let theirs = Uuid::try_parse(&text).ok().filter(|_| text.len() == 36);
            prop_assert_eq!(parse_uuid(&text), theirs);
        }
    }

    #[test]
    fn edges() {
        let mut out = String::new();
        push_padded(&mut out, 0, 5);
        push_i64(&mut out, i64::MIN);
        push_hex(&mut out, &[0, 0xab, 0xff]);
        assert_eq!(out, format!("00000{}00abff", i64::MIN));
        assert_eq!(cat(&["a", "", "bc"]), "abc");
        assert_eq!(cat(&[]), "");
        assert_eq!(prefix("héllo", 2), "h", "not inside é");
        assert_eq!(prefix("héllo", 3), "hé");
        assert_eq!(prefix("ab", 10), "ab");
    }
}
