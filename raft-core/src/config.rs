//! Runtime configuration, validated once when a [`State`](crate::State) is built.
//!
//! Capacities that size memory (peers, log window, in-flight messages, outputs) are const
//! generics of `State`; everything here is a number the operator may tune without changing
//! the memory layout.

use crate::codec;
use crate::error::ConfigError;
use crate::feature::{Feature, READS};
use crate::types::NodeId;

/// When a `Persist` output counts as durable. See the contract in [`crate::output`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Durability {
    /// The driver makes each `Persist` durable before it performs the next output. The core
    /// treats every `Persist` as durable once emitted and never waits. Simplest; what
    /// firmware writing to flash synchronously does.
    Inline,
    /// The driver may make `Persist` durable in the background and reports
    /// `Input::Persisted { seq }` when it is. Acknowledgements that depend on durable state
    /// (vote grants, append acknowledgements) are held until then, the leader counts its own
    /// log toward a quorum only once durable, and `Apply` never passes the durable index.
    Deferred,
}

/// Tunable settings of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// This node's id.
    pub id: NodeId,
    /// Identifies the cluster on the wire; frames of another cluster are dropped.
    pub cluster_id: u32,
    /// Minimum election timeout in ticks. Each timeout is drawn uniformly from
    /// `[election_ticks, 2 * election_ticks)`. CheckQuorum uses `election_ticks` itself.
    pub election_ticks: u32,
    /// A leader sends a heartbeat round every `heartbeat_ticks` ticks.
    pub heartbeat_ticks: u32,
    /// Seed of the jitter PRNG. Give every node a different seed.
    pub seed: u64,
    /// Run a PreVote round before a real election so that a partitioned node rejoining the
    /// cluster cannot disrupt it by bumping the term.
    pub pre_vote: bool,
    /// A leader that has not heard from a majority within `election_ticks` steps down.
    pub check_quorum: bool,
    /// Hard cap on one encoded frame, header included. A proposal that could not fit in a
    /// frame on its own is answered `TooLarge`; AppendEntries are cut to fit.
    pub max_frame_bytes: u32,
    /// Per follower: at most this many AppendEntries in flight (pipelining window). When
    /// reached, the leader waits for acknowledgements. At most the `INFLIGHT` capacity.
    pub max_inflight_msgs: u32,
    /// Per follower: at most this many entry bytes in flight. When reached, the leader waits.
    pub max_inflight_bytes: u32,
    /// The leader accepts at most this many entries beyond the commit index; further
    /// proposals get `Busy`. The empty entry of a new leader is exempt.
    pub max_uncommitted: u32,
    /// At most this many entries per `Apply` output; the rest come out on later steps.
    pub max_apply: u32,
    /// Bytes the log store can hold (payload plus [`codec::ENTRY_OVERHEAD`] per entry).
    /// The core never asks the store to hold more: proposals get `Busy` and a follower
    /// accepts only the prefix of an append that fits.
    pub log_bytes: u32,
    /// When a `Persist` counts as durable.
    pub durability: Durability,
    /// Serve reads from the leader's lease instead of a heartbeat round (opt-in). See
    /// [`Config::lease_reads`](#structfield.lease_reads): a leader that heard from a majority
    /// within the last `election_ticks - 2` ticks answers reads at once, assuming no node's
    /// tick runs more than about 2 ticks per election timeout slower than another's (clock
    /// drift), because followers that heard from it refuse to elect another leader for
    /// `election_ticks`. Requires `check_quorum`; ignored without it. Set it alike on every
    /// node: with it, a node restarted in a term above 0 refuses votes for its first election
    /// timeout (it may have been inside a leader's lease when it went down), and a leader that
    /// hands over leadership stops serving reads from its lease.
    pub lease_reads: bool,
}

impl Config {
    /// A configuration with the usual defaults: election timeout 10 ticks, heartbeat 3,
    /// PreVote and CheckQuorum on, 1200-byte frames (safe for UDP on any path MTU with
    /// room for an AEAD), a window of 4 messages, inline durability.
    pub const fn new(id: NodeId, seed: u64) -> Config {
        Config {
            id,
            cluster_id: 0,
            election_ticks: 10,
            heartbeat_ticks: 3,
            seed,
            pre_vote: true,
            check_quorum: true,
            max_frame_bytes: 1200,
            max_inflight_msgs: 4,
            max_inflight_bytes: 4 * 1200,
            max_uncommitted: 1024,
            max_apply: 64,
            log_bytes: u32::MAX,
            durability: Durability::Inline,
            lease_reads: false,
        }
    }

