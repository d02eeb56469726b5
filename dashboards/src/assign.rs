//! Which proctor watches which candidate: rendezvous (highest random
//! weight) hashing with a capacity per proctor.
//!
//! Every candidate ranks the on-duty proctors by a hash of the pair and
//! goes to the best-ranked one that still has room; candidates are placed in
//! a fixed order (by a hash of their id), so the result is a pure function of
//! the roster, the capacity and the candidate set. Every ingest replica
//! computes the same wall without talking to the others.
//!
//! When a proctor leaves a roster whose capacity is not binding, only that
//! proctor's candidates move (each to its next-ranked proctor), which is
//! 1/n of the candidates on average over who leaves; a joining proctor takes
//! only candidates that rank it first. When capacity binds, a moved candidate
//! can take the last seat a later candidate had, which then moves too; the
//! property tests measure how far that goes.

use std::collections::BTreeMap;
use std::hash::Hasher;

use siphasher::sip::SipHasher13;

/// The split of one test's candidates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Proctor → the candidates they watch, in placement order.
    pub by_proctor: BTreeMap<String, Vec<String>>,
    /// Candidates beyond `proctors × capacity`: shown to every proctor of the
    /// test as unassigned rather than silently dropped.
    pub unassigned: Vec<String>,
}

impl Assignment {
    /// How many candidates the split places (seated or unassigned).
    pub fn covered(&self) -> usize {
        self.by_proctor.values().map(Vec::len).sum::<usize>() + self.unassigned.len()
    }

    /// The proctor watching `candidate`, if any.
    pub fn proctor_of(&self, candidate: &str) -> Option<&str> {
        self.by_proctor
            .iter()
            .find(|(_, candidates)| candidates.iter().any(|c| c == candidate))
            .map(|(proctor, _)| proctor.as_str())
    }
}

const KEYS: (u64, u64) = (0x7265_6e64_657a_766f, 0x7573_2d70_726f_6374);

/// A keyed 64-bit hash of `parts`, separated so ("ab","c") ≠ ("a","bc").
fn weight(parts: &[&str]) -> u64 {
    let mut hasher = SipHasher13::new_with_keys(KEYS.0, KEYS.1);
    for part in parts {
        hasher.write(part.as_bytes());
        hasher.write_u8(0xff);
    }
    hasher.finish()
}

/// The weight of a (candidate, proctor) pair from their own hashes:
/// SplitMix64's finaliser over a combination that is not symmetric, so
/// every pair gets an independent-looking 64-bit rank for a few cycles.
fn pair_weight(candidate: u64, proctor: u64) -> u64 {
    let mut z = candidate.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ proctor;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Splits `candidates` among `proctors`, at most `capacity` each.
/// Duplicate candidate and proctor ids count once.
///
/// Cost: one keyed hash per id, then a few multiplications per (candidate,
/// proctor) pair and a scan for the best proctor with room — no sort
/// (`invigil bench assign` measures it at exam scale).
pub fn assign<'a>(candidates: impl IntoIterator<Item = &'a str>, proctors: &[String], capacity: u32) -> Assignment {
    let mut order: Vec<(u64, &str)> = candidates.into_iter().map(|c| (weight(&[c]), c)).collect();
    order.sort_unstable();
    order.dedup_by(|a, b| a.1 == b.1);

    let (roster, proctor_hashes) = roster_of(proctors);
    let mut seats: Vec<Vec<String>> = vec![Vec::new(); roster.len()];
    let mut unassigned = Vec::new();
    let mut weights: Vec<u64> = vec![0; roster.len()];
    for (candidate_hash, candidate) in order {
        for (w, proctor_hash) in weights.iter_mut().zip(&proctor_hashes) {
            *w = rank(candidate_hash, *proctor_hash);
        }
        // Best-ranked proctor with room; a full one drops out of the scan.
        // Ties (astronomically unlikely) go to the later roster position.
        let seat = loop {
            let best = weights.iter().enumerate().filter(|(_, w)| **w != 0).max_by_key(|(i, w)| (**w, *i));
            match best {
                Some((i, _)) if seats[i].len() < capacity as usize => break Some(i),
                Some((i, _)) => weights[i] = 0,
                None => break None,
            }
        };
        match seat {
            Some(i) => seats[i].push(candidate.to_owned()),
            None => unassigned.push(candidate.to_owned()),
        }
    }
    let by_proctor = roster.into_iter().map(str::to_owned).zip(seats).collect();
    Assignment { by_proctor, unassigned }
}

