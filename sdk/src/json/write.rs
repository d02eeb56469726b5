//! A `Serializer` writing compact JSON, byte for byte as `serde_json::to_string`
//! would for every value without a float.

use serde::ser::{self, Serialize};

use super::{Error, RAW_TOKEN};

/// `value` as compact JSON.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut out = String::with_capacity(128);
    value.serialize(Writer { out: &mut out, raw: false })?;
    Ok(out)
}

/// Writes one value at the end of `out`. `raw`: a string is JSON text
/// already and goes in as it is (the field of a [`RAW_TOKEN`] struct).
struct Writer<'a> {
    out: &'a mut String,
    raw: bool,
}

/// An array or object being written: `close` ends it (`]`, `}`, or `]}` /
/// `}}` for an enum variant wrapped in its tag's object).
pub struct Compound<'a> {
    out: &'a mut String,
    first: bool,
    close: &'static str,
    raw: bool,
}

impl<'a> Compound<'a> {
    fn open(out: &'a mut String, open: &str, close: &'static str) -> Self {
        out.push_str(open);
        Self { out, first: true, close, raw: false }
    }

    fn comma(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.comma();
        value.serialize(Writer { out: self.out, raw: false })
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        if self.raw {
            return value.serialize(Writer { out: self.out, raw: true });
        }
        self.comma();
        push_string(self.out, key);
        self.out.push(':');
        value.serialize(Writer { out: self.out, raw: false })
    }

    fn end(self) -> Result<(), Error> {
        self.out.push_str(self.close);
        Ok(())
    }
}

/// `"variant":` after an opening brace: the externally tagged form.
fn open_variant<'a>(out: &'a mut String, variant: &str, open: &str, close: &'static str) -> Compound<'a> {
    out.push('{');
    push_string(out, variant);
    out.push(':');
    Compound::open(out, open, close)
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }

    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }

    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }

    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        if v < 0 {
            self.out.push('-');
        }
        push_digits(self.out, v.unsigned_abs());
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }

    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }

    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }

    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        push_digits(self.out, v);
        Ok(())
    }

    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        Err(Error::new("the SDK writes no floats"))
    }

    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        Err(Error::new("the SDK writes no floats"))
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        if self.raw {
            self.out.push_str(v);
        } else {
            push_string(self.out, v);
        }
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        let mut seq = Compound::open(self.out, "[", "]");
        for byte in v {
            ser::SerializeSeq::serialize_element(&mut seq, byte)?;
        }
        seq.end()
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let wrapper = open_variant(self.out, variant, "", "}");
        value.serialize(Writer { out: wrapper.out, raw: false })?;
        wrapper.end()
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.out, "[", "]"))
    }

    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.out, "[", "]"))
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.out, "[", "]"))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(open_variant(self.out, variant, "[", "]}"))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.out, "{", "}"))
    }

    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Compound<'a>, Error> {
        if name == RAW_TOKEN {
            return Ok(Compound { out: self.out, first: true, close: "", raw: true });
        }
        Ok(Compound::open(self.out, "{", "}"))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(open_variant(self.out, variant, "{", "}}"))
    }
}

/// The serde traits whose items are array elements, all the same here.
macro_rules! element_traits {
    ($($serde_trait:ident :: $method:ident),*) => {$(
        impl ser::$serde_trait for Compound<'_> {
            type Ok = ();
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }

            fn end(self) -> Result<(), Error> {
                Compound::end(self)
            }
        }
    )*};
}

element_traits!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;

    /// Keys are strings; an integer key is quoted, as serde_json does.
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        let start = self.out.len();
        key.serialize(Writer { out: self.out, raw: false })?;
        let written = self.out.get(start..).unwrap_or_default();
        if !written.starts_with('"') {
            if !written.bytes().all(|b| b.is_ascii_digit() || b == b'-') || written.is_empty() {
                return Err(Error::new("a JSON object key must be a string or an integer"));
            }
            self.out.insert(start, '"');
            self.out.push('"');
        }
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.out.push(':');
        value.serialize(Writer { out: self.out, raw: false })
    }

    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

/// The serde traits whose items are named fields.
macro_rules! field_traits {
    ($($serde_trait:ident),*) => {$(
        impl ser::$serde_trait for Compound<'_> {
            type Ok = ();
            type Error = Error;

            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
                self.field(key, value)
            }

            fn end(self) -> Result<(), Error> {
                Compound::end(self)
            }
        }
    )*};
}

field_traits!(SerializeStruct, SerializeStructVariant);

/// `v` in decimal, without `core::fmt`.
fn push_digits(out: &mut String, mut v: u64) {
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
    for &digit in &digits[at..] {
        out.push(char::from(digit));
    }
}

/// `text` as a JSON string, escaped as serde_json escapes: `"`, `\` and the
/// control characters, nothing else.
fn push_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
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
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 15)]));
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
    use serde::Serialize;

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Shapes {
        Unit,
        Newtype(u8),
        Tuple(i32, String),
        Struct { a: Option<u64>, b: Vec<bool> },
    }

    #[derive(Serialize)]
    #[serde(tag = "type")]
    enum Tagged {
        One { x: i64 },
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(7u32, "seven");
        map.insert(11, "eleven");
        let values: Vec<Box<dyn Fn() -> (String, String)>> = vec![
            Box::new(|| (to_string(&Shapes::Unit).unwrap(), serde_json::to_string(&Shapes::Unit).unwrap())),
            Box::new(|| (to_string(&Shapes::Newtype(3)).unwrap(), serde_json::to_string(&Shapes::Newtype(3)).unwrap())),
            Box::new(|| {
                let v = Shapes::Tuple(-5, "a\"b\\c\u{1}\u{7f}é\n".into());
                (to_string(&v).unwrap(), serde_json::to_string(&v).unwrap())
            }),
            Box::new(|| {
                let v = Shapes::Struct { a: None, b: vec![true, false] };
                (to_string(&v).unwrap(), serde_json::to_string(&v).unwrap())
            }),
            Box::new(|| {
                (
                    to_string(&Tagged::One { x: i64::MIN }).unwrap(),
                    serde_json::to_string(&Tagged::One { x: i64::MIN }).unwrap(),
                )
            }),
            Box::new(move || (to_string(&map).unwrap(), serde_json::to_string(&map).unwrap())),
            Box::new(|| {
                (
                    to_string(&(u64::MAX, 0u8, 'x', ())).unwrap(),
                    serde_json::to_string(&(u64::MAX, 0u8, 'x', ())).unwrap(),
                )
            }),
        ];
        for pair in values {
            let (ours, theirs) = pair();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn raw_values_go_in_as_they_are_and_floats_are_refused() {
        let raw = serde_json::value::RawValue::from_string(r#"{"q":[1,"a"]}"#.into()).unwrap();
        assert_eq!(to_string(&("n", &raw)).unwrap(), r#"["n",{"q":[1,"a"]}]"#);
        assert!(to_string(&1.5f64).is_err());
    }

    proptest! {
        #[test]
        fn any_string_is_escaped_as_serde_json_escapes_it(text in any::<String>(), n in any::<i64>(), u in any::<u64>()) {
            let value = (text.as_str(), n, u);
            prop_assert_eq!(to_string(&value).unwrap(), serde_json::to_string(&value).unwrap());
        }
    }
}
