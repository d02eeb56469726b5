//! ClickHouse SQL text: the one way a value becomes a literal in a query
//! built by hand (the pipeline's rebuild reads, the review queries, `invigil
//! sql`), for stores reached without bind parameters.

/// `value` as a ClickHouse string literal. Besides quotes and backslashes,
/// control characters and `?` are written as `\xHH` escapes: some clients
/// treat a bare `?` as a bind placeholder, and a literal must not depend on
/// which client carries it.
pub fn string_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '?' => out.push_str("\\x3F"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_escape_everything_that_could_end_or_bend_them() {
        assert_eq!(string_literal("plain"), "'plain'");
        assert_eq!(string_literal("it's"), "'it\\'s'");
        assert_eq!(string_literal("a\\'); DROP TABLE x; --"), "'a\\\\\\'); DROP TABLE x; --'");
        assert_eq!(string_literal("why?\n"), "'why\\x3F\\x0A'");
        assert_eq!(string_literal("naïve ✓"), "'naïve ✓'");
    }
}
