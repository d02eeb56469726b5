//! A JSON parser into a small tree of [`Node`]s, and the accessors the
//! hand readers ([`FromJson`]) use.
//!
//! The documents the core reads are a few hundred bytes to a few KB, so a
//! tree costs nothing that matters and keeps the code small: one recursive
//! parser, a handful of typed getters. Numbers stay text until a reader
//! asks for one; only integers are read (a float in a field no reader
//! asks for is never converted).

use std::borrow::Cow;

use invigil_schemas::ids::Uuid;
use invigil_schemas::names::WireName;

use super::Error;

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: u32 = 64;

/// A type the core reads from JSON, by hand: derived `Deserialize` impls
/// cost the bundle ~1–3 KB each, a hand reader a few hundred bytes. Each
/// impl is tested against the type's serde form (see the callers' tests).
pub trait FromJson: Sized {
    fn from_json(node: &Node<'_>) -> Result<Self, Error>;
}

/// Reads `text` (one JSON value, whitespace around it) as a `T`.
pub fn from_str<T: FromJson>(text: &str) -> Result<T, Error> {
    T::from_json(&Node::parse(text)?)
}

impl FromJson for String {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        node.string()
    }
}

impl FromJson for u64 {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        node.u64()
    }
}

/// A plain loop: `collect` into a `Result<Vec<_>>` built a `GenericShunt`
/// and its size-hint paths per element type, ~1 KB of wasm each.
impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        let items = node.items()?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(T::from_json(item)?);
        }
        Ok(out)
    }
}

impl<A: FromJson, B: FromJson> FromJson for (A, B) {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        let [a, b] = node.tuple()?;
        Ok((A::from_json(a)?, B::from_json(b)?))
    }
}

/// One parsed value and the text it was parsed from.
#[derive(Debug)]
pub struct Node<'t> {
    text: &'t str,
    value: Value<'t>,
}

