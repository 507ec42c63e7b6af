//! The fuzz targets' logic, as a library (feature `sim`), so the cargo-fuzz binaries in
//! `fuzz/` stay one line each and the checked-in corpus replays under stable `cargo test`.
//!
//! Three targets, each a `fn(&[u8])` that panics on a broken property:
//!
//! - [`frame_roundtrip`]: any byte string either fails to decode, or decodes to a frame that
//!   re-encodes to exactly the same bytes and decodes again to the same message.
//! - [`single_node`]: one [`State`] fed an arbitrary input sequence decoded from the bytes
//!   (ticks, forged but decodable messages from members with arbitrary fields, proposals,
//!   `Persisted` / `Captured` with valid and invalid values, storage failures, crash and
//!   restore), with the node-local invariants checked after every step by a driver that
//!   performs every output on a real store.
//! - [`cluster`]: a [`ClusterCase`] (tiny capacities, and a schedule of [`Action`]s decoded
//!   from the bytes) run on a [`Cluster`], whose [`Checker`](crate::sim::Checker) verifies
//!   Raft's safety properties after every step, then healed: a leader must emerge and commit.
//!   A failure panics with the case printed as a Rust regression test
//!   ([`ClusterCase::to_rust`]).
//!
//! Decoding never fails: past the end of the input every read yields zero, so every byte
//! string is a valid (possibly empty) case and the fuzzer's mutations always mean something.

use std::format;
use std::string::String;
use std::vec::Vec;

use crate::codec::{self, EntryRef, EntrySource, Header};
use crate::config::{Config, Durability};
use crate::error::StepError;
use crate::input::Input;
use crate::log::store::{persist_entries, LogStore};
use crate::membership::{Membership, MembershipRefusal, MEMBERSHIP_BYTES};
use crate::message::{Append, AppendResponse, EntryCount, Message, VoteRequest, VoteResponse};
use crate::output::{outputs_needed, Output, Outputs, Proposal, ReadResult};
use crate::sim::cluster::{Action, Cluster, SimConfig};
use crate::sim::node::SimNode;
use crate::state::{Restored, State};
use crate::types::{EntryKind, HardState, LogIndex, NodeId, Role, Term};

/// Reads fuzzer bytes front to back; past the end every read yields zero.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}

// ------------------------------------------------------------------------------------------
// Target 1: frame round trip.
// ------------------------------------------------------------------------------------------

/// Decodes `data` as a frame; if it decodes, re-encodes it with [`codec::encode_wire`] and
/// requires the same bytes, then decodes those again and requires the same header and
/// message. Decoding must never panic (that is the rest of the check).
pub fn frame_roundtrip(data: &[u8]) {
    let Ok((hdr, msg)) = codec::decode(data) else {
        return;
    };
    let mut buf = std::vec![0u8; data.len() + codec::MAX_HEADER_BYTES as usize];
    let n = match codec::encode_wire(&hdr, &msg, &mut buf) {
        Ok(n) => n,
        Err(e) => panic!("a decoded frame does not re-encode ({e}): {data:02x?}"),
    };
    if CANONICAL_FRAMES {
        assert_eq!(
            &buf[..n],
            data,
            "re-encoding a decoded frame changed its bytes: {hdr:?} {msg:?}"
        );
    }
    let again = &buf[..n];
    match codec::decode(again) {
        Ok((h2, m2)) => {
            assert_eq!(h2, hdr, "header changed across a round trip");
            assert_eq!(m2, msg, "message changed across a round trip");
            // The encoder's output is canonical: it is a fixed point of decode + encode.
            let mut buf2 = std::vec![0u8; n];
            let n2 = codec::encode_wire(&h2, &m2, &mut buf2).expect("encodes again");
            assert_eq!(&buf2[..n2], again, "encoding is not a fixed point");
        }
        Err(e) => panic!("a re-encoded frame does not decode ({e}): {data:02x?}"),
    }
}

/// Whether [`frame_roundtrip`] requires a decoded frame to re-encode to exactly its own
/// bytes. The decoder rejects overlong postcard varints (`[1, 0, 0x81, 0x00, ...]` once read
/// `from` = 1 written in two bytes; see `raft-core/tests/known_bugs.rs`), so it does.
pub const CANONICAL_FRAMES: bool = true;

// ------------------------------------------------------------------------------------------
// Target 2: one node, arbitrary inputs, node-local invariants after every step.
// ------------------------------------------------------------------------------------------

/// The node type of the single-node target: up to 3 voters, an 8-entry window, 2 appends in
/// flight (tiny, so every bound is hit).
pub type FuzzNode = State<3, 8, 2>;
type NodeOutputs = Outputs<{ outputs_needed(3) }>;

/// At most this many inputs per fuzz case (keeps one execution short).
const MAX_OPS: usize = 512;

/// Whether a step that returns a driver error must leave the node unchanged and emit
/// nothing, as [`step`](crate::step) documents. (It once did its pending work, an `Apply`
/// the by-value `step` then lost: `known_bugs.rs`.) Turn off to fuzz past a regression: the
/// harness then performs that work and checks everything else.
pub const STRICT_ERROR_STEPS: bool = true;

/// Whether forged AppendEntries may carry entries whose terms go down or exceed the
/// message's term. No leader sends those; the core once accepted them, after which the node
/// could not be restored (`known_bugs.rs`). Turn off to fuzz past a regression.
pub const FORGE_ANY_ENTRY_TERMS: bool = true;

