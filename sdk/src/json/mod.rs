//! JSON for the core, without serde_json.
//!
//! serde_json was a third of the wasm bundle: its streaming parser, number
//! formatting (floats included) and rich error positions are more than the
//! core needs. The core reads small documents (the glue's inputs, ingest's
//! replies, IndexedDB records) and writes events and commands, none with a
//! float. So:
//!
//! - [`from_str`] parses the whole text into a tree of [`Node`]s and reads
//!   a [`FromJson`] type from it. The few types the core reads have hand
//!   readers (derived `Deserialize` impls were a fifth of the bundle even
//!   without serde_json); unit enums are still named through their serde
//!   derive, so their names stay declared once.
//! - [`to_string`] is a `Serializer` that writes compact JSON byte for byte
//!   as serde_json does; a float is an error. Serializing through serde
//!   keeps every output shape declared once, on the types.
//!
//! Natively the tests check the parser, the writer and every reader
//! against serde_json.

use std::borrow::Cow;
use std::fmt;

mod read;
mod write;

pub use read::{from_str, FromJson, Node};
pub use write::to_string;

/// serde_json's name for a struct that carries already-written JSON text:
/// `CustomData` serializes through it, and so the writer honours it too.
const RAW_TOKEN: &str = "$serde_json::private::RawValue";

/// Why a text could not be read or a value not written.
///
/// In the browser, messages raised by `Deserialize` impls are replaced by a
/// fixed text: formatting them would pull the formatting of every type's
/// expectations into the bundle. Natively they are kept, for the tests.
#[derive(Clone, PartialEq, Eq)]
pub struct Error(Cow<'static, str>);

impl Error {
    pub(crate) fn new(message: &'static str) -> Self {
        Self(Cow::Borrowed(message))
    }

    fn missing(field: &'static str) -> Self {
        Self(Cow::Owned(format!("missing field `{field}`")))
    }

    /// The same error, said to be inside `field`.
    fn within(self, field: &str) -> Self {
        Self(Cow::Owned(format!("{field}: {}", self.0)))
    }

    fn custom(message: impl fmt::Display) -> Self {
        #[cfg(target_arch = "wasm32")]
        {
            drop(message);
            Self::new("a value does not fit its type")
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            Self(Cow::Owned(message.to_string()))
        }
    }
}

/// The message as it is: a derived `Debug` would escape it, and `str`'s
/// escaping (Unicode tables included) would ride along with every
/// `expect` on a JSON result.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl serde::de::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error::custom(message)
    }
}

impl serde::ser::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error::custom(message)
    }
}
