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

use std::cell::Cell;
use std::fmt;

mod read;
mod write;

pub use read::{from_str, FromJson, Node};
pub use write::{to_string, ToJson, Writer};

/// Why a text could not be read: what was wrong and, when it was inside an
/// object, the innermost field it was in.
///
/// The value itself is empty, so every reader's `Result<T, Error>` is as
/// small as an `Option<T>` and a `?` only branches: two static strings
/// carried up through the ~200 `?` of the readers cost the bundle 2.0 KB
/// gzipped of copies. What went wrong is kept beside it instead, in this
/// thread's `DETAIL`, written when the error is made and read when it is
/// reported (every caller reports or drops an error before reading
/// anything else, so the last one made is the one in hand).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Error(());

thread_local! {
    /// The message and field of the error made last on this thread
    /// (one thread in the browser; natively, each test's own).
    static DETAIL: Cell<(&'static str, &'static str)> = const { Cell::new(("", "")) };
}

impl Error {
    pub(crate) fn new(message: &'static str) -> Self {
        DETAIL.set((message, ""));
        Self(())
    }

    fn missing(field: &'static str) -> Self {
        Self::new("missing").within(field)
    }

    /// The same error, said to be inside `field` unless a field inside it
    /// was named already.
    fn within(self, field: &'static str) -> Self {
        let (message, inner) = DETAIL.get();
        if inner.is_empty() {
            DETAIL.set((message, field));
        }
        self
    }

    /// `field: message`, or the message alone.
    pub fn push_to(&self, out: &mut String) {
        let (message, field) = DETAIL.get();
        if !field.is_empty() {
            out.push_str(field);
            out.push_str(": ");
        }
        out.push_str(message);
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
