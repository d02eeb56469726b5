//! Compact JSON written by hand, byte for byte as `serde_json::to_string`
//! writes the same value.
//!
//! Each type the core writes has a [`ToJson`] impl that names its fields in
//! order, through the non-generic methods of [`Writer`]: a few bytes of wasm
//! per field, where a `Serializer` driven by serde's derive cost the bundle
//! ~5 KB gzipped (every field's `Result`, `flatten`'s map machinery). The
//! tests hold each impl to the type's serde form, so the shapes stay those
//! the server reads.

use invigil_schemas::event::Thousandths;
use invigil_schemas::ids::Uuid;
use invigil_schemas::names::WireName;
use invigil_schemas::text;

/// A type the core writes as JSON, by hand.
pub trait ToJson {
    fn write_json(&self, out: &mut Writer);
}

/// `value` as compact JSON.
pub fn to_string<T: ToJson + ?Sized>(value: &T) -> String {
    let mut out = Writer(String::with_capacity(128));
    value.write_json(&mut out);
    out.0
}

impl<T: ToJson> ToJson for [T] {
    fn write_json(&self, out: &mut Writer) {
        out.open_array();
        for item in self {
            item.write_json(out);
        }
        out.close_array();
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn write_json(&self, out: &mut Writer) {
        self.as_slice().write_json(out)
    }
}

impl ToJson for String {
    fn write_json(&self, out: &mut Writer) {
        out.string(self);
    }
}

/// JSON text being written. Commas go in by themselves: a value or key
/// written after anything but an opening bracket or a key's colon gets one
/// first, so callers only say what comes next.
pub struct Writer(String);

impl Writer {
    fn separate(&mut self) {
        if !matches!(self.0.as_bytes().last(), None | Some(b'{' | b'[' | b':')) {
            self.0.push(',');
        }
    }

    pub fn open_object(&mut self) -> &mut Self {
        self.separate();
        self.0.push('{');
        self
    }

    pub fn close_object(&mut self) -> &mut Self {
        self.0.push('}');
        self
    }

    pub fn open_array(&mut self) -> &mut Self {
        self.separate();
        self.0.push('[');
        self
    }

    pub fn close_array(&mut self) -> &mut Self {
        self.0.push(']');
        self
    }

    /// An object key; the core's keys are ASCII names that need no escaping.
    pub fn key(&mut self, key: &str) -> &mut Self {
        self.name(key);
        self.0.push(':');
        self
    }

