//! The configuration as one log: every admin write is a record on a
//! single-partition topic, and every process that needs the document —
//! each ingest replica, each pipeline process — builds it by reading that
//! log from the start. So a document has one version everywhere.
//!
//! ## How a race is decided
//! A record is a [`Proposal`]: the whole document, plus the version the
//! writer read (`base`). Reading the log in order, a proposal whose `base`
//! is the version in force *installs* as `base + 1`; any other is *stale*
//! and changes nothing. Every reader applies the same rule to the same
//! sequence, so they agree on every outcome without talking to each other,
//! and of two writers that read the same version exactly one wins. A writer
//! learns its outcome by reading the log up to its own record
//! ([`Proposal::write_id`]).
//!
//! ## Why whole documents under one key, kept, not compacted per layer
//! A write that changes several layers (a test override and its bypasses)
//! must become one version, not several half-versions; one record is one
//! write. Compaction would keep only the last record of a key, which may be
//! a stale proposal, and would drop the history that rollback reads. Admin
//! writes are rare and documents small (kilobytes), so the topic keeps
//! everything (no retention limit): the history *is* the log.
//!
//! This module is the rule, with no I/O; [`kafka`] (feature `config-log`)
//! follows a real topic with it.

#[cfg(feature = "config-log")]
pub mod kafka;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::ConfigDocument;

/// The key of every record: one stream of whole documents.
pub const RECORD_KEY: &str = "document";

/// One write, as the log holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// The version the writer read (0: the log was empty). The write
    /// installs only if this is still the version in force when the log
    /// reaches it.
    pub base: u64,
    /// Chosen by the writer, so it can find its own outcome.
    pub write_id: Uuid,
    /// What the write did (`seeded`, `replaced`, `rolled back to 3`).
    pub action: String,
    /// Who wrote it: a staff id, or `file` for a seed.
    pub by: String,
    /// When it was written (ms since the epoch, the writer's clock).
    pub at_ms: i64,
    pub document: ConfigDocument,
}

impl Proposal {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a proposal always serialises")
    }
}

/// What the log made of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// In force as this version.
    Installed(u64),
    /// Its base was not the version in force, which was `current`.
    Stale { current: u64 },
    /// Not a proposal this reader can use (undecodable, or a document
    /// that does not validate): ignored, as by every reader of this build.
    Unusable,
}

/// One installed version.
#[derive(Debug, Clone)]
pub struct Version {
    pub version: u64,
    /// Where its record is in the log.
    pub offset: i64,
    pub action: String,
    pub by: String,
    pub at_ms: i64,
    pub document: Arc<ConfigDocument>,
}

/// The versions a reader has installed so far, oldest first, and where in
/// the log it has read to.
#[derive(Debug, Default, Clone)]
pub struct ConfigLog {
    versions: Vec<Version>,
    next_offset: i64,
}

impl ConfigLog {
    /// Reads the record at `offset` (offsets must come in increasing order;
    /// a record at or before one already read is ignored, so a reader that
    /// sees a record twice after a reconnect stays right). Returns the
    /// record's write id when it decoded, and what became of it.
    pub fn apply(&mut self, offset: i64, bytes: &[u8]) -> (Option<Uuid>, Outcome) {
        if offset < self.next_offset {
            return (None, Outcome::Unusable);
        }
        self.next_offset = offset + 1;
        let Ok(proposal) = serde_json::from_slice::<Proposal>(bytes) else {
            return (None, Outcome::Unusable);
        };
        let write_id = Some(proposal.write_id);
        if !proposal.document.validate().is_empty() {
            return (write_id, Outcome::Unusable);
        }
        let current = self.current_version();
        if proposal.base != current {
            return (write_id, Outcome::Stale { current });
        }
        let version = current + 1;
        self.versions.push(Version {
            version,
            offset,
            action: proposal.action,
            by: proposal.by,
            at_ms: proposal.at_ms,
            document: Arc::new(proposal.document),
        });
        (write_id, Outcome::Installed(version))
    }

    /// The version in force (0 before the first).
    pub fn current_version(&self) -> u64 {
        self.versions.last().map_or(0, |v| v.version)
    }

    pub fn current(&self) -> Option<&Version> {
        self.versions.last()
    }

    /// Installed versions, oldest first: no gaps, no duplicates.
    pub fn history(&self) -> impl Iterator<Item = &Version> {
        self.versions.iter()
    }

    pub fn version(&self, version: u64) -> Option<&Version> {
        version.checked_sub(1).and_then(|i| self.versions.get(usize::try_from(i).ok()?))
    }

    /// The offset of the next record to read.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn proposal(base: u64, write: u128, interval: u32) -> Proposal {
        let mut document = ConfigDocument::default();
        document.defaults.events_interval_ms = interval;
        Proposal {
            base,
            write_id: Uuid::from_u128(write),
            action: "replaced".into(),
            by: "admin-1".into(),
            at_ms: 0,
            document,
        }
    }

    #[test]
    fn of_two_writers_that_read_the_same_version_one_wins() {
        let mut log = ConfigLog::default();
        assert_eq!(log.apply(0, &proposal(0, 1, 5_000).encode()), (Some(Uuid::from_u128(1)), Outcome::Installed(1)));
        assert_eq!(log.apply(1, &proposal(1, 2, 6_000).encode()).1, Outcome::Installed(2));
        assert_eq!(log.apply(2, &proposal(1, 3, 7_000).encode()).1, Outcome::Stale { current: 2 });
        assert_eq!(log.current().unwrap().document.defaults.events_interval_ms, 6_000);
        assert_eq!(log.version(1).unwrap().offset, 0);
        assert!(log.version(3).is_none() && log.version(0).is_none());
    }

    #[test]
    fn unusable_records_and_replays_change_nothing() {
        let mut log = ConfigLog::default();
        assert_eq!(log.apply(0, b"not json").1, Outcome::Unusable);
        assert_eq!(log.apply(1, &proposal(0, 1, 0).encode()).1, Outcome::Unusable, "interval 0 does not validate");
        assert_eq!(log.apply(2, &proposal(0, 2, 5_000).encode()).1, Outcome::Installed(1));
        assert_eq!(log.apply(2, &proposal(0, 2, 5_000).encode()).1, Outcome::Unusable, "offset 2 was read");
        assert_eq!(log.current_version(), 1);
        assert_eq!(log.next_offset(), 3);
    }

    proptest! {
        /// Any interleaving of proposals: two readers agree, versions are
        /// 1..=n without gaps, and each installed version is the document
        /// of a proposal whose base was the version before it.
        #[test]
        fn readers_agree_and_versions_have_no_gaps(bases in proptest::collection::vec(0u64..6, 1..40)) {
            let records: Vec<Vec<u8>> =
                bases.iter().enumerate().map(|(i, base)| proposal(*base, i as u128, 1_000 + i as u32).encode()).collect();
            let (mut a, mut b) = (ConfigLog::default(), ConfigLog::default());
            for (offset, record) in records.iter().enumerate() {
                prop_assert_eq!(a.apply(offset as i64, record), b.apply(offset as i64, record));
            }
            let versions: Vec<u64> = a.history().map(|v| v.version).collect();
            prop_assert_eq!(versions, (1..=a.current_version()).collect::<Vec<_>>());
            for v in a.history() {
                prop_assert_eq!(bases[v.offset as usize], v.version - 1);
            }
        }
    }
}
