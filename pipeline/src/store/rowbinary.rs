//! ClickHouse's `RowBinary` format, written by a small serde serializer.
//!
//! The HTTP backend gets RowBinary from the `clickhouse` crate, whose
//! encoder is private; chDB gets these bytes through a file
//! ([`super::chdb::ChdbStore::insert_rowbinary`]). Parsing RowBinary costs the engine a copy
//! per column, where JSONEachRow cost a tokenizer pass and a number parse
//! per field — most of the insert's CPU before this module existed.
//!
//! What a row may hold, and how it is written (all integers little-endian):
//! integers and floats as themselves, `bool` as one byte, strings and byte
//! strings as a LEB128 length and the bytes, sequences (`Array`) as a LEB128
//! count and the elements, `Option` (`Nullable`) as a 0/1 byte and the value,
//! tuples and structs as their fields in order. A UUID arrives as the
//! `(u64, u64)` pair `clickhouse::serde::uuid` makes of it, which is exactly
//! ClickHouse's layout. Maps and enums with data have no RowBinary form that
//! our tables use, and are refused rather than guessed.

use serde::ser::{self, Serialize};

/// Why a value cannot be written as RowBinary.
#[derive(Debug, thiserror::Error)]
#[error("RowBinary: {0}")]
pub struct Error(String);

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Appends `row` to `out` as one RowBinary row.
pub fn write_row<T: Serialize + ?Sized>(out: &mut Vec<u8>, row: &T) -> Result<(), Error> {
    row.serialize(&mut Writer { out })
}

/// Appends `value` as an unsigned LEB128 number (RowBinary's lengths).
pub fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        write_varint(self.out, bytes.len() as u64);
        self.out.extend_from_slice(bytes);
    }
}

fn refuse<T>(what: &str) -> Result<T, Error> {
    Err(Error(format!("{what} has no RowBinary form in our tables")))
}

macro_rules! plain {
    ($($method:ident: $ty:ty),* $(,)?) => {$(
        fn $method(self, value: $ty) -> Result<(), Error> {
            self.out.extend_from_slice(&value.to_le_bytes());
            Ok(())
        }
    )*};
}

impl<'w> ser::Serializer for &mut Writer<'w> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = Self;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    plain!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64, serialize_i128: i128,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_u128: u128,
        serialize_f32: f32, serialize_f64: f64,
    );

    /// The wire form is the machine form: no row holds text for people here.
    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, value: bool) -> Result<(), Error> {
        self.out.push(u8::from(value));
        Ok(())
    }

    fn serialize_char(self, value: char) -> Result<(), Error> {
        self.bytes(value.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }

    fn serialize_str(self, value: &str) -> Result<(), Error> {
        self.bytes(value.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<(), Error> {
        self.bytes(value);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.out.push(1);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        self.out.push(0);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Ok(())
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
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        refuse("an enum variant with data")
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self, Error> {
        let Some(len) = len else { return refuse("a sequence of unknown length") };
        write_varint(self.out, len as u64);
        Ok(self)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self, Error> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _: &'static str, _len: usize) -> Result<Self, Error> {
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        refuse("an enum variant with data")
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        refuse("a map")
    }

    fn serialize_struct(self, _: &'static str, _len: usize) -> Result<Self, Error> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        refuse("an enum variant with data")
    }
}

/// Sequences, tuples and tuple structs: their elements, one after another
/// (a sequence's count was written when it began).
macro_rules! elements {
    ($($trait:ident :: $method:ident),* $(,)?) => {$(
        impl ser::$trait for &mut Writer<'_> {
            type Ok = ();
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                value.serialize(&mut **self)
            }

            fn end(self) -> Result<(), Error> {
                Ok(())
            }
        }
    )*};
}

elements!(SerializeSeq::serialize_element, SerializeTuple::serialize_element, SerializeTupleStruct::serialize_field);

impl ser::SerializeStruct for &mut Writer<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, _key: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_leb128() {
        let cases: [(u64, &[u8]); 5] =
            [(0, &[0]), (9, &[9]), (127, &[0x7f]), (128, &[0x80, 0x01]), (300, &[0xac, 0x02])];
        for (value, bytes) in cases {
            let mut out = Vec::new();
            write_varint(&mut out, value);
            assert_eq!(out, bytes, "{value}");
        }
    }

    #[derive(serde::Serialize)]
    struct Sample {
        name: String,
        tag: i8,
        count: u32,
        #[serde(with = "clickhouse::serde::uuid")]
        id: invigil_schemas::ids::Uuid,
        names: Vec<String>,
        score: f64,
        maybe: Option<u8>,
    }

    /// Byte for byte what ClickHouse documents for each type.
    #[test]
    fn a_row_is_its_columns_in_order() {
        let row = Sample {
            name: "ab".into(),
            tag: -2,
            count: 258,
            id: invigil_schemas::ids::Uuid::from_u64_pair(0x0102030405060708, 0x1112131415161718),
            names: vec!["x".into(), String::new()],
            score: 1.5,
            maybe: None,
        };
        let mut out = Vec::new();
        write_row(&mut out, &row).unwrap();
        let mut want = vec![2, b'a', b'b', 0xfe, 2, 1, 0, 0];
        want.extend_from_slice(&0x0102030405060708u64.to_le_bytes());
        want.extend_from_slice(&0x1112131415161718u64.to_le_bytes());
        want.extend_from_slice(&[2, 1, b'x', 0]);
        want.extend_from_slice(&1.5f64.to_le_bytes());
        want.push(1);
        assert_eq!(out, want);
    }

    #[test]
    fn maps_are_refused() {
        let map: std::collections::BTreeMap<u8, u8> = [(1, 2)].into();
        let error = write_row(&mut Vec::new(), &map).unwrap_err();
        assert!(error.to_string().contains("a map"), "{error}");
    }
}