    /// The largest payload one entry may carry: what fits into a frame alone.
    pub const fn max_payload(&self) -> u32 {
        codec::max_payload(self.max_frame_bytes)
    }

    /// The smallest `log_bytes` a `State` with a `log_window`-entry window accepts: one entry of
    /// the largest payload plus the empty entries proposals keep room for (a quarter of the
    /// window, at least one), so a new leader can always append its empty entry.
    pub const fn min_log_bytes(&self, log_window: usize) -> u32 {
        let reserve = if log_window / 4 > 1 {
            log_window / 4
        } else {
            1
        } as u32;
        self.max_payload() + (1 + reserve) * codec::ENTRY_OVERHEAD
    }

    /// Checks every rule; `inflight_cap` is the `INFLIGHT` capacity of the `State` type.
    pub(crate) fn validate(&self, inflight_cap: usize, log_cap: usize) -> Result<(), ConfigError> {
        if self.heartbeat_ticks == 0 {
            return Err(ConfigError::HeartbeatZero);
        }
        if self.lease_reads && !READS {
            return Err(ConfigError::Disabled(Feature::Reads));
        }
        if self.election_ticks <= self.heartbeat_ticks {
            return Err(ConfigError::ElectionNotAboveHeartbeat);
        }
        if self.max_frame_bytes > codec::MAX_FRAME_BYTES {
            return Err(ConfigError::FrameTooLarge);
        }
        if self.max_payload() == 0 {
            return Err(ConfigError::FrameTooSmall);
        }
        if self.max_inflight_msgs == 0 || self.max_inflight_msgs as usize > inflight_cap {
            return Err(ConfigError::BadInflight);
        }
        if self.max_inflight_bytes < self.max_frame_bytes {
            return Err(ConfigError::InflightBytesTooSmall);
        }
        if self.max_uncommitted == 0 {
            return Err(ConfigError::UncommittedZero);
        }
        if self.max_apply == 0 {
            return Err(ConfigError::ApplyZero);
        }
        // Room for one full entry plus the empty entries proposals keep free for future
        // leaders (a quarter of the window, at least one), so a new leader can always append
        // and commit its empty entry (never wedged by a full store).
        if self.log_bytes < self.min_log_bytes(log_cap) {
            return Err(ConfigError::LogBytesTooSmall);
        }
        if log_cap < 4 {
            return Err(ConfigError::LogWindowTooSmall);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Config {
        Config::new(NodeId(1), 1)
    }

    #[test]
    fn default_config_is_valid() {
        assert_eq!(ok().validate(4, 32), Ok(()));
    }

    #[test]
    fn each_bad_setting_is_a_clear_error() {
        type Case = (fn(&mut Config), ConfigError);
        let cases: [Case; 8] = [
            (|c| c.heartbeat_ticks = 0, ConfigError::HeartbeatZero),
            (
                |c| c.election_ticks = 3,
                ConfigError::ElectionNotAboveHeartbeat,
            ),
            (|c| c.max_frame_bytes = 10, ConfigError::FrameTooSmall),
            (|c| c.max_frame_bytes = u32::MAX, ConfigError::FrameTooLarge),
            (|c| c.max_inflight_msgs = 5, ConfigError::BadInflight),
            (
                |c| c.max_inflight_bytes = 100,
                ConfigError::InflightBytesTooSmall,
            ),
            (|c| c.max_uncommitted = 0, ConfigError::UncommittedZero),
            (|c| c.log_bytes = 100, ConfigError::LogBytesTooSmall),
        ];
        for (mutate, want) in cases {
            let mut c = ok();
            mutate(&mut c);
            assert_eq!(c.validate(4, 32), Err(want));
        }
        assert_eq!(ok().validate(4, 2), Err(ConfigError::LogWindowTooSmall));
    }

    /// The largest election timeout is accepted and builds a node: drawing its randomized
    /// timeout (`[election_ticks, 2 * election_ticks)`) once overflowed `u32` and panicked
    /// wherever overflow checks are on.
    #[test]
    fn the_largest_election_timeout_builds_a_node() {
        let mut c = ok();
        c.election_ticks = u32::MAX;
        assert_eq!(c.validate(4, 32), Ok(()));
        let voters = [NodeId(1), NodeId(2), NodeId(3)];
        assert!(crate::State::<3, 32, 4>::new(c, &voters).is_ok());
    }
}