/// Seats one more candidate in `split`, as `assign` would had it come
/// after everyone placed: with the best-ranked proctor of `proctors` who
/// still has room, else unassigned; in placement order within the list it
/// joins. It takes no seat from anyone already placed, so a full split
/// later may place a few differently (it orders everyone by hash). Returns
/// its proctor, if any.
pub fn place(split: &mut Assignment, candidate: &str, proctors: &[String], capacity: u32) -> Option<String> {
    let candidate_hash = weight(&[candidate]);
    let (roster, hashes) = roster_of(proctors);
    let room = |proctor: &str| split.by_proctor.get(proctor).map_or(0, Vec::len) < capacity as usize;
    // The same order as `assign`'s scan: ties go to the later roster position.
    let best = (0..roster.len())
        .filter(|&i| room(roster[i]))
        .max_by_key(|&i| (rank(candidate_hash, hashes[i]), i))
        .map(|i| roster[i].to_owned());
    let list = match &best {
        Some(proctor) => split.by_proctor.entry(proctor.clone()).or_default(),
        None => &mut split.unassigned,
    };
    insert_in_order(list, candidate);
    best
}

/// Inserts `candidate` into `list` (in placement order, as every list of an
/// [`Assignment`] is) where it belongs, unless it is there already.
pub fn insert_in_order(list: &mut Vec<String>, candidate: &str) {
    let order = placement_order(candidate);
    let at = list.partition_point(|placed| placement_order(placed) < order);
    if list.get(at).is_none_or(|there| there != candidate) {
        list.insert(at, candidate.to_owned());
    }
}

/// Where `candidate` comes in `assign`'s placement order (a keyed hash of
/// its id; ties are broken by the id).
fn placement_order(candidate: &str) -> (u64, &str) {
    (weight(&[candidate]), candidate)
}

/// Sorts `list` into placement order, hashing each id once.
pub fn sort_in_placement_order(list: &mut [String]) {
    list.sort_by_cached_key(|candidate| (weight(&[candidate]), candidate.clone()));
}

/// The roster sorted and deduplicated, with each proctor's hash.
fn roster_of(proctors: &[String]) -> (Vec<&str>, Vec<u64>) {
    let mut roster: Vec<&str> = proctors.iter().map(String::as_str).collect();
    roster.sort_unstable();
    roster.dedup();
    let hashes = roster.iter().map(|p| weight(&["proctor", p])).collect();
    (roster, hashes)
}

