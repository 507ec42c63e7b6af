//! Target 2: one node, arbitrary inputs, node-local invariants after every step.

mod checks;
mod forge;
mod perform;

use std::cell::RefCell;
use std::rc::Rc;

use raftcore::engine::NoSnapshots;
use raftcore::{
    codec, Config, Durability, Engine, HardState, Input, LogIndex, LogStore, Membership,
    MembershipRefusal, NodeId, Role, State, Term, MEMBERSHIP_BYTES,
};

use super::Reader;
use crate::node::{Disk, Machine, SimError, SimMachine, SimStorage, SimTransport};
use perform::Call;

/// The node type of the single-node target: up to 3 voters, an 8-entry window, 2 appends in
/// flight (tiny, so every bound is hit).
pub type FuzzNode = State<3, 8, 2>;

/// The single node's engine: the simulator's log storage, transport (every frame checked and
/// encoded, then lost) and state machine; no snapshot store (the cluster target streams
/// snapshots end to end).
type NodeEngine = Engine<FuzzNode, SimStorage, SimTransport, SimMachine, NoSnapshots<SimError>>;

/// At most this many inputs per fuzz case (keeps one execution short).
const MAX_OPS: usize = 512;

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
    /// The configuration in force (a leave entry reads against it).
    membership: Membership,
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
            membership: *s.membership(),
        }
    }
}

/// The driver of the single-node target: a simulated node (an engine over the simulator's
/// seams, and its disk) plus what the checks remember between steps.
struct Harness {
    cfg: Config,
    voters: Vec<NodeId>,
    /// `None` only while a crash is being handled.
    engine: Option<NodeEngine>,
    /// The durable log, hard state, pending writes and capture.
    disk: Rc<RefCell<Disk>>,
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
        let machine = Machine {
            members: *state.membership(),
            ..Machine::default()
        };
        let disk = Rc::new(RefCell::new(Disk::new(machine.clone())));
        Harness {
            cfg,
            voters,
            engine: Some(Self::engine(cfg, state, machine, &disk)),
            disk,
            max_seq: 0,
            last_read: None,
            prev,
            steps: 0,
            trace: std::env::var_os("RAFT_FUZZ_TRACE").is_some(),
            members_seen: Vec::new(),
        }
    }

    /// The node's engine over a fresh set of seams on `disk`.
    fn engine(
        cfg: Config,
        state: FuzzNode,
        machine: Machine,
        disk: &Rc<RefCell<Disk>>,
    ) -> NodeEngine {
        let members = machine.members;
        let storage = SimStorage::new(cfg.id, disk.clone(), None);
        let transport = SimTransport::new(0, 0, cfg.max_frame_bytes, disk.clone());
        let machine = SimMachine::new(cfg.id, machine, None);
        let mut engine = Engine::new(state, storage, transport, machine);
        engine.set_applied_membership(members);
        engine
    }

    fn engine_ref(&self) -> &NodeEngine {
        match self.engine.as_ref() {
            Some(e) => e,
            None => unreachable!("the single-node harness restores at once after a crash"),
        }
    }

    /// The state machine.
    fn machine(&self) -> &Machine {
        &self.engine_ref().machine().machine
    }

    fn me(&self) -> NodeId {
        self.cfg.id
    }

    fn state(&self) -> &FuzzNode {
        self.engine_ref().state()
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "single_node step {}: {what}\nconfig {:?}\nview {:?}",
            self.steps,
            self.cfg,
            self.engine.as_ref().map(|e| View::of(e.state()))
        )
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
                let data = vec![op; len];
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
                if r.u8().is_multiple_of(4) {
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
            let Some((w, _)) = self.disk.borrow_mut().make_oldest_durable() else {
                break;
            };
            last = Some(w.seq);
        }
        if let Some(seq) = last {
            self.call(Call::Persisted(seq));
        }
    }

    /// The state machine captures its applied state durably and tells the core.
    fn capture(&mut self) {
        let at = self.machine().applied;
        if at <= self.disk.borrow().snapshot.0.applied || self.state().is_halted() {
            return;
        }
        let Some(term) = self.engine_ref().storage().store().term(at) else {
            self.fail("the applied entry is not in the store")
        };
        self.disk.borrow_mut().snapshot = (self.machine().clone(), term);
        self.step(Input::Captured { index: at });
    }

    /// Crash: only what was durable survives; restore from it at once.
    fn crash_and_restore(&mut self) {
        if self.trace {
            println!("crash; restore from the durable state");
        }
        self.engine = None;
        self.disk.borrow_mut().crash();
        // (No snapshot file: this node only captures; its restore names no membership.)
        let (restored, machine) = {
            let disk = self.disk.borrow();
            (disk.restored(), disk.snapshot.0.clone())
        };
        let result = FuzzNode::restore(
            self.cfg,
            &self.voters,
            restored,
            &self.disk.borrow().durable,
        );
        match result {
            Ok(s) => {
                let (hs, last) = {
                    let disk = self.disk.borrow();
                    (disk.hard_state, disk.durable.last_index())
                };
                self.prev = View::of(&s);
                let bad = s.hard_state() != hs || s.last_index() != last;
                let msg = format!("restore from {restored:?} gave {:?}", View::of(&s));
                self.engine = Some(Self::engine(self.cfg, s, machine, &self.disk));
                if bad {
                    self.fail(&msg);
                }
                self.max_seq = 0;
                self.last_read = None;
            }
            Err(e) => {
                let msg = format!(
                    "restore from what was durable failed ({e}): {restored:?}, durable log {:?}",
                    self.disk
                        .borrow()
                        .durable
                        .entries()
                        .iter()
                        .map(|e| e.term.0)
                        .collect::<Vec<_>>()
                );
                self.fail(&msg)
            }
        }
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