/// What the node looks like from outside; a driver error must leave it unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct View {
    role: Role,
    hs: HardState,
    leader: Option<NodeId>,
    commit: LogIndex,
    applied: LogIndex,
    first: LogIndex,
    last: LogIndex,
    last_term: Term,
    durable: LogIndex,
    durable_seq: u64,
    halted: bool,
}

impl View {
    fn of(s: &FuzzNode) -> View {
        View {
            role: s.role(),
            hs: s.hard_state(),
            leader: s.leader(),
            commit: s.commit(),
            applied: s.applied(),
            first: s.first_index(),
            last: s.last_index(),
            last_term: s.last_term(),
            durable: s.durable_index(),
            durable_seq: s.durable_seq(),
            halted: s.is_halted(),
        }
    }
}

trait PlusSmall {
    fn plus_small(self, n: u8) -> Self;
}

impl PlusSmall for Term {
    fn plus_small(self, n: u8) -> Term {
        Term(self.0.saturating_add(u64::from(n)))
    }
}

/// Entries of a forged AppendEntries, for the encoder.
struct Forged {
    first: LogIndex,
    entries: Vec<(Term, EntryKind, Vec<u8>)>,
}

impl EntrySource for Forged {
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        let k = index.0.checked_sub(self.first.0)?;
        self.entries
            .get(usize::try_from(k).ok()?)
            .map(|(term, kind, data)| EntryRef {
                term: *term,
                kind: *kind,
                data,
            })
    }
}

/// The driver of the single-node target: a simulated node (readable and durable stores,
/// pending writes, state machine, snapshot) plus what the checks remember between steps.
struct Harness {
    cfg: Config,
    voters: Vec<NodeId>,
    node: SimNode<3, 8, 2>,
    /// The highest `Persist` sequence number handed out in this incarnation.
    max_seq: u64,
    /// The last read id given to this incarnation.
    last_read: Option<u64>,
    /// The view after the previous step of this incarnation.
    prev: View,
    /// The step counter, for messages.
    steps: usize,
    /// Print every step (`RAFT_FUZZ_TRACE` set): a failing input read as a trace.
    trace: bool,
    /// Every node a configuration of this run has named (in the log, a snapshot or in
    /// force): the nodes the core may still track, and so ask for votes.
    members_seen: Vec<NodeId>,
}

impl Harness {
    fn new(r: &mut Reader<'_>) -> Harness {
        let b0 = r.u8();
        let b1 = r.u8();
        let b2 = r.u8();
        let b3 = r.u8();
        let voters: Vec<NodeId> = (1..=1 + u32::from(b0 >> 3) % 3).map(NodeId).collect();
        let me = voters[usize::from(b3) % voters.len()];
        let mut cfg = Config::new(me, u64::from(b1) << 8 | u64::from(b2));
        cfg.durability = if b0 & 1 == 0 {
            Durability::Inline
        } else {
            Durability::Deferred
        };
        cfg.pre_vote = b0 & 2 != 0;
        cfg.check_quorum = b0 & 4 != 0;
        cfg.election_ticks = 2 + u32::from(b1 % 4);
        cfg.heartbeat_ticks = 1 + u32::from(b1 >> 4) % (cfg.election_ticks - 1);
        cfg.max_frame_bytes = 100 + u32::from(b2);
        cfg.max_inflight_msgs = 1 + u32::from(b3 >> 2) % 2;
        cfg.max_inflight_bytes = cfg.max_frame_bytes * (1 + u32::from(b3 >> 3) % 2);
        cfg.max_uncommitted = 1 + u32::from(b3 >> 4) % 4;
        cfg.max_apply = 1 + u32::from(b3 >> 6) % 3;
        let one = cfg.min_log_bytes(8);
        cfg.log_bytes = one + 16 * u32::from(b2 % 8);
        let state = match FuzzNode::new(cfg, &voters) {
            Ok(s) => s,
            Err(e) => panic!("the fuzz config {cfg:?} is invalid: {e}"),
        };
        let prev = View::of(&state);
        Harness {
            cfg,
            voters,
            node: SimNode::new(me, state),
            max_seq: 0,
            last_read: None,
            prev,
            steps: 0,
            trace: std::env::var_os("RAFT_FUZZ_TRACE").is_some(),
            members_seen: Vec::new(),
        }
    }

    fn me(&self) -> NodeId {
        self.cfg.id
    }