#[derive(Debug)]
enum Value<'t> {
    Null,
    Bool(bool),
    /// Checked against JSON's number grammar, not yet converted.
    Number(&'t str),
    String(Cow<'t, str>),
    Array(Vec<Node<'t>>),
    Object(Vec<(Cow<'t, str>, Node<'t>)>),
}

impl<'t> Node<'t> {
    /// Parses `text`: one JSON value, whitespace around it.
    pub fn parse(text: &'t str) -> Result<Self, Error> {
        let mut parser = Parser { text, at: 0 };
        let node = parser.value(0)?;
        parser.skip_space();
        if parser.at != text.len() {
            return Err(Error::new("trailing characters after the JSON value"));
        }
        Ok(node)
    }

    /// The value's own text, as it was sent.
    pub fn text(&self) -> &'t str {
        self.text
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// An object's field; `None` if absent or if this is not an object.
    pub fn get(&self, key: &str) -> Option<&Node<'t>> {
        match &self.value {
            Value::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, node)| node),
            _ => None,
        }
    }

    /// A field that must be there (`null` counts as there).
    pub fn field(&self, key: &'static str) -> Result<&Node<'t>, Error> {
        self.object()?.get(key).ok_or_else(|| Error::missing(key))
    }

    /// A field read as `T`, or `T::default()` when absent (serde's
    /// `#[serde(default)]`).
    pub fn field_or_default<T: FromJson + Default>(&self, key: &'static str) -> Result<T, Error> {
        self.or(key, T::default(), T::from_json)
    }

    /// This value, if it is an object.
    pub fn object(&self) -> Result<&Self, Error> {
        match self.value {
            Value::Object(_) => Ok(self),
            _ => Err(Error::new("expected an object")),
        }
    }

    /// A field read by `read`, or `default` when absent.
    pub fn or<T>(&self, key: &'static str, default: T, read: fn(&Node<'t>) -> Result<T, Error>) -> Result<T, Error> {
        match self.get(key) {
            Some(node) => read(node).map_err(|e| e.within(key)),
            None => Ok(default),
        }
    }

    /// A field that must be there, read as `T`.
    pub fn read<T: FromJson>(&self, key: &'static str) -> Result<T, Error> {
        T::from_json(self.field(key)?).map_err(|e| e.within(key))
    }

    pub fn items(&self) -> Result<&[Node<'t>], Error> {
        match &self.value {
            Value::Array(items) => Ok(items),
            _ => Err(Error::new("expected an array")),
        }
    }

    /// An array of exactly `N` values (a Rust tuple's serde form).
    pub fn tuple<const N: usize>(&self) -> Result<&[Node<'t>; N], Error> {
        self.items()?.try_into().map_err(|_| Error::new("an array of the wrong length"))
    }

    /// An externally tagged enum value: `"name"` (unit variant, with `null`
    /// as its value) or `{"name": value}`.
    pub fn tagged(&self) -> Result<(&str, &Node<'t>), Error> {
        const NULL: &Node<'static> = &Node { text: "null", value: Value::Null };
        match &self.value {
            Value::String(name) => Ok((name, NULL)),
            Value::Object(fields) if fields.len() == 1 => Ok((&fields[0].0, &fields[0].1)),
            _ => Err(Error::new("expected a string or an object with one key")),
        }
    }

    pub fn bool(&self) -> Result<bool, Error> {
        match self.value {
            Value::Bool(b) => Ok(b),
            _ => Err(Error::new("expected a boolean")),
        }
    }

    pub fn u64(&self) -> Result<u64, Error> {
        match self.value {
            Value::Number(text) => integer(text),
            _ => Err(Error::new("expected a non-negative integer")),
        }
    }

    pub fn u32(&self) -> Result<u32, Error> {
        u32::try_from(self.u64()?).map_err(|_| Error::new("integer out of range"))
    }

    pub fn u16(&self) -> Result<u16, Error> {
        u16::try_from(self.u64()?).map_err(|_| Error::new("integer out of range"))
    }

    /// A number 0..=1 written as a decimal (`0.6`, `1`, `0.725`), in
    /// thousandths: the SDK's one fractional setting, read without float
    /// parsing. Digits past the third decimal are cut.
    pub fn thousandths(&self) -> Result<u32, Error> {
        let Value::Number(text) = self.value else { return Err(Error::new("expected a number")) };
        // 1000 per unit, then 100, 10, 1 for the decimals; `scale` 0 after three.
        let (mut value, mut scale, mut fraction) = (0u32, 1000u32, false);
        for byte in text.bytes() {
            match byte {
                b'.' if !fraction => fraction = true,
                b'0'..=b'9' if !fraction => {
                    value = value.saturating_mul(10).saturating_add(u32::from(byte - b'0') * 1000)
                }
                b'0'..=b'9' => {
                    scale /= 10;
                    value += u32::from(byte - b'0') * scale;
                }
                _ => return Err(Error::new("expected a plain decimal number")),
            }
        }
        if value > 1000 {
            return Err(Error::new("expected a number from 0 to 1"));
        }
        Ok(value)
    }

    pub fn i64(&self) -> Result<i64, Error> {
        match self.value {
            Value::Number(text) => signed(text),
            _ => Err(Error::new("expected an integer")),
        }
    }

    pub fn str(&self) -> Result<&str, Error> {
        match &self.value {
            Value::String(text) => Ok(text),
            _ => Err(Error::new("expected a string")),
        }
    }

    pub fn string(&self) -> Result<String, Error> {
        self.str().map(str::to_owned)
    }

    pub fn uuid(&self) -> Result<Uuid, Error> {
        invigil_schemas::text::parse_uuid(self.str()?).ok_or(Error::new("expected a UUID"))
    }

    /// A unit enum variant named by a string, as its serde derive names it.
    pub fn variant<T: WireName>(&self) -> Result<T, Error> {
        let at = self.name_in(T::NAMES)?;
        T::ALL.get(at).copied().ok_or(Error::new("an unknown name"))
    }

    /// Where this string is in `names`: the part of [`Node::variant`] that
    /// is the same for every enum, compiled once.
    fn name_in(&self, names: &[&str]) -> Result<usize, Error> {
        invigil_schemas::names::position(names, self.str()?).ok_or(Error::new("an unknown name"))
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        if node.is_null() {
            Ok(None)
        } else {
            T::from_json(node).map(Some)
        }
    }
}

