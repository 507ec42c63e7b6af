//! Majority arithmetic over the voters, for a plain configuration and a joint one.
//!
//! The voters are sets of tracker positions ([`Voters`]): the incoming configuration's and,
//! while a joint configuration is in force (thesis section 4.3), the outgoing one's. Every
//! decision needs a majority of each set that is not empty (as etcd's `quorum.JointConfig`
//! does it): the commit index is the smaller of the two majorities' values, an election is
//! won when both majorities granted and lost when either refused, a heartbeat round or
//! CheckQuorum's window is confirmed when both majorities answered.

use crate::inject::{on, Bug};

/// The number of voters that make a majority of `n`.
pub(crate) const fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// The voters by tracker position (bit `k`: position `k`), for each configuration in force.
/// Positions are below `PEERS <= MAX_MEMBERS = 8`, so a byte holds a set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Voters {
    /// The voters of the configuration in force (the incoming one while joint).
    pub(crate) incoming: u8,
    /// The voters of the outgoing configuration while joint; empty otherwise.
    pub(crate) outgoing: u8,
}

// A position set is a byte.
// Invariant: a const item, evaluated at compile time: a `MAX_MEMBERS` above 8 fails the build;
// nothing is checked, and nothing can panic, at run time.
const _: () = assert!(crate::membership::MAX_MEMBERS <= 8);

/// The outcome of an election so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VoteResult {
    /// A majority of each configuration granted.
    Won,
    /// A majority of some configuration refused: it cannot be won.
    Lost,
    /// Neither yet.
    Pending,
}

impl Voters {
    /// Whether position `k` votes in either configuration.
    #[inline]
    pub(crate) fn contains(&self, k: usize) -> bool {
        (self.incoming | self.outgoing) & (1 << k) != 0
    }

    /// Whether the positions in `acks` hold a majority of each configuration.
    #[inline]
    pub(crate) fn is_quorum(&self, acks: u8) -> bool {
        let outgoing = self.outgoing();
        majority_of(self.incoming, acks) && (outgoing == 0 || majority_of(outgoing, acks))
    }

    /// The election's outcome with `granted` and `refused` positions.
    pub(crate) fn vote_result(&self, granted: u8, refused: u8) -> VoteResult {
        if self.is_quorum(granted) {
            VoteResult::Won
        } else if majority_of(self.incoming, refused)
            || (self.outgoing() != 0 && majority_of(self.outgoing(), refused))
        {
            VoteResult::Lost
        } else {
            VoteResult::Pending
        }
    }

    /// The largest value that a majority of each configuration reaches, of `values` by
    /// position (positions outside both sets are not read).
    #[inline]
    pub(crate) fn committed_value<const P: usize>(&self, values: &[u64; P]) -> u64 {
        let v = majority_value(self.incoming, values);
        match self.outgoing() {
            0 => v,
            outgoing => v.min(majority_value(outgoing, values)),
        }
    }

    /// The outgoing voters that decisions count (none while plain; none either with the
    /// bug catalogue's new-only joint majorities switched on).
    #[inline(always)]
    fn outgoing(&self) -> u8 {
        if on(Bug::JointNewOnly) {
            0
        } else {
            self.outgoing
        }
    }
}

/// Whether `acks` holds a majority of `set` (never, for an empty set).
#[inline]
fn majority_of(set: u8, acks: u8) -> bool {
    (set & acks).count_ones() as usize >= majority(set.count_ones() as usize)
}

/// The largest value at least a majority of `set`'s positions reach: their values sorted
/// descending, the majority-th. 0 for an empty set.
#[inline]
fn majority_value<const P: usize>(set: u8, values: &[u64; P]) -> u64 {
    let mut picked = [0u64; P];
    let mut n = 0;
    // Only the set's positions (a few bits) are visited.
    let mut rest = set;
    while rest != 0 {
        let k = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        if let (Some(&v), true) = (values.get(k), n < P) {
            // Invariant: `n < P` is part of the `if let` pattern above, and `picked` holds `P`
            // values.
            picked[n] = v;
            n += 1;
        }
    }
    if n == 0 {
        return 0;
    }
    // Invariant: `n <= P` (it grows only while below `P`) and `n >= 1` (0 returned above);
    // `majority(n) = n / 2 + 1` is in `1..=n`, so `picked[majority(n) - 1]` is below `n <= P`.
    sort_descending(&mut picked[..n]);
    picked[majority(n) - 1] // 1 <= majority(n) <= n <= P
}

/// Insertion sort, largest first: `values` holds at most `PEERS` (a handful) items, and the
/// library's sort would cost kilobytes of flash per element type for nothing.
pub(crate) fn sort_descending(values: &mut [u64]) {
    for k in 1..values.len() {
        let mut j = k;
        // Invariant: `j > 0` is tested first (`&&` short-circuits), and `j <= k < values.len()`, so
        // `j - 1` and `j` (read here, swapped below) are in bounds.
        while j > 0 && values[j - 1] < values[j] {
            values.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_value_is_the_median_from_the_top() {
        assert_eq!(majority(1), 1);
        assert_eq!(majority(4), 3);
        let plain = Voters {
            incoming: 0b11111,
            outgoing: 0,
        };
        assert_eq!(plain.committed_value(&[5, 1, 9, 7, 3]), 5);
        let four = Voters {
            incoming: 0b1111,
            outgoing: 0,
        };
        assert_eq!(four.committed_value(&[5, 1, 9, 7, 3]), 5);
        let mut w = [3, 8, 1, 8, 0, 5];
        sort_descending(&mut w);
        assert_eq!(w, [8, 8, 5, 3, 1, 0]);
    }

    /// Old {0, 1, 2}, new {2, 3, 4}: each decision needs two of the old and two of the new.
    #[test]
    fn a_joint_configuration_needs_a_majority_of_both() {
        let j = Voters {
            incoming: 0b11100,
            outgoing: 0b00111,
        };
        // The new configuration alone (positions 2, 3, 4) is not enough, nor the old alone.
        assert!(!j.is_quorum(0b11100));
        assert!(!j.is_quorum(0b00111));
        assert!(j.is_quorum(0b01110));
        assert!(j.is_quorum(0b11011));
        // Matched indices 9 on the new side, 1 on the old side but the shared position.
        assert_eq!(j.committed_value(&[1, 1, 9, 9, 9]), 1);
        assert_eq!(j.committed_value(&[9, 1, 5, 9, 2]), 5);
        assert_eq!(j.vote_result(0b11100, 0), VoteResult::Pending);
        assert_eq!(j.vote_result(0b01110, 0), VoteResult::Won);
        assert_eq!(j.vote_result(0b11100, 0b00011), VoteResult::Lost);
        assert_eq!(j.vote_result(0b00001, 0b11000), VoteResult::Lost);
        assert!(j.contains(0) && j.contains(4) && !j.contains(5));
        // Plain: the outgoing set is ignored, an empty incoming set never decides.
        let plain = Voters {
            incoming: 0b111,
            outgoing: 0,
        };
        assert!(plain.is_quorum(0b011));
        assert!(!Voters::default().is_quorum(0xff));
    }
}
