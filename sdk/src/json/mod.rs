//! JSON for the core, without serde_json and without serde at run time.
//!
//! serde_json was a third of the wasm bundle: its streaming parser, number
//! formatting (floats included) and rich error positions are more than the
//! core needs; serde's derived impls, driven through a `Serializer` or
//! `Deserializer` of our own, were another sixth. The core reads small
//! documents (the glue's inputs, ingest's replies, IndexedDB records) and
//! writes events and commands, none with a float. So:
//!
//! - [`from_str`] parses the whole text into a tree of [`Node`]s and reads
//!   a [`FromJson`] type from it, by hand.
//! - [`to_string`] writes a [`ToJson`] type, by hand, through [`Writer`].
//! - Unit enums are named on both sides through
//!   [`WireName`](invigil_schemas::names::WireName), the names their serde
//!   derive uses, as plain data.
//!
//! The types keep their serde derives: natively the tests hold every reader
//! and writer to serde_json's reading and writing of the same values.

use std::fmt;

mod read;
mod write;

pub use read::{from_str, FromJson, Node};
pub use write::{to_string, ToJson, Writer};

/// Why a text could not be read: what was wrong and, when it was inside an
/// object, the innermost field it was in. Two static strings, so every
/// reader's `Result` is cheap to pass up and has nothing to drop (a built
/// message with the whole path cost the bundle in every reader).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Error {
    message: &'static str,
    field: &'static str,
}

impl Error {
    pub(crate) fn new(message: &'static str) -> Self {
        Self { message, field: "" }
    }

    fn missing(field: &'static str) -> Self {
        Self::new("missing").within(field)
    }

    /// The same error, said to be inside `field` unless a field inside it
    /// was named already.
    fn within(self, field: &'static str) -> Self {
        if self.field.is_empty() {
            Self { field, ..self }
        } else {
            self
        }
    }

    /// `field: message`, or the message alone.
    pub fn push_to(&self, out: &mut String) {
        if !self.field.is_empty() {
            out.push_str(self.field);
            out.push_str(": ");
        }
        out.push_str(self.message);
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        self.push_to(&mut text);
        f.write_str(&text)
    }
}

impl std::error::Error for Error {}