struct Parser<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Parser<'t> {
    /// `text[from..to]`; the parser only cuts beside ASCII bytes, so this
    /// never misses, and `get` keeps std's slicing panic (which formats
    /// its message with Unicode tables) out of the bundle.
    fn slice(&self, from: usize, to: usize) -> &'t str {
        self.text.get(from..to).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Consumes `byte` after optional whitespace, if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_space();
        let next = self.peek() == Some(byte);
        if next {
            self.at += 1;
        }
        next
    }

    fn value(&mut self, depth: u32) -> Result<Node<'t>, Error> {
        if depth >= MAX_DEPTH {
            return Err(Error::new("JSON nested too deeply"));
        }
        self.skip_space();
        let start = self.at;
        let value = match self.peek() {
            Some(b'{') => {
                self.at += 1;
                let mut fields = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        self.skip_space();
                        if self.peek() != Some(b'"') {
                            return Err(Error::new("expected a string key"));
                        }
                        let key = self.string()?;
                        if !self.eat(b':') {
                            return Err(Error::new("expected ':' after an object key"));
                        }
                        fields.push((key, self.value(depth + 1)?));
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return Err(Error::new("expected ',' or '}' in an object"));
                        }
                    }
                }
                Value::Object(fields)
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value(depth + 1)?);
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return Err(Error::new("expected ',' or ']' in an array"));
                        }
                    }
                }
                Value::Array(items)
            }
            Some(b'"') => Value::String(self.string()?),
            Some(b'-' | b'0'..=b'9') => Value::Number(self.number()?),
            _ => self.literal()?,
        };
        Ok(Node { text: self.slice(start, self.at), value })
    }

    fn literal(&mut self) -> Result<Value<'t>, Error> {
        let rest = self.slice(self.at, self.text.len());
        let (value, len) = if rest.starts_with("null") {
            (Value::Null, 4)
        } else if rest.starts_with("true") {
            (Value::Bool(true), 4)
        } else if rest.starts_with("false") {
            (Value::Bool(false), 5)
        } else {
            return Err(Error::new("expected a JSON value"));
        };
        self.at += len;
        Ok(value)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<&'t str, Error> {
        let start = self.at;
        let bytes = self.text.as_bytes();
        let digits = |at: &mut usize| {
            let from = *at;
            while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                *at += 1;
            }
            *at > from
        };
        let mut at = self.at;
        if bytes.get(at) == Some(&b'-') {
            at += 1;
        }
        let leading_zero = bytes.get(at) == Some(&b'0');
        if !digits(&mut at) || (leading_zero && at - start > 1 + usize::from(bytes[start] == b'-')) {
            return Err(Error::new("malformed number"));
        }
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            if !digits(&mut at) {
                return Err(Error::new("malformed number"));
            }
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            if !digits(&mut at) {
                return Err(Error::new("malformed number"));
            }
        }
        self.at = at;
        Ok(self.slice(start, at))
    }

    /// A string starting at the opening quote; borrowed when it has no escape.
    fn string(&mut self) -> Result<Cow<'t, str>, Error> {
        self.at += 1;
        let bytes = self.text.as_bytes();
        let mut owned: Option<String> = None;
        let mut clean = self.at;
        loop {
            let Some(&byte) = bytes.get(self.at) else { return Err(Error::new("unterminated string")) };
            match byte {
                b'"' => {
                    let tail = self.slice(clean, self.at);
                    self.at += 1;
                    return Ok(match owned {
                        None => Cow::Borrowed(tail),
                        Some(mut text) => {
                            text.push_str(tail);
                            Cow::Owned(text)
                        }
                    });
                }
                b'\\' => {
                    let text = owned.get_or_insert_with(String::new);
                    text.push_str(self.slice(clean, self.at));
                    let escaped = match bytes.get(self.at + 1) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.at += 2;
                            text.push(self.unicode_escape()?);
                            clean = self.at;
                            continue;
                        }
                        _ => return Err(Error::new("invalid escape in a string")),
                    };
                    text.push(escaped);
                    self.at += 2;
                    clean = self.at;
                }
                0..=0x1f => return Err(Error::new("control character in a string")),
                _ => self.at += 1,
            }
        }
    }

    /// After `\u`: four hex digits, a surrogate pair as one character.
    fn unicode_escape(&mut self) -> Result<char, Error> {
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if !self.slice(self.at, self.text.len()).starts_with("\\u") {
                    return Err(Error::new("unpaired surrogate in a string"));
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return Err(Error::new("unpaired surrogate in a string"));
                }
                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(Error::new("unpaired surrogate in a string")),
            code => code,
        };
        char::from_u32(code).ok_or(Error::new("invalid escape in a string"))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let digits = self.text.get(self.at..self.at + 4).ok_or(Error::new("invalid escape in a string"))?;
        let mut code = 0;
        for byte in digits.bytes() {
            let digit = char::from(byte).to_digit(16).ok_or(Error::new("invalid escape in a string"))?;
            code = code * 16 + digit;
        }
        self.at += 4;
        Ok(code)
    }
}