    fn state(&self) -> &FuzzNode {
        match self.node.state.as_ref() {
            Some(s) => s,
            None => unreachable!("the single-node harness restores at once after a crash"),
        }
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "single_node step {}: {what}\nconfig {:?}\nview {:?}",
            self.steps,
            self.cfg,
            self.node.state.as_ref().map(View::of)
        )
    }

    /// A term near the node's own (one below to two above), or an extreme. (At `u64::MAX`
    /// a campaign once saturated the term and voted twice in it: `known_bugs.rs`.)
    fn term(&self, r: &mut Reader<'_>) -> Term {
        let cur = self.state().term().0;
        let b = r.u8();
        match b % 16 {
            0 => Term(0),
            1 => Term(u64::MAX),
            _ => Term(cur.saturating_add(u64::from(b >> 4) % 4).saturating_sub(1)),
        }
    }

    /// An index near the end of the node's log (three below to two above), or an extreme.
    fn index(&self, r: &mut Reader<'_>) -> LogIndex {
        let last = self.state().last_index().0;
        let b = r.u8();
        match b % 16 {
            0 => LogIndex(0),
            1 => LogIndex(u64::MAX),
            _ => LogIndex(last.saturating_add(u64::from(b >> 4) % 6).saturating_sub(3)),
        }
    }

    /// A decodable frame from a member (usually) with arbitrary fields.
    fn forged_frame(&self, r: &mut Reader<'_>) -> Vec<u8> {
        let me = self.me();
        let others: Vec<NodeId> = self.voters.iter().copied().filter(|&v| v != me).collect();
        let b = r.u8();
        let from = match (b % 8, others.is_empty()) {
            (0, _) => me,
            (1, _) | (_, true) => NodeId(9),
            (k, false) => others[usize::from(k) % others.len()],
        };
        let to = if b & 0x30 == 0x30 { NodeId(7) } else { me };
        let cluster_id = u32::from(b & 0x40 != 0 && b & 0x80 != 0);
        let hdr = Header {
            cluster_id,
            from,
            to,
        };
        let kind = r.u8() % 6;
        let term = self.term(r);
        let mut src = Forged {
            first: LogIndex(0),
            entries: Vec::new(),
        };
        let msg = match kind {
            0 | 2 => {
                let req = VoteRequest {
                    term,
                    last_index: self.index(r),
                    last_term: self.term(r),
                };
                if kind == 0 {
                    Message::PreVote(req)
                } else {
                    Message::Vote(req)
                }
            }
            1 | 3 => {
                let resp = VoteResponse {
                    term,
                    granted: r.u8() & 1 != 0,
                };
                if kind == 1 {
                    Message::PreVoteResponse(resp)
                } else {
                    Message::VoteResponse(resp)
                }
            }
            4 => {
                let prev_index = self.index(r);
                let prev_term = self.term(r);
                let commit = self.index(r);
                let floor = self.index(r);
                let round = u32::from(r.u8());
                let count = r.u8() % 4;
                src.first = prev_index.next();
                let mut t = prev_term;
                for _ in 0..count {
                    t = if FORGE_ANY_ENTRY_TERMS {
                        self.term(r)
                    } else {
                        // What a leader could send: non-decreasing, at most its term.
                        t.max(Term(1)).plus_small(r.u8() % 2).min(term)
                    };
                    let b = r.u8();
                    let kind = if b & 1 == 0 {
                        EntryKind::Normal
                    } else {
                        EntryKind::Empty
                    };
                    let data = r.bytes(usize::from(b >> 1) % 24).to_vec();
                    src.entries.push((t, kind, data));
                }
                Message::Append(Append {
                    term,
                    prev_index,
                    prev_term,
                    commit,
                    floor,
                    round,
                    entries: EntryCount(u32::from(count)),
                })
            }
            _ => Message::AppendResponse(AppendResponse {
                term,
                success: r.u8() & 1 != 0,
                index: self.index(r),
                hint_index: self.index(r),
                hint_term: self.term(r),
                round: u32::from(r.u8()),
                commit: self.index(r),
            }),
        };
        let mut buf = std::vec![0u8; 2048];
        match codec::encode(&hdr, &msg, &src, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                buf
            }
            // Saturated indices can name entries the source lacks: send raw bytes instead.
            Err(_) => buf[..8].to_vec(),
        }
    }

    /// One input from the bytes.
    fn op(&mut self, r: &mut Reader<'_>) {
        let op = r.u8();
        match op % 13 {
            0..=2 => self.step(Input::Tick),
            10 => {
                let b = r.u8();
                let id = match (b & 3, self.last_read) {
                    // Invalid: not above the last id.
                    (0, Some(last)) => last.saturating_sub(u64::from(b >> 2)),
                    (_, last) => last.map_or(0, |l| l.saturating_add(1)) + u64::from(b >> 6),
                };
                self.step(Input::Read { id });
                if self.last_read.is_none_or(|l| id > l) {
                    self.last_read = Some(id);
                }
            }
            12 => {
                // A membership change: a real next configuration, or bytes.
                let b = r.u8();
                let m = *self.state().membership();
                let id = NodeId(1 + u32::from(b >> 3) % 6);
                let next = match b & 7 {
                    0 => m.with_learner(id),
                    1 => m.with_voter(id),
                    2 => Ok(m.without(id)),
                    3 => Ok(m),
                    _ => Err(MembershipRefusal::Malformed),
                };
                let mut buf = [0u8; MEMBERSHIP_BYTES];
                let data = match next {
                    Ok(n) => n.encode(&mut buf).to_vec(),
                    Err(_) => r.bytes(usize::from(b >> 3) % 12).to_vec(),
                };
                self.step(Input::ChangeMembership { data: &data });
            }
            11 => {
                let b = r.u8();
                let to = match self.voters.get(usize::from(b % 4)) {
                    Some(&v) => v,
                    None => NodeId(9),
                };
                self.step(Input::TransferLeader { to });
            }
            3 | 4 => {
                let frame = self.forged_frame(r);
                if op & 0x80 != 0 {
                    self.step(Input::Frame(&frame));
                } else if let Ok((h, msg)) = codec::decode(&frame) {
                    self.step(Input::Message { from: h.from, msg });
                }
            }
            5 => {
                let max = self.cfg.max_payload() as usize;
                let len = match r.u8() {
                    255 => max + 1,
                    254 => max,
                    b => usize::from(b) % 32,
                };
                let data = std::vec![op; len];
                self.step(Input::Propose { data: &data });
            }
            6 => {
                let b = r.u8();
                if b & 3 == 0 {
                    // Invalid: a sequence number never handed out; or a stale one, already
                    // reported durable (a no-op; any higher one would be a lie).
                    let seq = match b >> 2 & 3 {
                        0 => self.max_seq + 1,
                        1 => u64::MAX,
                        _ => match self.cfg.durability {
                            Durability::Inline => self.max_seq,
                            Durability::Deferred => self.state().durable_seq(),
                        }
                        .saturating_sub(u64::from(b >> 4)),
                    };
                    self.step(Input::Persisted { seq });
                } else {
                    self.fsync(usize::from(b >> 2) + 1);
                }
            }
            7 => {
                let b = r.u8();
                if b & 3 == 0 {
                    let applied = self.state().applied();
                    let index = applied.plus(1 + u64::from(b >> 2));
                    self.step(Input::Captured { index });
                } else {
                    self.capture();
                }
            }
            8 => {
                if r.u8() % 4 == 0 {
                    self.step(Input::StorageFailed);
                    // The node stays halted for a few inputs, then is rebuilt.
                    let mut n = r.u8() % 4;
                    while n > 0 {
                        self.step(Input::Tick);
                        n -= 1;
                    }
                }
                self.crash_and_restore();
            }
            _ => {
                let len = usize::from(r.u8()) % 48;
                let frame = r.bytes(len).to_vec();
                self.step(Input::Frame(&frame));
            }
        }
    }

    /// Makes the oldest `count` pending writes durable and reports the last one.
    fn fsync(&mut self, count: usize) {
        let mut last = None;
        for _ in 0..count {
            let Some(w) = self.node.pending.pop_front() else {
                break;
            };
            self.node.make_durable(&w);
            last = Some(w.seq);
        }
        if let Some(seq) = last {
            self.step(Input::Persisted { seq });
        }
    }

    /// The state machine captures its applied state durably and tells the core.
    fn capture(&mut self) {
        let at = self.node.machine.applied;
        if at <= self.node.snapshot.0.applied || self.state().is_halted() {
            return;
        }
        let Some(term) = self.node.store.term(at) else {
            self.fail("the applied entry is not in the store")
        };
        self.node.snapshot = (self.node.machine.clone(), term);
        self.step(Input::Captured { index: at });
    }

    /// Crash: only what was durable survives; restore from it at once.
    fn crash_and_restore(&mut self) {
        if self.trace {
            std::println!("crash; restore from the durable state");
        }
        let node = &mut self.node;
        node.state = None;
        node.pending.clear();
        node.store = node.durable.clone();
        node.machine = node.snapshot.0.clone();
        node.incarnation += 1;
        let restored = Restored {
            hard_state: node.durable_hs,
            commit: node.durable_commit,
            base: (node.durable.base(), node.durable.base_term()),
            applied: node.snapshot.0.applied,
            members: None,
        };
        match FuzzNode::restore(self.cfg, &self.voters, restored, &node.durable) {
            Ok(s) => {
                if s.hard_state() != node.durable_hs || s.last_index() != node.durable.last_index()
                {
                    let msg = format!("restore from {restored:?} gave {:?}", View::of(&s));
                    node.state = Some(s);
                    self.fail(&msg);
                }
                self.prev = View::of(&s);
                node.state = Some(s);
                self.max_seq = 0;
                self.last_read = None;
            }
            Err(e) => {
                let msg = format!(
                    "restore from what was durable failed ({e}): {restored:?}, durable log {:?}",
                    node.durable
                        .entries()
                        .iter()
                        .map(|e| e.term.0)
                        .collect::<Vec<_>>()
                );
                self.fail(&msg)
            }
        }
    }

    /// The documented driver error `input` must give, if any.
    fn expected_error(&self, input: &Input<'_>) -> Option<StepError> {
        let s = self.state();
        if s.is_halted() {
            return Some(StepError::Halted);
        }
        match *input {
            Input::Persisted { seq } if seq > self.max_seq => Some(StepError::UnknownPersistSeq),
            Input::Captured { index } if index > s.applied() => {
                Some(StepError::CaptureBeyondApplied)
            }
            Input::Read { id } if self.last_read.is_some_and(|l| id <= l) => {
                Some(StepError::ReadIdNotIncreasing)
            }
            _ => None,
        }
    }

    /// Steps the node, checks the outputs and the invariants, and performs the outputs.
    fn step(&mut self, input: Input<'_>) {
        self.steps += 1;
        let want_err = self.expected_error(&input);
        let before = View::of(self.state());
        let mut out = NodeOutputs::new();
        let r = match self.node.state.as_mut() {
            Some(s) => s.step(input, &mut out),
            None => unreachable!("the single-node harness restores at once after a crash"),
        };
        let s = self.state();
        if self.trace {
            std::println!("step {}: {input:?} -> {r:?} {out:?}", self.steps);
        }
        if s.stats().output_overflow != 0 {
            self.fail(&format!("outputs overflowed on {input:?}: {out:?}"));
        }
        match (r, want_err) {
            (Err(e), Some(w)) if e == w => {
                let pending_work_only = out
                    .iter()
                    .all(|o| matches!(o, Output::Apply { .. } | Output::Compact { .. }));
                let changed = !out.is_empty() || View::of(s) != before;
                if changed && (STRICT_ERROR_STEPS || !pending_work_only) {
                    self.fail(&format!(
                        "driver error {e} on {input:?} changed the node or emitted {out:?}"
                    ));
                }
                // Known bug: the step still did its pending work; perform it to stay in step.
                self.perform(&input, &out);
                self.prev = View::of(self.state());
                return;
            }
            (Ok(()), None) => {}
            (r, w) => self.fail(&format!("{input:?} gave {r:?}, documented {w:?}")),
        }
        if matches!(input, Input::StorageFailed) {
            if !out.is_empty() || !s.is_halted() {
                self.fail("a storage failure must halt the node and emit nothing");
            }
            return;
        }
        self.check_outputs(&input, &before, &out);
        self.perform(&input, &out);
        self.check_view(&input);
    }

    /// Shape of one step's outputs: one `Persist` at most, first, with the next sequence
    /// number and the current hard state; one `Proposal` exactly when proposing.
    fn check_outputs(&mut self, input: &Input<'_>, before: &View, out: &NodeOutputs) {
        self.note_members();
        let s = self.state();
        let mut proposals = 0;
        for (k, o) in out.iter().enumerate() {
            match o {
                Output::Persist(p) => {
                    if k != 0 {
                        self.fail(&format!("Persist is not the first output: {out:?}"));
                    }
                    if p.seq != self.max_seq + 1 {
                        self.fail(&format!("Persist seq {} after {}", p.seq, self.max_seq));
                    }
                    if p.hard_state.is_some_and(|h| h != s.hard_state()) {
                        self.fail(&format!("Persist {p:?} is not the node's hard state"));
                    }
                }
                Output::Proposal(p) => {
                    proposals += 1;
                    if let Input::ChangeMembership { data } = input {
                        self.check_change_answer(p, data, before);
                        continue;
                    }
                    let Input::Propose { data } = input else {
                        self.fail(&format!("a Proposal answer without a proposal: {out:?}"))
                    };
                    let too_large = data.len() > self.cfg.max_payload() as usize;
                    let ok = match p {
                        Proposal::NotLeader { .. } => before.role != Role::Leader,
                        Proposal::TooLarge => before.role == Role::Leader && too_large,
                        Proposal::Busy => before.role == Role::Leader && !too_large,
                        Proposal::Refused(_) => false,
                        Proposal::Accepted { index, term } => {
                            before.role == Role::Leader
                                && !too_large
                                && *term == s.term()
                                && *index == before.last.next()
                                && s.term_at(*index) == Some(*term)
                        }
                    };
                    if !ok {
                        self.fail(&format!("answer {p:?} to a proposal of {}", data.len()));
                    }
                }
                _ => {}
            }
        }
        if let Some(Output::Persist(p)) = out.first() {
            self.max_seq = p.seq;
        }
        let want = usize::from(matches!(
            input,
            Input::Propose { .. } | Input::ChangeMembership { .. }
        ));
        if proposals != want {
            self.fail(&format!("{proposals} proposal answers: {out:?}"));
        }
    }

    /// The answer to a membership change: only a leader accepts, refuses or is busy; a
    /// malformed one is refused as such; an accepted one is in force at once at its index.
    fn check_change_answer(&self, p: &Proposal, data: &[u8], before: &View) {
        let s = self.state();
        let parsed = Membership::decode(data);
        let ok = match p {
            Proposal::NotLeader { .. } => before.role != Role::Leader,
            Proposal::TooLarge => false,
            Proposal::Busy => before.role == Role::Leader,
            Proposal::Refused(MembershipRefusal::Malformed) => parsed.is_err(),
            Proposal::Refused(_) => before.role == Role::Leader && parsed.is_ok(),
            Proposal::Accepted { index, term } => {
                before.role == Role::Leader
                    && *index == before.last.next()
                    && *term == s.term()
                    && parsed.as_ref().ok() == Some(s.membership())
                    && s.membership_index() == *index
            }
        };
        if !ok {
            self.fail(&format!("answer {p:?} to a membership change {parsed:?}"));
        }
    }

    /// Performs the outputs in order on the simulated node, checking each.
    fn perform(&mut self, input: &Input<'_>, out: &NodeOutputs) {
        for o in out.iter() {
            match o {
                Output::Persist(p) => {
                    if let Err(e) = persist_entries(&mut self.node.store, p, input) {
                        self.fail(&format!("performing {p:?} failed: {e}"));
                    }
                    let w = self.node.record_write(p);
                    match self.cfg.durability {
                        Durability::Inline => {
                            self.node.make_durable(&w);
                        }
                        Durability::Deferred => self.node.pending.push_back(w),
                    }
                }
                Output::Send { to, msg } => self.check_send(*to, msg),
                Output::Apply { first, last } => {
                    let s = self.state();
                    if *first != self.node.machine.applied.next()
                        || last < first
                        || *last > s.commit()
                        || *last > s.durable_index()
                    {
                        self.fail(&format!(
                            "Apply {first}..={last} after {}, commit {}, durable {}",
                            self.node.machine.applied,
                            s.commit(),
                            s.durable_index()
                        ));
                    }
                    let mut i = *first;
                    while i <= *last {
                        if self.node.apply(i).is_none() {
                            self.fail(&format!("Apply {i}: not in the store"));
                        }
                        i = i.next();
                    }
                }
                Output::Compact { upto } => {
                    if *upto > self.node.snapshot.0.applied || *upto > self.state().applied() {
                        self.fail(&format!("Compact {upto} beyond the capture"));
                    }
                    self.node.store.compact_to(*upto);
                    self.node.durable.compact_to(*upto);
                }
                Output::RoleChanged { .. } | Output::CaptureWanted { .. } | Output::Proposal(_) => {
                }
                Output::Read(r) => {
                    let upto = match r {
                        ReadResult::Ready { upto, .. } | ReadResult::Failed { upto, .. } => *upto,
                    };
                    let issued = match input {
                        Input::Read { id } => Some(*id),
                        _ => self.last_read,
                    };
                    if issued.is_none_or(|l| upto > l) {
                        self.fail(&format!("{r:?} answers a read never issued"));
                    }
                }
                // Snapshot chunks and installs: the single node has no snapshot store, so they
                // are not performed (the cluster target runs them end to end). A wildcard, so
                // this file builds before and after those variants land.
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
        if let Some(Output::RoleChanged { role, .. }) = out
            .iter()
            .rev()
            .find(|o| matches!(o, Output::RoleChanged { .. }))
        {
            if *role != self.state().role() {
                self.fail(&format!("last RoleChanged says {role}: {out:?}"));
            }
        }
    }

    /// Notes the members of every configuration the store holds, of the snapshot, and of the
    /// one in force (the store as the previous steps left it: before this step's `Persist`).
    fn note_members(&mut self) {
        let mut confs: Vec<Membership> = std::vec![*self.state().membership()];
        confs.extend(
            self.node
                .store
                .entries()
                .iter()
                .filter(|e| e.kind == EntryKind::Membership)
                .filter_map(|e| Membership::decode(&e.data).ok()),
        );
        confs.extend(self.node.snap_file.as_ref().map(|(m, _)| m.members));
        for m in &confs {
            for id in m.members() {
                if !self.members_seen.contains(&id) {
                    self.members_seen.push(id);
                }
            }
        }
    }

    /// A message may go out: to another member, initial or current (or to a leader it does
    /// not know: the log is taken from any leader; or a vote request to a node some earlier
    /// configuration named, which the core still tracks), within the frame cap, and
    /// acknowledging only what is durable (a vote grant names the durable vote).
    fn check_send(&self, to: NodeId, msg: &Message<EntryCount>) {
        let node = &self.node;
        let answers_leader = self.state().leader() == Some(to)
            || matches!(
                msg,
                Message::AppendResponse(_) | Message::SnapshotResponse(_)
            );
        let member = self.state().membership().kind_of(to).is_some()
            || (matches!(
                msg,
                Message::Vote(_) | Message::PreVote(_) | Message::TransferVote(_)
            ) && self.members_seen.contains(&to));
        if to == self.me() || !(self.voters.contains(&to) || member || answers_leader) {
            self.fail(&format!("send to {to}, not another member"));
        }
        match msg {
            Message::VoteResponse(r) if r.granted => {
                let hs = self.state().hard_state();
                let want = HardState {
                    term: r.term,
                    vote: Some(to),
                };
                if hs != want || node.durable_hs != want {
                    self.fail(&format!(
                        "vote grant {r:?} to {to}: hard state {hs:?}, durable {:?}",
                        node.durable_hs
                    ));
                }
            }
            Message::AppendResponse(r) if r.success => {
                let d = &node.durable;
                let ok = r.index <= d.base()
                    || (d.last_index() >= r.index && d.chain(r.index) == node.store.chain(r.index));
                if !ok || node.durable_hs.term < r.term {
                    self.fail(&format!("acknowledged {} before it was durable", r.index));
                }
            }
            _ => {}
        }
        let hdr = Header {
            cluster_id: self.cfg.cluster_id,
            from: self.me(),
            to,
        };
        let mut buf = std::vec![0u8; codec::MAX_FRAME_BYTES as usize];
        match codec::encode(&hdr, msg, &node.store, &mut buf) {
            Ok(n) if n <= self.cfg.max_frame_bytes as usize => {}
            Ok(n) => self.fail(&format!("{msg:?} is {n} bytes, over max_frame_bytes")),
            Err(e) => self.fail(&format!("encoding {msg:?} failed: {e}")),
        }
    }

    /// Invariants of the node after a step.
    fn check_view(&mut self, input: &Input<'_>) {
        let s = self.state();
        let v = View::of(s);
        let p = self.prev;
        let mut bad = None;
        if v.hs.term < p.hs.term {
            bad = Some("the term went back");
        } else if v.hs.term == p.hs.term && p.hs.vote.is_some() && v.hs.vote != p.hs.vote {
            bad = Some("the vote changed within a term");
        } else if v.commit < p.commit {
            bad = Some("the commit index went back");
        } else if v.commit > v.last {
            bad = Some("commit beyond the last index");
        } else if v.applied > v.commit {
            bad = Some("applied beyond commit");
        } else if v.applied > v.durable || v.durable > v.last {
            bad = Some("applied beyond durable, or durable beyond the log");
        } else if v.applied != self.node.machine.applied {
            bad = Some("applied differs from what was handed out");
        } else if v.role == Role::Leader && v.leader != Some(self.me()) {
            bad = Some("a leader that does not know it leads");
        } else if self.node.store.last_index() != v.last {
            bad = Some("the store and the core disagree on the last index");
        } else if v.halted {
            bad = Some("halted without a storage failure");
        }
        let mut i = v.first;
        while bad.is_none() && i <= v.last {
            if self.node.store.term(i) != s.term_at(i) {
                bad = Some("the store and the core disagree on a term");
            }
            i = i.next();
        }
        if let Some(what) = bad {
            self.fail(&format!("{what} on {input:?}: before {p:?}"));
        }
        self.prev = v;
    }
}

/// One node fed an input sequence decoded from `data`, with its node-local invariants
/// checked after every step (see the module docs). Panics on a violation.
pub fn single_node(data: &[u8]) {
    let mut r = Reader { data };
    let mut h = Harness::new(&mut r);
    let mut n = 0;
    while !r.is_empty() && n < MAX_OPS {
        h.op(&mut r);
        n += 1;
    }
}

// ------------------------------------------------------------------------------------------
// Target 3: a whole cluster on a schedule from the bytes.
// ------------------------------------------------------------------------------------------

/// The cluster type of the cluster target: up to 5 voters, an 8-entry window, 2 appends in
/// flight.
pub type FuzzCluster = Cluster<5, 8, 2>;

/// At most this many actions per case.
pub const MAX_ACTIONS: usize = 2000;

/// Bytes of one record of the simulator's 12-byte proposals.
const SIM_RECORD: u32 = 12 + codec::ENTRY_OVERHEAD;

/// Whether the cluster target runs with tiny `log_bytes` budgets. (It was off while
/// uncommitted entries of earlier terms could fill the byte budget so that a new leader had no
/// room for its empty entry; proposals now keep those bytes free, see `known_bugs.rs`.)
pub const FUZZ_BYTE_BUDGET: bool = true;

/// Rounds of a healed network within which the cluster must settle.
pub const SETTLE_ROUNDS: u32 = 300;

impl Action {
    /// Decodes one action from the front of `data`, returning it and the rest; `None` when
    /// `data` is empty. The first byte picks the action (ticks and deliveries most often) and
    /// its node; some actions read more bytes (a frame index, a partition, garbage bits).
    pub fn from_bytes(data: &[u8]) -> Option<(Action, &[u8])> {
        let mut r = Reader { data };
        if r.is_empty() {
            return None;
        }
        let b = r.u8();
        let node = b % 8;
        let a = match b {
            0..=55 => Action::Tick(node),
            56..=63 => Action::Elapse(node),
            64..=127 => Action::Deliver(u16::from(r.u8())),
            128..=143 => Action::Drop(u16::from(r.u8())),
            144..=159 => Action::Duplicate(u16::from(r.u8())),
            160..=183 => Action::Propose(node),
            184..=199 => Action::Fsync(node),
            200..=207 => Action::Crash(node),
            208..=215 => Action::Restart(node),
            216..=219 => Action::Reboot(node),
            220..=227 => {
                // One bit per directed link among the first five nodes.
                let bits = u32::from(r.u16()) | u32::from(r.u8()) << 16;
                let mut mask = 0u64;
                let mut k = 0;
                for from in 0..5u64 {
                    for to in 0..5u64 {
                        if from != to {
                            if bits & 1 << k != 0 {
                                mask |= 1 << (from * 8 + to);
                            }
                            k += 1;
                        }
                    }
                }
                Action::Partition(mask)
            }
            228..=231 => Action::Partition(0),
            232..=243 => Action::Capture(node),
            244..=248 => Action::Garbage(node, r.u64()),
            249..=251 => Action::Read(node),
            252..=253 => Action::Member(node, r.u8()),
            _ => Action::Transfer(node, r.u8() % 8),
        };
        Some((a, r.data))
    }

    /// Decodes a whole schedule (at most [`MAX_ACTIONS`]).
    pub fn schedule_from_bytes(mut data: &[u8]) -> Vec<Action> {
        let mut v = Vec::new();
        while let Some((a, rest)) = Action::from_bytes(data) {
            v.push(a);
            data = rest;
            if v.len() >= MAX_ACTIONS {
                break;
            }
        }
        v
    }
}

/// A cluster fuzz case: the settings, the seed and the schedule. [`ClusterCase::to_rust`]
/// prints it as a regression test.
#[derive(Clone, Debug)]
pub struct ClusterCase {
    /// The simulation settings (tiny capacities).
    pub sim: SimConfig,
    /// The seed of every node's jitter.
    pub seed: u64,
    /// The schedule.
    pub actions: Vec<Action>,
}

impl ClusterCase {
    /// Decodes a case: four bytes of settings and seed, then the schedule.
    pub fn from_bytes(data: &[u8]) -> ClusterCase {
        let mut r = Reader { data };
        let b0 = r.u8();
        let b1 = r.u8();
        let seed = u64::from(r.u16());
        let election_ticks = 3 + u32::from(b1 % 6);
        // Room for snapshot chunks of 35 bytes (the chunk header names the membership).
        let max_frame_bytes = 160;
        let max_payload = codec::max_payload(max_frame_bytes);
        let sim = SimConfig {
            nodes: if b0 & 1 == 0 { 3 } else { 5 },
            // Five nodes start as three voters: two wait to be added.
            initial_voters: 3,
            durability: if b0 & 2 == 0 {
                Durability::Inline
            } else {
                Durability::Deferred
            },
            max_frame_bytes,
            max_inflight_msgs: 1 + u32::from(b0 >> 2 & 1),
            max_uncommitted: 1 + u32::from(b0 >> 3 & 3),
            max_apply: 1 + u32::from(b0 >> 5 & 1),
            // Near the least `Config` allows (one maximum entry and the empty entries
            // proposals keep room for) plus 0 to 3 proposals: the byte budget fills long
            // before the 8-entry window. (A full byte budget once never asked for a capture
            // and wedged the cluster: known_bugs.rs.) Two more empty entries of room than the
            // least: at the least, three leaders in a row that commit nothing fill the log for
            // good, the limit the crate docs name (found by this target once membership
            // entries took their share of the bytes).
            log_bytes: if FUZZ_BYTE_BUDGET {
                max_payload + 5 * codec::ENTRY_OVERHEAD + SIM_RECORD * u32::from(b0 >> 6)
            } else {
                64 * 1024
            },
            pre_vote: b1 & 0x40 == 0,
            check_quorum: b1 & 0x80 == 0,
            election_ticks,
            heartbeat_ticks: 1 + u32::from(b1 >> 3 & 1),
            // One settings value in four (a value neither saved regression has).
            large_proposals: b1 >> 4 & 3 == 2,
        };
        ClusterCase {
            sim,
            seed,
            actions: Action::schedule_from_bytes(r.data),
        }
    }

    /// Runs the schedule with every safety property checked after every step, then heals
    /// the network and requires a settled cluster that commits a new write. Returns the
    /// rounds the healing took.
    pub fn run(&self) -> Result<u32, String> {
        let mut c = FuzzCluster::new(self.sim, self.seed)?;
        for (k, &a) in self.actions.iter().enumerate() {
            c.act(a).map_err(|e| format!("action {k} ({a:?}): {e}"))?;
        }
        c.heal_and_settle(SETTLE_ROUNDS)
            .map_err(|e| format!("after the schedule, liveness: {e}"))
    }

    /// The case as a Rust test that replays it: paste it into `raft-core/tests/` to keep a
    /// failure as a regression test.
    pub fn to_rust(&self) -> String {
        let s = &self.sim;
        let mut src = String::from(
            "#[test]\nfn fuzz_cluster_regression() {\n    \
             use raft_core::sim::fuzz::ClusterCase;\n    \
             use raft_core::sim::{Action::*, SimConfig};\n    \
             use raft_core::Durability;\n    \
             let case = ClusterCase {\n",
        );
        src.push_str(&format!(
            "        sim: SimConfig {{\n            nodes: {},\n            initial_voters: {},\n            durability: \
             Durability::{:?},\n            max_frame_bytes: {},\n            \
             max_inflight_msgs: {},\n            max_uncommitted: {},\n            max_apply: \
             {},\n            log_bytes: {},\n            pre_vote: {},\n            \
             check_quorum: {},\n            election_ticks: {},\n            heartbeat_ticks: \
             {},\n            large_proposals: {},\n        }},\n        seed: {},\n        \
             actions: vec![\n",
            s.nodes,
            s.initial_voters,
            s.durability,
            s.max_frame_bytes,
            s.max_inflight_msgs,
            s.max_uncommitted,
            s.max_apply,
            s.log_bytes,
            s.pre_vote,
            s.check_quorum,
            s.election_ticks,
            s.heartbeat_ticks,
            s.large_proposals,
            self.seed
        ));
        for line in self.actions.chunks(6) {
            let items: Vec<String> = line.iter().map(|a| format!("{a:?}")).collect();
            src.push_str(&format!("            {},\n", items.join(", ")));
        }
        src.push_str(
            "        ],\n    };\n    if let Err(e) = case.run() {\n        \
             panic!(\"{e}\");\n    }\n}\n",
        );
        src
    }
}

/// A cluster run on the case decoded from `data` (see [`ClusterCase::from_bytes`]); panics
/// on any violated property, printing the case as a Rust regression test.
pub fn cluster(data: &[u8]) {
    let case = ClusterCase::from_bytes(data);
    if let Err(e) = case.run() {
        panic!(
            "cluster fuzz case failed: {e}\n--- regression test ---\n{}",
            case.to_rust()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn empty_and_short_inputs_are_valid_cases() {
        for data in [&[][..], &[0], &[1, 2, 3], &[255; 40]] {
            frame_roundtrip(data);
            single_node(data);
            cluster(data);
        }
    }

    #[test]
    fn every_action_kind_decodes() {
        let mut kinds = std::collections::BTreeSet::new();
        for b in 0..=255u8 {
            let (a, _) = Action::from_bytes(&[b, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
            kinds.insert(format!("{a:?}").split('(').next().unwrap().to_string());
        }
        assert_eq!(kinds.len(), 16, "{kinds:?}");
    }

    #[test]
    fn a_printed_case_names_every_action() {
        let case =
            ClusterCase::from_bytes(&[0, 0, 1, 0, 3, 70, 1, 161, 245, 1, 2, 3, 4, 5, 6, 7, 8]);
        let src = case.to_rust();
        assert!(
            src.contains("Tick(3), Deliver(1), Propose(1), Garbage(5, "),
            "{src}"
        );
    }

    #[test]
    fn random_bytes_run_clean() {
        let mut rng = crate::sim::SimRng::new(1);
        for len in [16usize, 64, 256, 1024] {
            for _ in 0..20 {
                let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                frame_roundtrip(&data);
                single_node(&data);
                cluster(&data);
            }
        }
    }
}