/// A (candidate, proctor) pair's rank; never 0, which `assign` uses to mark
/// a full proctor.
fn rank(candidate_hash: u64, proctor_hash: u64) -> u64 {
    pair_weight(candidate_hash, proctor_hash) | 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashMap};

    /// The proctor `candidate` ranks first among `proctors`: its seat
    /// whenever no proctor is full (the property the test below checks).
    fn first_choice<'a>(candidate: &str, proctors: &'a [String]) -> Option<&'a str> {
        let candidate_hash = weight(&[candidate]);
        let (roster, hashes) = roster_of(proctors);
        // The same order as `assign`'s scan: ties go to the later roster position.
        (0..roster.len()).max_by_key(|&i| (rank(candidate_hash, hashes[i]), i)).map(|i| roster[i])
    }

    fn ids(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    /// A candidate placed after a split sits where `assign` puts it when
    /// it is the last in placement order, and takes nobody's seat.
    #[test]
    fn placing_one_more_agrees_with_a_full_split_and_moves_nobody() {
        let proctors = ids("p", 4);
        for capacity in [3, 100] {
            let candidates = ids("c", 20);
            let before = assign(candidates.iter().map(String::as_str), &proctors, capacity);
            for newcomer in ids("late-", 30) {
                let mut placed = before.clone();
                let seat = place(&mut placed, &newcomer, &proctors, capacity);
                assert_eq!(seat.as_deref(), placed.proctor_of(&newcomer));
                assert_eq!(placed.covered(), before.covered() + 1);
                assert_eq!(moved(&before, &placed), 0, "nobody already placed moves");
                assert!(placed.by_proctor.values().all(|list| list.len() <= capacity as usize));
                let mut with = candidates.clone();
                with.push(newcomer.clone());
                let full = assign(with.iter().map(String::as_str), &proctors, capacity);
                if capacity == 100 {
                    // Nobody full: the same seat as a full split gives.
                    assert_eq!(full.proctor_of(&newcomer), seat.as_deref(), "{newcomer}");
                    assert_eq!(full, placed, "and the same lists, in placement order");
                }
            }
        }
    }

    #[test]
    fn without_a_full_proctor_everyone_sits_with_their_first_choice() {
        let proctors = ids("p", 7);
        let candidates = ids("c", 500);
        let split = assign(candidates.iter().map(String::as_str), &proctors, 500);
        for candidate in &candidates {
            assert_eq!(first_choice(candidate, &proctors), split.proctor_of(candidate), "{candidate}");
        }
        assert_eq!(first_choice("c1", &[]), None);
    }

    fn owner_map(assignment: &Assignment) -> HashMap<&str, &str> {
        let mut owners = HashMap::new();
        for (proctor, candidates) in &assignment.by_proctor {
            for candidate in candidates {
                assert!(owners.insert(candidate.as_str(), proctor.as_str()).is_none(), "{candidate} assigned twice");
            }
        }
        owners
    }

    /// How many candidates watched in `before` are watched by someone else
    /// (or nobody) in `after`.
    fn moved(before: &Assignment, after: &Assignment) -> usize {
        let (before, after) = (owner_map(before), owner_map(after));
        before.iter().filter(|(candidate, proctor)| after.get(*candidate) != Some(*proctor)).count()
    }

    #[test]
    fn an_empty_roster_leaves_everyone_unassigned() {
        let candidates = ids("c", 5);
        let split = assign(candidates.iter().map(String::as_str), &[], 10);
        assert!(split.by_proctor.is_empty());
        assert_eq!(split.unassigned.len(), 5);
    }

    #[test]
    fn the_split_does_not_depend_on_input_order() {
        let candidates = ids("c", 200);
        let mut proctors = ids("p", 7);
        let a = assign(candidates.iter().map(String::as_str), &proctors, 40);
        proctors.reverse();
        let b = assign(candidates.iter().rev().map(String::as_str), &proctors, 40);
        assert_eq!(a, b);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Each candidate exactly once, nobody over capacity, and nobody
        /// left out while a seat is free.
        #[test]
        fn every_candidate_has_exactly_one_seat_within_capacity(
            n_candidates in 0usize..400,
            n_proctors in 1usize..12,
            capacity in 1u32..80,
            salt in "[a-z]{0,4}",
        ) {
            let candidates = ids(&format!("{salt}c"), n_candidates);
            let proctors = ids("p", n_proctors);
            let split = assign(candidates.iter().map(String::as_str), &proctors, capacity);
            let owners = owner_map(&split);
            for watched in split.by_proctor.values() {
                prop_assert!(watched.len() <= capacity as usize);
            }
            let seats = n_proctors * capacity as usize;
            prop_assert_eq!(owners.len(), n_candidates.min(seats));
            prop_assert_eq!(split.unassigned.len(), n_candidates.saturating_sub(seats));
            let everyone: BTreeSet<&str> = owners.keys().copied().chain(split.unassigned.iter().map(String::as_str)).collect();
            prop_assert_eq!(everyone.len(), n_candidates);
        }

        /// With room to spare, a leaving proctor's candidates are the only
        /// ones that move, so over who leaves exactly 1/n of the candidates
        /// move on average; a joining proctor takes only candidates that
        /// rank it first, and nobody else moves.
        #[test]
        fn only_the_leavers_candidates_move_when_capacity_does_not_bind(
            n_candidates in 1usize..300,
            n_proctors in 2usize..10,
            salt in "[a-z]{0,4}",
        ) {
            let candidates = ids(&format!("{salt}c"), n_candidates);
            let proctors = ids("p", n_proctors);
            let capacity = n_candidates as u32;
            let all = assign(candidates.iter().map(String::as_str), &proctors, capacity);
            let mut moved_total = 0;
            for leaver in &proctors {
                let rest: Vec<String> = proctors.iter().filter(|p| *p != leaver).cloned().collect();
                let after = assign(candidates.iter().map(String::as_str), &rest, capacity);
                let moved_now = moved(&all, &after);
                prop_assert_eq!(moved_now, all.by_proctor[leaver].len());
                // Joining back restores the original split exactly.
                prop_assert_eq!(&assign(candidates.iter().map(String::as_str), &proctors, capacity), &all);
                moved_total += moved_now;
            }
            // Σ over leavers of their loads is every candidate once: the mean
            // moved share over who leaves is exactly 1/n.
            prop_assert_eq!(moved_total, n_candidates);
        }
    }
}