/// A non-negative integer's digits (grammar already checked).
fn integer(digits: &str) -> Result<u64, Error> {
    let mut value: u64 = 0;
    for byte in digits.bytes() {
        if !byte.is_ascii_digit() {
            return Err(Error::new("the SDK reads integers only"));
        }
        // Compared before multiplying: u64's checked_mul needs a 128-bit
        // multiply on wasm32 (compiler-builtins' __multi3, ~0.5 KB).
        if value > u64::MAX / 10 {
            return Err(Error::new("integer out of range"));
        }
        value = (value * 10).checked_add(u64::from(byte - b'0')).ok_or(Error::new("integer out of range"))?;
    }
    Ok(value)
}

/// An integer of either sign (grammar already checked).
fn signed(text: &str) -> Result<i64, Error> {
    match text.strip_prefix('-') {
        Some(digits) => {
            let magnitude = integer(digits)?;
            if magnitude > 1 << 63 {
                return Err(Error::new("integer out of range"));
            }
            Ok((magnitude as i64).wrapping_neg())
        }
        None => i64::try_from(integer(text)?).map_err(|_| Error::new("integer out of range")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value as Json;

    /// The tree as a serde_json value, to compare readings.
    fn to_json(node: &Node<'_>) -> Json {
        match &node.value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(text) => serde_json::from_str(text).unwrap(),
            Value::String(text) => Json::String(text.to_string()),
            Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
            Value::Object(fields) => Json::Object(fields.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect()),
        }
    }

    /// JSON values, nested a few levels.
    fn json() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::from),
            any::<u64>().prop_map(Json::from),
            any::<String>().prop_map(Json::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
                prop::collection::vec((any::<String>(), inner), 0..6)
                    .prop_map(|fields| Json::Object(fields.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn reads_what_serde_json_writes_compact_or_pretty(value in json()) {
            for text in [serde_json::to_string(&value).unwrap(), serde_json::to_string_pretty(&value).unwrap()] {
                let wrapped = format!(" {text}\n");
                let node = Node::parse(&wrapped).unwrap();
                prop_assert_eq!(to_json(&node), value.clone());
                prop_assert_eq!(node.text(), text);
            }
        }

        /// Text from JSON's alphabet: ours accepts exactly what serde_json accepts.
        #[test]
        fn accepts_exactly_what_serde_json_accepts(text in r#"[\[\]{}",:0-9.eE+\-tfrunlas\\/ ]{0,24}"#) {
            let theirs = serde_json::from_str::<Json>(&text);
            if theirs.as_ref().is_err_and(|e| e.to_string().contains("out of range")) {
                return Ok(());
            }
            prop_assert_eq!(Node::parse(&text).is_ok(), theirs.is_ok(), "{:?}", text);
        }
    }

    #[test]
    fn strings_escapes_and_surrogates() {
        let text = r#"["a\"b\\c\/d\b\f\n\r\t", "\u00e9\u20ac\ud83d\ude00", "plain"]"#;
        let ours: Vec<String> = from_str(text).unwrap();
        let theirs: Vec<String> = serde_json::from_str(text).unwrap();
        assert_eq!(ours, theirs);
        for bad in [r#""\ud83d""#, r#""\ude00""#, r#""\x""#, "\"a\u{1}\"", r#""\u12""#, r#""open"#] {
            assert!(Node::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn integers_are_read_exactly_and_floats_are_not() {
        let node = Node::parse("[-9223372036854775808, 18446744073709551615, -0, 4294967296, 1.5, 1e3]").unwrap();
        let [min, max, zero, big, half, exp] = node.tuple().unwrap();
        assert_eq!(min.i64(), Ok(i64::MIN));
        assert_eq!(max.u64(), Ok(u64::MAX));
        assert!(max.i64().is_err() && min.u64().is_err());
        assert_eq!(zero.i64(), Ok(0));
        assert!(big.u32().is_err() && big.u64().is_ok());
        assert!(half.u64().is_err() && exp.i64().is_err());
        assert!(Node::parse("18446744073709551616").unwrap().u64().is_err());
        assert!(Node::parse("-9223372036854775809").unwrap().i64().is_err());
        assert!(Node::parse("01").is_err() && Node::parse("-").is_err() && Node::parse("1.").is_err());
    }

    #[test]
    fn fields_tuples_and_tags() {
        let node = Node::parse(r#"{"a": 3, "weight": 0.25, "n": null, "t": ["x", 2]}"#).unwrap();
        assert_eq!(node.read::<u64>("a"), Ok(3));
        assert_eq!(node.field_or_default::<u64>("absent"), Ok(0));
        assert_eq!(node.read::<Option<u64>>("n"), Ok(None));
        assert_eq!(node.read::<(String, u64)>("t"), Ok(("x".into(), 2)));
        assert!(node.read::<u64>("absent").unwrap_err().to_string().contains("absent"));
        assert!(node.read::<u64>("t").unwrap_err().to_string().contains('t'));
        assert!(node.field("t").unwrap().tuple::<3>().is_err());
        let (name, value) =
            Node::parse(r#""stop""#).unwrap().tagged().map(|(n, v)| (n.to_owned(), v.is_null())).unwrap();
        assert_eq!((name.as_str(), value), ("stop", true));
        let keys = Node::parse(r#"{"keys": 4}"#).unwrap();
        let (name, value) = keys.tagged().unwrap();
        assert_eq!((name, value.u32()), ("keys", Ok(4)));
        assert!(Node::parse(r#"{"a": 1, "b": 2}"#).unwrap().tagged().is_err());
        assert!(Node::parse("[]").unwrap().tagged().is_err());
    }

    #[test]
    fn unit_variants_use_the_types_serde_names() {
        use invigil_schemas::event::FocusState;
        assert_eq!(Node::parse(r#""blur""#).unwrap().variant::<FocusState>(), Ok(FocusState::Blur));
        assert!(Node::parse(r#""Blur""#).unwrap().variant::<FocusState>().is_err());
        assert!(Node::parse("1").unwrap().variant::<FocusState>().is_err());
    }

    #[test]
    fn nesting_is_bounded_and_trailing_text_refused() {
        let deep = "[".repeat(65) + &"]".repeat(65);
        assert!(Node::parse(&deep).is_err());
        let fine = "[".repeat(64) + &"]".repeat(64);
        assert!(Node::parse(&fine).is_ok());
        assert!(Node::parse("{} x").is_err());
        assert!(Node::parse("  true  ").is_ok());
    }
}
