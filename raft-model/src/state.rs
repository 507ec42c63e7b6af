//! The model's state: the real nodes (fingerprinted), their storage, the network, the
//! clients and what the properties need to remember.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};

use raftcore::{EntryKind, LogIndex, MemberKind, Membership, Role, Term};
use stateright::semantics::register::Register;
use stateright::semantics::LinearizabilityTester;

use crate::storage::Disk;
use crate::{ClientId, Node, Value};

/// A frame in flight.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Packet {
    /// Receiver position.
    pub to: u8,
    /// Sender position.
    pub from: u8,
    /// The encoded frame.
    pub frame: Vec<u8>,
}

/// A client operation in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pending {
    /// A write, or a read through the log, accepted on `node` at `(index, term)`: answered
    /// when `node` applies that entry.
    Log {
        /// Where it was proposed.
        node: u8,
        /// Its index.
        index: LogIndex,
        /// Its term.
        term: Term,
    },
    /// A ReadIndex read (`Input::Read { id }`) on `node`: answered once `node` reported it
    /// `Ready` (`at`, the read index) and its state machine reached `at`.
    Read {
        /// Where it was asked.
        node: u8,
        /// Its read id.
        id: u64,
        /// The read index, once the node answered `Ready`.
        at: Option<LogIndex>,
    },
}

impl Pending {
    /// The node the operation waits on.
    pub fn node(&self) -> u8 {
        match *self {
            Pending::Log { node, .. } | Pending::Read { node, .. } => node,
        }
    }
}

/// Milestone bits of [`ModelState::reached`] (for `sometimes` properties).
pub mod reached {
    /// A follower installed a snapshot streamed by a leader.
    pub const SNAPSHOT_INSTALLED: u8 = 1;
    /// A read was answered through ReadIndex.
    pub const READ_INDEX_SERVED: u8 = 2;
    /// The target of a leadership transfer (TimeoutNow) won the election it started.
    pub const TRANSFER_DONE: u8 = 4;
    /// A pre-candidate won its PreVote round and started a real election.
    pub const PRE_VOTE_WON: u8 = 8;
    /// A leader stepped down because CheckQuorum found no majority.
    pub const CHECK_QUORUM_STEP_DOWN: u8 = 16;
    /// A node ignored a (pre-)vote request inside a leader's lease (CheckQuorum).
    pub const VOTE_REFUSED_IN_LEASE: u8 = 32;
}

/// The model's state.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct ModelState {
    /// The nodes; `None` while crashed.
    pub nodes: Vec<Option<Live>>,
    /// Each node's durable storage and state machine.
    pub disks: Vec<Disk>,
    /// Frames in flight, sorted (a multiset).
    pub net: Vec<Packet>,
    /// Budgets left: ticks, drops, duplicates, crashes, faults, membership changes,
    /// snapshots, transfers.
    pub left: [u8; 8],
    /// Per client: operations invoked so far, and the one in flight (`Some(None)` when it
    /// can never complete: its node crashed, or its read failed).
    pub clients: Vec<(u8, Option<Option<Pending>>)>,
    /// Every (term, node) that was ever leader, sorted.
    pub leaders: Vec<(Term, u8)>,
    /// The first entry applied at each index, by any node (a snapshot install counts as
    /// applying every entry it covers): (term, kind, data).
    pub applied: Vec<(Term, u8, Vec<u8>)>,
    /// A node applied a different entry at an index (State Machine Safety broken).
    pub diverged: bool,
    /// A leader outside the voters of its committed configuration was still leader after a
    /// tick (it must hand over and step down at its first tick once the removal commits).
    pub removed_leader_stayed: bool,
    /// The leadership transfer in progress as the model knows it: (leader, its term, its
    /// ticks since the request). The core gives up after an election timeout of ticks.
    pub transfer: Option<(u8, Term, u8)>,
    /// A leader accepted a proposal or membership change during a transfer.
    pub accepted_in_transfer: bool,
    /// The election a TimeoutNow started: (term, node).
    pub transfer_campaign: Option<(Term, u8)>,
    /// Milestones reached ([`reached`] bits).
    pub reached: u8,
    /// The first broken driver contract (an Apply out of order or of an entry the store
    /// lacks, a Compact beyond the snapshot, a chunk out of order or not the one named, a
    /// snapshot that fails its checksum, a send or apply while a write is not durable, a
    /// driver error from `step`, a failed restore; checked by the engine's seams in
    /// `seams.rs`): a property failure with a trace, not a panic.
    pub broken: Option<String>,
    /// The register history.
    pub history: LinearizabilityTester<ClientId, Register<Value>>,
}