    /// A string that needs no escaping: a wire name or a fixed word.
    pub fn name(&mut self, name: &str) -> &mut Self {
        debug_assert!(name.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'));
        self.separate();
        self.0.push('"');
        self.0.push_str(name);
        self.0.push('"');
        self
    }

    /// A unit enum's variant, by its wire name.
    pub fn variant(&mut self, variant: impl WireName) -> &mut Self {
        self.name(variant.as_str())
    }

    pub fn string(&mut self, text: &str) -> &mut Self {
        self.separate();
        push_string(&mut self.0, text);
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.separate();
        text::push_u64(&mut self.0, v);
        self
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.separate();
        text::push_i64(&mut self.0, v);
        self
    }

    /// A fraction as serde_json writes its `f64` (`0.0`, `0.5`, `0.938`,
    /// `1.0`), from its thousandths: no floating point in the SDK.
    pub fn fraction(&mut self, v: Thousandths) -> &mut Self {
        self.separate();
        match u64::from(v.get()) {
            0 => self.0.push_str("0.0"),
            1000 => self.0.push_str("1.0"),
            t => {
                self.0.push_str("0.");
                let (mut digits, mut width) = (t, 3);
                while digits % 10 == 0 {
                    digits /= 10;
                    width -= 1;
                }
                text::push_padded(&mut self.0, digits, width);
            }
        }
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.raw(if v { "true" } else { "false" })
    }

    pub fn null(&mut self) -> &mut Self {
        self.raw("null")
    }

    /// JSON text written by someone else (checked when it was read).
    pub fn raw(&mut self, json: &str) -> &mut Self {
        self.separate();
        self.0.push_str(json);
        self
    }

    /// A UUID in its hyphenated lower-case form, as serde writes it.
    pub fn uuid(&mut self, id: Uuid) -> &mut Self {
        self.separate();
        self.0.push('"');
        text::push_uuid(&mut self.0, id);
        self.0.push('"');
        self
    }

    /// A string, or `null` (an `Option` serde writes without skipping).
    pub fn opt_string(&mut self, text: Option<&str>) -> &mut Self {
        match text {
            Some(text) => self.string(text),
            None => self.null(),
        }
    }

    pub fn opt_u64(&mut self, v: Option<u64>) -> &mut Self {
        match v {
            Some(v) => self.u64(v),
            None => self.null(),
        }
    }
}

/// `text` as a JSON string, escaped as serde_json escapes: `"`, `\` and the
/// control characters, nothing else.
fn push_string(out: &mut String, text: &str) {
    out.push('"');
    let mut clean = 0;
    for (at, byte) in text.bytes().enumerate() {
        let escape: &str = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `get`: the cuts are beside ASCII bytes, and std's slicing panic
        // would bring its Unicode-aware message formatting into the bundle.
        out.push_str(text.get(clean..at).unwrap_or_default());
        clean = at + 1;
        if escape.is_empty() {
            out.push_str("\\u00");
            text::push_hex(out, &[byte]);
        } else {
            out.push_str(escape);
        }
    }
    out.push_str(text.get(clean..).unwrap_or_default());
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    struct Sample<'a> {
        text: &'a str,
        n: i64,
        u: u64,
        id: Uuid,
        none: Option<&'a str>,
    }

    impl ToJson for Sample<'_> {
        fn write_json(&self, out: &mut Writer) {
            out.open_object();
            out.key("text").string(self.text).key("n").i64(self.n).key("u").u64(self.u);
            out.key("id").uuid(self.id).key("none").opt_string(self.none).key("some").opt_u64(Some(self.u));
            out.key("list").open_array().bool(true).bool(false).null().open_object().close_object();
            out.open_array().close_array().raw(r#"{"q":[1,"a"]}"#).close_array();
            out.key("name").variant(invigil_schemas::event::FocusState::Blur);
            out.close_object();
        }
    }

    /// The same value as serde writes it: a derived struct keeps field order.
    fn serde_form(s: &Sample<'_>) -> String {
        #[derive(serde::Serialize)]
        struct Form<'a> {
            text: &'a str,
            n: i64,
            u: u64,
            id: Uuid,
            none: Option<&'a str>,
            some: Option<u64>,
            list: (bool, bool, (), serde_json::Value, [u8; 0], serde_json::Value),
            name: invigil_schemas::event::FocusState,
        }
        let list = (true, false, (), serde_json::json!({}), [], serde_json::json!({"q": [1, "a"]}));
        let form = Form {
            text: s.text,
            n: s.n,
            u: s.u,
            id: s.id,
            none: s.none,
            some: Some(s.u),
            list,
            name: invigil_schemas::event::FocusState::Blur,
        };
        serde_json::to_string(&form).unwrap()
    }

    proptest! {
        #[test]
        fn writes_what_serde_json_writes(text in any::<String>(), n in any::<i64>(), u in any::<u64>(), id in any::<u128>()) {
            let sample = Sample { text: &text, n, u, id: Uuid::from_u128(id), none: None };
            prop_assert_eq!(to_string(&sample), serde_form(&sample));
        }
    }

    #[test]
    fn strings_escape_as_serde_json_escapes_them() {
        for text in ["", "a\"b\\c\u{1}\u{7f}é\n\r\t\u{8}\u{c}\u{1f}", "🦀 plain"] {
            let mut out = Writer(String::new());
            out.string(text);
            assert_eq!(out.0, serde_json::to_string(text).unwrap());
        }
        assert_eq!(to_string(&Vec::<Sample<'_>>::new()), "[]");
    }
}
