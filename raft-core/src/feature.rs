//! The optional parts of the protocol, as Cargo features (all on by default): `reads`
//! (ReadIndex and lease reads), `transfer` (leadership transfer) and `snapshots` (snapshot
//! transfer). A firmware that needs none of them turns them off to save flash; the rest of
//! the protocol (elections, replication, membership changes, compaction up to what every
//! voter holds) is the same either way.
//!
//! A part that is off is refused, never half-run: its inputs fail with
//! [`StepError::Disabled`](crate::StepError::Disabled), a configuration asking for it with
//! [`ConfigError::Disabled`](crate::ConfigError::Disabled), and its messages from peers are
//! dropped and counted in [`Stats::dropped_unsupported`](crate::Stats::dropped_unsupported)
//! (dropping a message is always safe in Raft; a peer that needs it waits, as on a lossy
//! link). The gates are constants, so the code behind a gate that is off is removed.

/// One optional part of the protocol (a Cargo feature of raft-core).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Feature {
    /// `reads`: [`Input::Read`](crate::Input::Read), ReadIndex on followers, lease reads.
    Reads,
    /// `transfer`: [`Input::TransferLeader`](crate::Input::TransferLeader), `TimeoutNow`.
    Transfer,
    /// `snapshots`: sending and installing snapshots (`SnapshotSaved`, `SnapshotInstalled`).
    Snapshots,
}

impl Feature {
    /// The Cargo feature's name.
    pub const fn name(self) -> &'static str {
        match self {
            Feature::Reads => "reads",
            Feature::Transfer => "transfer",
            Feature::Snapshots => "snapshots",
        }
    }

    /// Whether this build has it.
    pub const fn enabled(self) -> bool {
        match self {
            Feature::Reads => READS,
            Feature::Transfer => TRANSFER,
            Feature::Snapshots => SNAPSHOTS,
        }
    }
}

/// The `reads` feature is on.
pub(crate) const READS: bool = cfg!(feature = "reads");
/// The `transfer` feature is on.
pub(crate) const TRANSFER: bool = cfg!(feature = "transfer");
/// The `snapshots` feature is on.
pub(crate) const SNAPSHOTS: bool = cfg!(feature = "snapshots");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ConfigError, StepError};
    use crate::input::Input;
    use crate::message::{Message, ReadIndexRequest, SnapshotMeta, SnapshotResponse, VoteRequest};
    use crate::output::{outputs_needed, Outputs};
    use crate::types::{LogIndex, NodeId, Term};
    use crate::{Config, State};

    type Node = State<3, 16, 4>;
    const VOTERS: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];

    fn node() -> Node {
        Node::new(Config::new(NodeId(1), 7), &VOTERS).expect("a valid configuration")
    }

    /// Each input of an optional part is refused exactly when its feature is off (and then
    /// changes nothing); with the feature on it is taken as before.
    #[test]
    fn inputs_of_a_part_that_is_off_are_refused() {
        let mut out: Outputs<{ outputs_needed(3) }> = Outputs::new();
        let mut s = node();
        let meta = SnapshotMeta {
            index: LogIndex::ZERO,
            term: Term(0),
            len: 0,
            checksum: 0,
            members: *s.membership(),
        };
        let cases = [
            (Input::Read { id: 1 }, Feature::Reads),
            (Input::TransferLeader { to: NodeId(2) }, Feature::Transfer),
            (Input::SnapshotSaved { meta }, Feature::Snapshots),
            (
                Input::SnapshotInstalled { meta, ok: true },
                Feature::Snapshots,
            ),
        ];
        for (input, feature) in cases {
            let before = (s.term(), s.commit(), s.role(), *s.stats());
            let r = s.step(input, &mut out);
            if feature.enabled() {
                assert_ne!(r, Err(StepError::Disabled(feature)), "{}", feature.name());
            } else {
                assert_eq!(r, Err(StepError::Disabled(feature)), "{}", feature.name());
                assert!(out.is_empty());
                assert_eq!((s.term(), s.commit(), s.role(), *s.stats()), before);
            }
        }
    }

    /// A peer's message of a part that is off is dropped and counted, before the term rules
    /// (a higher term in it changes nothing); every other message is taken.
    #[test]
    fn messages_of_a_part_that_is_off_are_dropped_and_counted() {
        let mut out: Outputs<{ outputs_needed(3) }> = Outputs::new();
        let req = VoteRequest {
            term: Term(5),
            last_index: LogIndex::ZERO,
            last_term: Term(0),
        };
        let snap = SnapshotResponse {
            term: Term(5),
            index: LogIndex(1),
            next_offset: 0,
            installed: false,
            round: 0,
        };
        let cases = [
            (Message::TimeoutNow { term: Term(5) }, TRANSFER),
            (Message::TransferVote(req), TRANSFER),
            (
                Message::ReadIndex(ReadIndexRequest {
                    term: Term(5),
                    id: 1,
                }),
                READS,
            ),
            (Message::SnapshotResponse(snap), SNAPSHOTS),
            (Message::Vote(req), true),
        ];
        for (msg, taken) in cases {
            let mut s = node();
            let r = s.step(
                Input::Message {
                    from: NodeId(2),
                    msg,
                },
                &mut out,
            );
            assert_eq!(r, Ok(()));
            assert_eq!(s.stats().dropped_unsupported, u64::from(!taken), "{msg:?}");
            assert_eq!(s.term() == Term(5), taken, "{msg:?}");
        }
    }

    /// Lease reads need the `reads` feature: a configuration asking for them without it is
    /// refused, with it accepted.
    #[test]
    fn lease_reads_need_the_reads_feature() {
        let mut cfg = Config::new(NodeId(1), 7);
        cfg.lease_reads = true;
        let r = Node::new(cfg, &VOTERS).map(|_| ());
        if READS {
            assert_eq!(r, Ok(()));
        } else {
            assert_eq!(r, Err(ConfigError::Disabled(Feature::Reads)));
        }
    }
}
