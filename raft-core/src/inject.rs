//! Test-only bug injection: the catalogue of classic Raft bugs, each switchable at the rule it
//! breaks, so that the model checker and the property tests can show they find it
//! (`VERIFICATION.md` at the repository root has the table).
//!
//! Without the `inject` feature (every normal build) [`on`] is a constant `false` that the
//! compiler folds away: no code, no state, no cost. With it, one global bit mask selects the
//! bugs switched on; it starts empty, so a build with the feature behaves exactly as one
//! without until a test or the model binary calls `set` (they read `RAFT_INJECT`, see
//! [`Bug::parse`]). The mask is process-wide: a test binary that sets it must not run other
//! tests at the same time.
//!
//! Not part of the API: hidden from the docs, and never to be enabled outside tests.

// Without the feature only `on` and the variants it names are used.
#![cfg_attr(not(feature = "inject"), allow(dead_code))]

#[cfg(feature = "inject")]
use core::sync::atomic::{AtomicU32, Ordering};

/// One classic Raft bug, put back at the rule it breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Bug {
    /// Figure 8 (section 5.4.2): a leader commits an entry of an earlier term because it is
    /// on a majority, without an entry of its own term above it (`role/leader.rs`,
    /// `maybe_commit`).
    Figure8Commit,
    /// A forgotten vote: a restarted node comes back without the vote it made durable, and
    /// may vote again in the same term (`state.rs`, `restore_in`).
    ForgetVote,
    /// Commit on append: a follower advances its commit index to the leader's without
    /// bounding it by the last entry the message verified, so it commits stale entries of
    /// its own log that the leader never matched (`role/follower.rs`, `handle_append`).
    CommitPastMatch,
    /// No prev check: a follower appends an AppendEntries whose `prev_index` it holds
    /// without checking that its entry there has `prev_term` (`role/follower.rs`).
    NoPrevCheck,
    /// An ignored higher term: a leader that hears a higher term takes the term but keeps
    /// leading instead of converting to follower (Figure 2, "all servers"), so a candidate
    /// of that term may win beside it (`role/mod.rs`, `receive`).
    IgnoreHigherTerm,
    /// A stale read after a leader change: a new leader serves ReadIndex reads before it has
    /// committed an entry of its own term, so its read index may miss writes the previous
    /// leader committed (`role/reads.rs`, `committed_in_term`).
    StaleReadIndex,
    /// An unsettled membership change: a leader accepts a change while an earlier one is
    /// uncommitted, or before it committed in its term (the "settled" rule dropped;
    /// `role/membership.rs`, `try_change`).
    UnsettledChange,
    /// A two-voter single-step change: a leader accepts a configuration that differs from
    /// its own in more than one voter, whose majorities need not overlap the old ones
    /// (`role/membership.rs`, `check_change`).
    TwoVoterChange,
    /// A lease read without CheckQuorum: a leader answers lease reads although followers do
    /// not honour its lease (they grant votes at once), so a newer leader may have
    /// committed writes the read misses (`role/reads.rs`, `register_read`).
    LeaseWithoutCheckQuorum,
    /// An install that rolls back the log: a follower installs a snapshot whatever its log
    /// holds, dropping the entries after the snapshot (acknowledged, maybe committed) even
    /// when its log already matches and covers it (`role/snapshot.rs`).
    InstallRollsBack,
    /// New-only joint majorities: while a joint configuration is in force, elections, commit
    /// and quorum checks count only the incoming configuration's majority, so the outgoing
    /// voters (still deciding by the old rules until they hear of the change) and the
    /// incoming ones can decide apart (`quorum.rs`, `Voters`).
    JointNewOnly,
}

impl Bug {
    /// Every bug of the catalogue, in order.
    pub const ALL: [Bug; 11] = [
        Bug::Figure8Commit,
        Bug::ForgetVote,
        Bug::CommitPastMatch,
        Bug::NoPrevCheck,
        Bug::IgnoreHigherTerm,
        Bug::StaleReadIndex,
        Bug::UnsettledChange,
        Bug::TwoVoterChange,
        Bug::LeaseWithoutCheckQuorum,
        Bug::InstallRollsBack,
        Bug::JointNewOnly,
    ];

    /// The bug's name in `RAFT_INJECT`.
    pub const fn name(self) -> &'static str {
        match self {
            Bug::Figure8Commit => "figure8",
            Bug::ForgetVote => "forget-vote",
            Bug::CommitPastMatch => "commit-past-match",
            Bug::NoPrevCheck => "no-prev-check",
            Bug::IgnoreHigherTerm => "ignore-higher-term",
            Bug::StaleReadIndex => "stale-read-index",
            Bug::UnsettledChange => "unsettled-change",
            Bug::TwoVoterChange => "two-voter-change",
            Bug::LeaseWithoutCheckQuorum => "lease-without-cq",
            Bug::InstallRollsBack => "install-rollback",
            Bug::JointNewOnly => "joint-new-only",
        }
    }

    /// The bug named `name` (see [`Bug::name`]).
    pub fn parse(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

#[cfg(feature = "inject")]
static ON: AtomicU32 = AtomicU32::new(0);

/// Whether `bug` is switched on. Always `false` without the `inject` feature.
#[inline(always)]
pub(crate) fn on(bug: Bug) -> bool {
    #[cfg(feature = "inject")]
    {
        ON.load(Ordering::Relaxed) & bug.bit() != 0
    }
    #[cfg(not(feature = "inject"))]
    {
        let _ = bug;
        false
    }
}

/// Switches on exactly `bugs` (none: the core as it is), for the whole process.
#[cfg(feature = "inject")]
pub fn set(bugs: &[Bug]) {
    let mask = bugs.iter().fold(0, |m, b| m | b.bit());
    ON.store(mask, Ordering::Relaxed);
}

/// The bugs switched on.
#[cfg(feature = "inject")]
pub fn active() -> impl Iterator<Item = Bug> {
    let mask = ON.load(Ordering::Relaxed);
    Bug::ALL.into_iter().filter(move |b| mask & b.bit() != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Switching bugs on is left to test binaries of their own: the unit tests share the
    // process, and the mask would reach them.
    #[test]
    fn every_bug_parses_from_its_name() {
        for (k, b) in Bug::ALL.into_iter().enumerate() {
            assert_eq!(Bug::parse(b.name()), Some(b));
            assert_eq!(b as usize, k);
        }
        assert_eq!(Bug::parse("figure-8"), None);
        assert!(!on(Bug::Figure8Commit));
    }
}