// `Register` implements `PartialEq` but not `Eq`; its equality is total.
impl Eq for ModelState {}

/// A real `State` with the fingerprint that stands in for `Hash`/`Eq`.
#[derive(Clone)]
pub struct Live {
    /// The protocol state.
    pub state: Node,
    fp: u128,
}

impl Live {
    /// `abstract_timers`: see [`crate::RaftModel::abstract_timers`].
    pub(crate) fn new(state: Node, abstract_timers: bool) -> Live {
        let fp = fingerprint(&state, !(abstract_timers && state.role() != Role::Leader));
        Live { state, fp }
    }
}

/// `EntryKind::Normal` as stored in an [`Entry`].
pub(crate) const NORMAL_KIND: u8 = EntryKind::Normal.to_byte();
/// `EntryKind::Membership` as stored in an [`Entry`].
pub(crate) const MEMBERSHIP_KIND: u8 = EntryKind::Membership.to_byte();

/// The live nodes' states.
pub(crate) fn live_nodes(s: &ModelState) -> impl Iterator<Item = &Node> {
    s.nodes.iter().flatten().map(|l| &l.state)
}

/// Node `k`'s state, if it is up.
pub(crate) fn live_node(s: &ModelState, k: u8) -> Option<&Node> {
    s.nodes[k as usize].as_ref().map(|l| &l.state)
}

/// Whether `st` votes in its configuration in force (in either half of a joint one).
pub(crate) fn is_voter(st: &Node) -> bool {
    st.membership().votes(st.id())
}

/// A configuration as `{v1,v2,l3}` (v: voter, l: learner).
pub(crate) fn conf(m: &Membership) -> String {
    let ids: Vec<String> = m
        .members()
        .filter_map(|i| match m.kind_of(i) {
            Some(MemberKind::Learner) => Some(format!("l{}", i.0)),
            Some(MemberKind::Voter) => Some(format!("v{}", i.0)),
            None => None,
        })
        .collect();
    if !m.is_joint() {
        return format!("{{{}}}", ids.join(","));
    }
    let old: Vec<String> = m.outgoing_voters().map(|i| format!("v{}", i.0)).collect();
    format!("{{{}}} joint with {{{}}}", ids.join(","), old.join(","))
}

/// Removes the field `name` (its value included) from a `Debug` rendering of a struct.
fn without_field(text: &mut String, name: &str) {
    let key = format!(" {name}: ");
    let Some(at) = text.find(&key) else {
        return;
    };
    let bytes = text.as_bytes();
    let mut depth = 0i32;
    let mut end = at + key.len();
    while end < bytes.len() {
        match bytes[end] {
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' if depth == 0 => break,
            b'}' | b']' | b')' => depth -= 1,
            b',' if depth == 0 => {
                end += 1;
                break;
            }
            _ => {}
        }
        end += 1;
    }
    text.replace_range(at..end, "");
}

/// 128 bits of hash over the complete `Debug` rendering of `s` without its `Stats` and,
/// if `timers` is false, without its election timer (`elapsed`, `timeout`, `hb_elapsed`, and
/// the `rng` that draws timeouts).
fn fingerprint(s: &Node, keep_timers: bool) -> u128 {
    let mut text = format!("{s:?}");
    without_field(&mut text, "stats");
    if !keep_timers {
        for f in ["rng", "elapsed", "timeout", "hb_elapsed"] {
            without_field(&mut text, f);
        }
    }
    let mut a = DefaultHasher::new();
    text.hash(&mut a);
    let mut b = DefaultHasher::new();
    0x00C0_FFEE_u32.hash(&mut b);
    text.hash(&mut b);
    u128::from(a.finish()) << 64 | u128::from(b.finish())
}

impl PartialEq for Live {
    fn eq(&self, other: &Live) -> bool {
        self.fp == other.fp
    }
}
impl Eq for Live {}
impl Hash for Live {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.fp.hash(h);
    }
}
impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.state;
        write!(
            f,
            "{} {} {} commit={} applied={} last={}",
            s.id(),
            s.role(),
            s.term(),
            s.commit(),
            s.applied(),
            s.last_index()
        )
    }
}
