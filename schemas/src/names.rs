//! The wire names of the unit enums (`"camera"`, `"page_closed"`), callable
//! without serde.
//!
//! serde's derive names every variant too, but reaching those names means
//! running a `Serializer` or `Deserializer`: the browser SDK reads and writes
//! its JSON by hand, and the derived impls it went through for its dozen
//! enums cost its wasm about a kilobyte gzipped. [`WireName`] gives the same
//! names as plain data. Each
//! list is written once, in [`wire_names!`], whose `match` is exhaustive (a
//! new variant without a name does not compile), and a test holds every
//! name to serde's.

/// A unit enum with one fixed name per variant, as its serde derive writes it.
pub trait WireName: Copy + Sized + 'static {
    /// Every variant, in declaration order.
    const ALL: &'static [Self];
    /// Their names, in the same order.
    const NAMES: &'static [&'static str];

    /// The variant's name on the wire.
    fn as_str(self) -> &'static str;

    /// The variant named `name`, exactly (no case folding).
    fn from_name(name: &str) -> Option<Self> {
        position(Self::NAMES, name).and_then(|at| Self::ALL.get(at).copied())
    }
}

/// Where `name` is in `names`. One function for every enum: a search per
/// enum type, as a generic `find` over `ALL` was, cost the SDK's wasm
/// ~300 bytes for each enum it reads.
#[inline(never)]
pub fn position(names: &[&str], name: &str) -> Option<usize> {
    names.iter().position(|candidate| *candidate == name)
}

/// `wire_names!(Device { Camera => "camera", … })`: implements [`WireName`]
/// (exported, for the SDK's own unit enums).
#[macro_export]
macro_rules! wire_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $crate::names::WireName for $ty {
            const ALL: &'static [Self] = &[$($ty::$variant),+];
            const NAMES: &'static [&'static str] = &[$($name),+];

            fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    use super::WireName;
    use crate::api::{LiveView, ShutdownReason};
    use crate::event::*;

    fn agrees_with_serde<T: WireName + Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>() {
        assert!(!T::ALL.is_empty());
        for &variant in T::ALL {
            let quoted = format!("\"{}\"", variant.as_str());
            assert_eq!(serde_json::to_string(&variant).unwrap(), quoted);
            assert_eq!(serde_json::from_str::<T>(&quoted).unwrap(), variant);
            assert_eq!(T::from_name(variant.as_str()), Some(variant));
        }
        assert_eq!(T::from_name("no_such_name"), None);
        let upper = T::ALL[0].as_str().to_uppercase();
        assert_eq!(T::from_name(&upper), None, "names are matched exactly");
    }

    #[test]
    fn every_name_is_the_one_serde_uses() {
        agrees_with_serde::<SessionEndReason>();
        agrees_with_serde::<Device>();
        agrees_with_serde::<PermissionState>();
        agrees_with_serde::<VisibilityState>();
        agrees_with_serde::<FocusState>();
        agrees_with_serde::<FullscreenState>();
        agrees_with_serde::<ClipboardAction>();
        agrees_with_serde::<RecordingTrack>();
        agrees_with_serde::<CaptureKind>();
        agrees_with_serde::<CaptureStatus>();
        agrees_with_serde::<NetworkState>();
        agrees_with_serde::<BlockReason>();
        agrees_with_serde::<ShutdownReason>();
        agrees_with_serde::<LiveView>();
    }
}
