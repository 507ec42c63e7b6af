//! The driver engine performs a step's outputs in the contract's order and feeds back what the
//! contract requires: checked here through seams that record every call.

use std::cell::RefCell;
use std::rc::Rc;

use raftcore::codec::{EntryRef, EntrySource};
use raftcore::engine::{
    ChunkAt, Events, NoSnapshots, Outgoing, Snapshots, StateMachine, Transport,
};
use raftcore::output::ReadResult;
use raftcore::{
    Config, ConfigError, Durability, Engine, EngineError, HardState, Input, LogIndex, LogSlot,
    LogStore, NodeId, Proposal, Restored, RingStore, Role, SnapshotMeta, SnapshotPoint, State,
    StepError, StoreError, Term,
};

const IDS: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];

/// Every seam call of one node, in order.
type Journal = Rc<RefCell<Vec<String>>>;

/// Frames in flight: (from, to, bytes).
type Frames = Rc<RefCell<Vec<(NodeId, NodeId, Vec<u8>)>>>;

/// The log: a RAM ring whose every call is journaled, and that can be made to fail.
struct Disk {
    log: RingStore<'static, 32>,
    journal: Journal,
    fail_next_sync: bool,
    synced: u32,
}

impl EntrySource for Disk {
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        self.log.entry(index)
    }
}

impl LogStore for Disk {
    fn append(&mut self, index: LogIndex, entry: EntryRef<'_>) -> Result<(), StoreError> {
        self.journal.borrow_mut().push(format!("append {index}"));
        self.log.append(index, entry)
    }
    fn truncate_from(&mut self, index: LogIndex) {
        self.log.truncate_from(index)
    }
    fn compact_to(&mut self, upto: LogIndex) {
        self.log.compact_to(upto)
    }
    fn last_index(&self) -> LogIndex {
        self.log.last_index()
    }
}

impl raftcore::engine::Storage for Disk {
    type Error = StoreError;
    fn save_hard_state(&mut self, hs: HardState, commit: LogIndex) -> Result<(), StoreError> {
        self.journal
            .borrow_mut()
            .push(format!("hard state {} commit {commit}", hs.term));
        Ok(())
    }
    fn sync(&mut self) -> Result<(), StoreError> {
        if std::mem::take(&mut self.fail_next_sync) {
            return Err(StoreError::Full);
        }
        self.synced += 1;
        self.journal.borrow_mut().push("sync".into());
        Ok(())
    }
}

/// Frames to deliver, (from, to, bytes).
struct Wire {
    from: NodeId,
    frames: Frames,
    journal: Journal,
}

impl Transport for Wire {
    type Error = StoreError;
    fn send<L: EntrySource + ?Sized>(&mut self, m: Outgoing<'_, L>) -> Result<(), StoreError> {
        let mut buf = [0u8; 512];
        let n = m.encode(&mut buf).expect("a frame fits");
        self.journal.borrow_mut().push(format!("send {}", m.to()));
        self.frames
            .borrow_mut()
            .push((self.from, m.to(), buf[..n].to_vec()));
        Ok(())
    }
}

/// The state machine: the commands applied, in order.
#[derive(Default)]
struct Applied {
    commands: Vec<(LogIndex, Vec<u8>)>,
    journal: Journal,
}

impl StateMachine for Applied {
    type Error = StoreError;
    fn apply(&mut self, index: LogIndex, e: EntryRef<'_>) -> Result<(), StoreError> {
        self.journal.borrow_mut().push(format!("apply {index}"));
        if !e.data.is_empty() {
            self.commands.push((index, e.data.to_vec()));
        }
        Ok(())
    }
}

/// What the application saw.
#[derive(Default)]
struct Seen {
    proposals: Vec<Proposal>,
    reads: Vec<ReadResult>,
    roles: Vec<(Role, Term)>,
}

impl Events for Seen {
    fn proposal(&mut self, p: Proposal) {
        self.proposals.push(p);
    }
    fn read(&mut self, r: ReadResult) {
        self.reads.push(r);
    }
    fn role_changed(&mut self, role: Role, term: Term, _: Option<NodeId>) {
        self.roles.push((role, term));
    }
}

type Node = Engine<State<3, 32, 4>, Disk, Wire, Applied, NoSnapshots<StoreError>>;

struct Cluster {
    nodes: Vec<Node>,
    frames: Frames,
    journals: Vec<Journal>,
    seen: Vec<Seen>,
}

/// Node `id`'s configuration in these tests: small frames and window, a 4 KiB log.
fn config(id: NodeId) -> Config {
    let mut cfg = Config::new(id, 11);
    cfg.max_frame_bytes = 256;
    cfg.max_inflight_bytes = 1024;
    cfg.log_bytes = RingStore::<32>::budget(4096, cfg.max_payload());
    cfg
}

fn cluster(durability: Durability) -> Cluster {
    let frames = Rc::new(RefCell::new(Vec::new()));
    let journals: Vec<Journal> = IDS.iter().map(|_| Journal::default()).collect();
    let nodes = IDS
        .iter()
        .zip(&journals)
        .map(|(&id, j)| {
            let mut cfg = config(id);
            cfg.durability = durability;
            let buf: &'static mut [u8] = Box::leak(vec![0u8; 4096].into_boxed_slice());
            let disk = Disk {
                log: RingStore::new(buf, LogIndex(0)),
                journal: j.clone(),
                fail_next_sync: false,
                synced: 0,
            };
            let wire = Wire {
                from: id,
                frames: frames.clone(),
                journal: j.clone(),
            };
            let machine = Applied {
                journal: j.clone(),
                ..Applied::default()
            };
            Engine::new(State::new(cfg, &IDS).unwrap(), disk, wire, machine)
        })
        .collect();
    Cluster {
        nodes,
        frames,
        journals,
        seen: IDS.iter().map(|_| Seen::default()).collect(),
    }
}

impl Cluster {
    fn step(&mut self, k: usize, input: Input<'_>) {
        self.nodes[k].step(input, &mut self.seen[k]).unwrap();
    }

    /// Delivers frames until none are left; flushes every node after each delivery round.
    fn deliver(&mut self) {
        loop {
            let batch: Vec<_> = self.frames.borrow_mut().drain(..).collect();
            for k in 0..3 {
                self.nodes[k].flush(&mut self.seen[k]).unwrap();
            }
            if batch.is_empty() && self.frames.borrow().is_empty() {
                return;
            }
            for (_, to, f) in batch {
                let k = (to.0 - 1) as usize;
                self.step(k, Input::Frame(&f));
            }
        }
    }

    fn elect(&mut self, k: usize) {
        for _ in 0..100 {
            self.step(k, Input::Tick);
            self.deliver();
            if self.nodes[k].state().role() == Role::Leader {
                return;
            }
        }
        panic!("no leader");
    }
}

/// Node 1 leads (inline durability) and `x=1` is committed at index 2 on every node.
fn x1_committed() -> Cluster {
    let mut c = cluster(Durability::Inline);
    c.elect(0);
    c.step(0, Input::Propose { data: b"x=1" });
    c.deliver();
    for _ in 0..3 {
        c.step(0, Input::Tick);
    }
    c.deliver();
    c
}

/// What node `k` restarts from after a power cycle that kept its log and hard state but not
/// its state machine: its hard state and commit, the log from the start, nothing applied.
fn restored_as_is(c: &Cluster, k: usize) -> Restored {
    Restored {
        hard_state: c.nodes[k].state().hard_state(),
        commit: c.nodes[k].state().commit(),
        base: (LogIndex(0), Term(0)),
        applied: LogIndex(0),
        members: None,
        vote_floor: LogIndex::ZERO,
    }
}

fn leader_proposed(durability: Durability) -> (Cluster, Vec<u8>) {
    let mut c = cluster(durability);
    c.elect(0);
    c.step(0, Input::Propose { data: b"x=1" });
    let frames: Vec<_> = c.frames.borrow_mut().drain(..).collect();
    let to_2 = frames.into_iter().find(|f| f.1 == NodeId(2));
    (c, to_2.expect("an append to node 2").2)
}

#[test]
fn three_nodes_commit_through_the_engine_with_inline_durability() {
    let mut c = cluster(Durability::Inline);
    c.elect(0);
    c.step(0, Input::Propose { data: b"x=1" });
    assert!(matches!(
        c.seen[0].proposals.last(),
        Some(Proposal::Accepted { .. })
    ));
    c.deliver();
    for _ in 0..3 {
        c.step(0, Input::Tick);
    }
    c.deliver();
    for n in &c.nodes {
        assert_eq!(
            n.machine().commands,
            vec![(LogIndex(2), b"x=1".to_vec())],
            "node {}",
            n.state().id()
        );
    }
    assert_eq!(c.seen[0].roles.last(), Some(&(Role::Leader, Term(1))));
}

#[test]
fn a_persist_is_performed_and_synced_before_anything_else_of_its_step() {
    let (mut c, f) = leader_proposed(Durability::Inline);
    let j = c.journals[1].clone();
    j.borrow_mut().clear();
    c.step(1, Input::Frame(&f));
    // The follower appends, syncs, and only then acknowledges.
    let log = j.borrow().clone();
    let append = log
        .iter()
        .position(|l| l.starts_with("append"))
        .unwrap_or_else(|| panic!("appended: {log:?}"));
    let sync = log.iter().position(|l| l == "sync").expect("synced");
    let send = log
        .iter()
        .position(|l| l == "send n1")
        .expect("acknowledged");
    assert!(append < sync && sync < send, "{log:?}");
}

#[test]
fn deferred_durability_holds_acknowledgements_until_flush() {
    let (mut c, f) = leader_proposed(Durability::Deferred);
    let j = c.journals[1].clone();
    j.borrow_mut().clear();
    c.step(1, Input::Frame(&f));
    assert!(
        c.nodes[1].unsynced().is_some(),
        "the write waits for a flush"
    );
    assert!(
        !j.borrow().iter().any(|l| l.starts_with("send")),
        "no acknowledgement before the write is durable: {:?}",
        j.borrow()
    );
    c.nodes[1].flush(&mut c.seen[1]).unwrap();
    let log = j.borrow().clone();
    let sync = log.iter().position(|l| l == "sync").expect("synced");
    let send = log
        .iter()
        .position(|l| l == "send n1")
        .expect("acknowledged");
    assert!(sync < send, "{log:?}");
    assert!(c.nodes[1].unsynced().is_none());
}

#[test]
fn a_failed_sync_stops_the_node_and_every_later_step_is_refused() {
    let (mut c, f) = leader_proposed(Durability::Inline);
    c.nodes[1].storage_mut().fail_next_sync = true;
    let r = c.nodes[1].step(Input::Frame(&f), &mut c.seen[1]);
    assert_eq!(r, Err(EngineError::Driver(StoreError::Full)));
    assert!(c.nodes[1].state().is_halted());
    assert!(c.frames.borrow().is_empty(), "nothing acknowledged");
    let r = c.nodes[1].step(Input::Tick, &mut c.seen[1]);
    assert_eq!(r, Err(EngineError::Core(StepError::Halted)));
}

#[test]
fn reads_and_role_changes_reach_the_application() {
    let mut c = cluster(Durability::Deferred);
    c.elect(0);
    c.step(0, Input::Propose { data: b"x=1" });
    c.deliver();
    c.step(0, Input::Read { id: 1 });
    c.deliver();
    let commit = c.nodes[0].state().commit();
    assert_eq!(
        c.seen[0].reads,
        [ReadResult::Ready {
            upto: 1,
            index: commit
        }]
    );
    assert!(c.seen[1].roles.contains(&(Role::Follower, Term(1))));
}

/// A snapshot store that keeps the captured machine's commands in RAM.
#[derive(Default)]
struct RamSnapshots {
    held: Option<(SnapshotMeta, Vec<u8>)>,
    incoming: Vec<u8>,
    /// Hold every install back (`Snapshots::hold_install`).
    hold: bool,
    /// The install held back.
    holding: Option<SnapshotMeta>,
}

fn checksum(b: &[u8]) -> u32 {
    b.iter().fold(0x811c_9dc5, |h, &x| {
        (h ^ u32::from(x)).wrapping_mul(0x0100_0193)
    })
}

impl Snapshots<Applied> for RamSnapshots {
    type Error = StoreError;
    fn capture(
        &mut self,
        m: &Applied,
        at: SnapshotPoint,
    ) -> Result<Option<SnapshotMeta>, Self::Error> {
        let bytes: Vec<u8> = m.commands.iter().flat_map(|c| c.1.clone()).collect();
        let meta = at.meta(bytes.len() as u64, checksum(&bytes));
        self.held = Some((meta, bytes));
        Ok(Some(meta))
    }
    fn read_chunk(&mut self, at: ChunkAt<'_>, len: u32) -> Result<Option<&[u8]>, StoreError> {
        let start = at.offset as usize;
        Ok(self
            .held
            .as_ref()
            .and_then(|(m, b)| (m == at.meta).then(|| &b[start..start + len as usize])))
    }
    fn write_chunk(&mut self, at: ChunkAt<'_>, data: &[u8]) -> Result<(), StoreError> {
        let offset = at.offset;
        if offset == 0 {
            self.incoming.clear();
        }
        self.incoming.extend_from_slice(data);
        Ok(())
    }
    fn install(&mut self, meta: &SnapshotMeta, m: &mut Applied) -> Result<bool, StoreError> {
        let bytes = std::mem::take(&mut self.incoming);
        if checksum(&bytes) != meta.checksum || bytes.len() as u64 != meta.len {
            return Ok(false);
        }
        m.commands = vec![(meta.index, bytes.clone())];
        self.held = Some((*meta, bytes));
        Ok(true)
    }
    fn hold_install(&mut self, meta: &SnapshotMeta) -> bool {
        if self.hold {
            self.holding = Some(*meta);
        }
        self.hold
    }
}

type SnapNode = Engine<State<3, 32, 4>, Disk, Wire, Applied, RamSnapshots>;

/// Nodes with RAM snapshots, what each saw, and the frames between them.
struct SnapCluster {
    nodes: Vec<SnapNode>,
    seen: Vec<Seen>,
    frames: Frames,
}

impl SnapCluster {
    /// Flushes every node and delivers frames until none are left; frames to or from `down`
    /// are lost.
    fn deliver(&mut self, down: Option<usize>) {
        loop {
            for k in 0..3 {
                self.nodes[k].flush(&mut self.seen[k]).unwrap();
            }
            let batch: Vec<_> = self.frames.borrow_mut().drain(..).collect();
            if batch.is_empty() {
                return;
            }
            for (from, to, f) in batch {
                let (k, from) = ((to.0 - 1) as usize, (from.0 - 1) as usize);
                if down != Some(k) && down != Some(from) {
                    self.nodes[k]
                        .step(Input::Frame(&f), &mut self.seen[k])
                        .unwrap();
                }
            }
        }
    }
}

/// Three nodes under deferred durability; node 1 leads, wrote four commands while node 3 was
/// away, captured a snapshot at 5 and compacted its log, then ticked a heartbeat interval:
/// what it sends node 3 next streams the snapshot. Node 3's snapshot store holds installs
/// back if `hold`.
fn leader_compacted_past_node_3(hold: bool) -> (SnapCluster, SnapshotMeta) {
    let c = cluster(Durability::Deferred);
    let mut c = SnapCluster {
        frames: c.frames.clone(),
        seen: (0..3).map(|_| Seen::default()).collect(),
        nodes: c
            .nodes
            .into_iter()
            .map(|n| {
                let (state, disk, _, wire, machine) = n.into_parts();
                let snapshots = RamSnapshots {
                    hold: hold && state.id() == IDS[2],
                    ..RamSnapshots::default()
                };
                Engine::with_snapshots(state, disk, snapshots, wire, machine)
            })
            .collect(),
    };
    while c.nodes[0].state().role() != Role::Leader {
        c.nodes[0].step(Input::Tick, &mut c.seen[0]).unwrap();
        c.deliver(Some(2));
    }
    for k in 0..4u8 {
        c.nodes[0]
            .step(
                Input::Propose {
                    data: &[b'a' + k; 20],
                },
                &mut c.seen[0],
            )
            .unwrap();
        c.deliver(Some(2));
    }
    let meta = c.nodes[0]
        .capture(&mut c.seen[0])
        .unwrap()
        .expect("captured");
    assert_eq!(meta.index, LogIndex(5));
    assert_eq!(c.nodes[0].state().first_index(), LogIndex(6), "compacted");
    for _ in 0..3 {
        c.nodes[0].step(Input::Tick, &mut c.seen[0]).unwrap();
    }
    (c, meta)
}

#[test]
fn a_lagging_follower_gets_the_snapshot_streamed_and_installed() {
    let (mut c, meta) = leader_compacted_past_node_3(false);
    // Node 3 comes back with an empty log: the snapshot streams to it.
    c.deliver(None);
    let n3 = &c.nodes[2];
    assert_eq!(n3.state().first_index(), LogIndex(6));
    assert_eq!(n3.state().applied(), LogIndex(5));
    assert_eq!(n3.snapshots().held.as_ref().map(|h| h.0), Some(meta));
    assert_eq!(n3.applied_membership(), &meta.members);
}

#[test]
fn a_held_install_waits_for_the_driver_and_then_installs_as_the_step_would_have() {
    let (mut c, meta) = leader_compacted_past_node_3(true);
    c.deliver(None);
    // Every chunk was written; the install waits, and so does the core.
    let n3 = &c.nodes[2];
    assert_eq!(n3.snapshots().holding, Some(meta));
    assert_eq!(n3.snapshots().held, None, "not installed");
    assert_eq!(n3.snapshots().incoming.len() as u64, meta.len);
    assert_eq!(
        (n3.state().first_index(), n3.state().applied()),
        (LogIndex(1), LogIndex(0))
    );
    assert!(n3.machine().commands.is_empty());
    // The driver installs it: the log is rebased and the leader hears of it.
    c.nodes[2].install_held(meta, &mut c.seen[2]).unwrap();
    let n3 = &c.nodes[2];
    assert_eq!(n3.state().first_index(), LogIndex(6));
    assert_eq!(n3.state().applied(), LogIndex(5));
    assert_eq!(n3.snapshots().held.as_ref().map(|h| h.0), Some(meta));
    assert_eq!(n3.applied_membership(), &meta.members);
    c.deliver(None);
    assert!(c.nodes[0].state().match_index(IDS[2]) >= Some(LogIndex(5)));
    // A second report of the same snapshot is a driver error.
    let r = c.nodes[2].install_held(meta, &mut c.seen[2]);
    assert_eq!(r, Err(EngineError::Core(StepError::SnapshotNotRequested)));
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

impl Cluster {
    /// One random event without ticks: deliver a random frame or flush a random node.
    /// Returns false when nothing is left to do.
    fn random_event(&mut self, rng: &mut Lcg) -> bool {
        let n = self.frames.borrow().len();
        let unsynced: Vec<usize> = (0..3)
            .filter(|&k| self.nodes[k].unsynced().is_some())
            .collect();
        if n == 0 && unsynced.is_empty() {
            return false;
        }
        if n > 0 && (unsynced.is_empty() || rng.below(2) == 0) {
            let i = rng.below(n as u64) as usize;
            let (from, to, f) = self.frames.borrow_mut().remove(i);
            let k = (to.0 - 1) as usize;
            if std::env::var("TRACE").is_ok() {
                let (_, m) = raftcore::codec::decode(&f).unwrap();
                println!("  deliver {from}->{to}: {m:?}");
            }
            self.nodes[k]
                .step(Input::Frame(&f), &mut self.seen[k])
                .unwrap();
        } else {
            let k = unsynced[rng.below(unsynced.len() as u64) as usize];
            if std::env::var("TRACE").is_ok() {
                println!("  flush n{}", k + 1);
            }
            self.nodes[k].flush(&mut self.seen[k]).unwrap();
        }
        true
    }
}

/// With the network quiet (nothing lost) every write commits without a tick, whatever the
/// interleaving of deliveries, group commits and heartbeats before it: measured as the ticks a
/// write needs on the leader after it is proposed, which must be 0. (A heartbeat answered
/// while an append's acknowledgement waited for its fsync used to replace that
/// acknowledgement with a smaller one, and about 1 write in 3,000 then waited a heartbeat
/// interval.) `SEED=n TRACE=1` prints one schedule's frames.
#[test]
fn a_write_commits_without_waiting_for_a_heartbeat() {
    let mut waits = 0;
    let mut writes = 0;
    let only: Option<u64> = std::env::var("SEED").ok().map(|s| s.parse().unwrap());
    for seed in 0..200u64 {
        if only.is_some_and(|o| o != seed) {
            continue;
        }
        let mut rng = Lcg(seed);
        let mut c = cluster(Durability::Deferred);
        c.elect(0);
        c.deliver();
        for w in 0..200u32 {
            // Some ticks and some random progress before the write.
            for _ in 0..rng.below(3) {
                c.step(0, Input::Tick);
            }
            for _ in 0..rng.below(6) {
                if !c.random_event(&mut rng) {
                    break;
                }
            }
            if c.nodes[0].state().role() != Role::Leader {
                break;
            }
            let data = w.to_le_bytes();
            if std::env::var("TRACE").is_ok() {
                println!("write {w}");
            }
            c.step(0, Input::Propose { data: &data });
            let Some(Proposal::Accepted { index, .. }) = c.seen[0].proposals.last().copied() else {
                continue;
            };
            writes += 1;
            while c.random_event(&mut rng) {}
            if c.nodes[0].state().applied() < index {
                waits += 1;
                if waits < 5 {
                    println!("seed {seed} write {w}: index {index} not applied (commit {}, applied {}) n2 last {} n3 last {}",
                        c.nodes[0].state().commit(), c.nodes[0].state().applied(), c.nodes[1].state().last_index(), c.nodes[2].state().last_index());
                }
                // Let a heartbeat finish it.
                for _ in 0..3 {
                    c.step(0, Input::Tick);
                }
                while c.random_event(&mut rng) {}
            }
        }
    }
    println!("{writes} writes, {waits} waited for a heartbeat");
    assert_eq!(waits, 0);
}

#[test]
fn an_engine_rebuilt_over_kept_storage_records_the_commit_that_grew_meanwhile() {
    let mut c = cluster(Durability::Inline);
    c.elect(0);
    c.step(0, Input::Propose { data: b"x=1" });
    c.deliver();
    // The leader learned the commit from the acknowledgements: nothing recorded it yet.
    let j = c.journals[0].clone();
    let recorded = |j: &Journal| {
        j.borrow()
            .iter()
            .rev()
            .find_map(|l| l.rsplit_once(" commit ").map(|(_, c)| c.to_string()))
    };
    let commit = c.nodes[0].state().commit();
    let before = recorded(&j).expect("a hard state was recorded");
    assert_ne!(before, commit.to_string());
    // Rebuild node 1's engine over its state and storage, as a driver that keeps them
    // between steps (the model checker) does, telling it the commit index recorded.
    let node = c.nodes.remove(0);
    let (state, disk, _, wire, machine) = node.into_parts();
    let mut node = Engine::new(state, disk, wire, machine);
    node.set_saved_commit(LogIndex(before.trim_start_matches('i').parse().unwrap()));
    c.nodes.insert(0, node);
    c.step(0, Input::Propose { data: b"y=2" });
    assert_eq!(recorded(&j), Some(commit.to_string()), "{:?}", j.borrow());
}

#[test]
fn an_engine_rebuilt_over_unsynced_writes_still_makes_them_durable_and_reports_them() {
    let (mut c, f) = leader_proposed(Durability::Deferred);
    c.step(1, Input::Frame(&f));
    let unsynced = c.nodes[1].unsynced();
    assert!(unsynced.is_some(), "the write waits for a flush");
    // Rebuild node 2's engine over its state and storage, telling it what is not durable:
    // the flush syncs it and sends the acknowledgement that waited.
    let node = c.nodes.remove(1);
    let (state, disk, _, wire, machine) = node.into_parts();
    let mut node = Engine::new(state, disk, wire, machine);
    node.set_unsynced(unsynced);
    c.nodes.insert(1, node);
    let synced = c.nodes[1].storage().synced;
    c.nodes[1].flush(&mut c.seen[1]).unwrap();
    assert_eq!(c.nodes[1].storage().synced, synced + 1);
    assert!(c.nodes[1].unsynced().is_none());
    assert!(
        c.frames.borrow().iter().any(|f| f.0 == NodeId(2)),
        "acknowledged"
    );
}

#[test]
fn a_restarted_engine_keeps_its_seams_and_applies_what_is_committed_again() {
    let mut c = x1_committed();
    let before = c.nodes[1].state().hard_state();
    let commit = c.nodes[1].state().commit();
    assert_eq!(commit, LogIndex(2));
    // Power cycle of node 2: its state machine was volatile; its log (and, under `Inline`,
    // its hard state) was durable.
    c.nodes[1].machine_mut().commands.clear();
    let restored = restored_as_is(&c, 1);
    assert_eq!((restored.hard_state, restored.commit), (before, commit));
    let cfg = config(IDS[1]);
    let state = State::restore(cfg, &IDS, restored, &c.nodes[1].storage().log).unwrap();
    c.nodes[1].restart(state);
    assert_eq!(c.nodes[1].state().hard_state(), before);
    assert_eq!(c.nodes[1].state().applied(), LogIndex(0));
    // The next step applies everything committed again, through the same seams.
    c.step(0, Input::Tick);
    c.deliver();
    for _ in 0..3 {
        c.step(0, Input::Tick);
    }
    c.deliver();
    assert_eq!(
        c.nodes[1].machine().commands,
        vec![(LogIndex(2), b"x=1".to_vec())]
    );
}

#[test]
fn a_restart_in_place_gives_the_state_a_restart_by_value_gives_and_a_failed_one_halts() {
    let mut c = x1_committed();
    let restored = restored_as_is(&c, 1);
    let cfg = config(IDS[1]);
    let by_value: State<3, 32, 4> =
        State::restore(cfg, &IDS, restored, &c.nodes[1].storage().log).unwrap();
    c.nodes[1]
        .restart_in_place(|state, disk| {
            state.restore_in_place(cfg, &IDS, restored, &disk.log, [LogSlot::EMPTY; 32])
        })
        .unwrap();
    // The same node, field by field (`State`'s `Debug` shows every field).
    assert_eq!(format!("{:?}", c.nodes[1].state()), format!("{by_value:?}"));
    c.step(1, Input::Tick);

    // A restore the disk cannot back (applied beyond the log) leaves the node halted, not
    // running on as the node it was before.
    let beyond = Restored {
        applied: LogIndex(9),
        ..restored
    };
    let e = c.nodes[2]
        .restart_in_place(|state, disk| {
            state.restore_in_place(cfg, &IDS, beyond, &disk.log, [LogSlot::EMPTY; 32])
        })
        .unwrap_err();
    assert_eq!(e, ConfigError::BadRestore);
    assert!(c.nodes[2].state().is_halted());
    assert!(matches!(
        c.nodes[2].step(Input::Tick, &mut c.seen[2]),
        Err(EngineError::Core(StepError::Halted))
    ));
    // So does one refused before the old node is replaced (applied below the log's base):
    // the leader does not lead on.
    let below = Restored {
        base: (LogIndex(2), Term(1)),
        ..restored
    };
    let mut cfg0 = cfg;
    cfg0.id = IDS[0];
    let e = c.nodes[0]
        .restart_in_place(|state, disk| {
            state.restore_in_place(cfg0, &IDS, below, &disk.log, [LogSlot::EMPTY; 32])
        })
        .unwrap_err();
    assert_eq!(e, ConfigError::BadRestore);
    assert!(c.nodes[0].state().is_halted());
}

#[test]
fn a_state_built_in_its_slot_is_the_one_restore_builds_and_an_engine_can_borrow_it() {
    let mut c = x1_committed();
    let restored = restored_as_is(&c, 1);
    let cfg = config(IDS[1]);
    let (_, disk, _, wire, _) = c.nodes.remove(1).into_parts();
    let log = &disk.log;
    let by_value: State<3, 32, 4> = State::restore(cfg, &IDS, restored, log).unwrap();
    let mut slot = std::mem::MaybeUninit::<State<3, 32, 4>>::uninit();
    let state = State::init_in(&mut slot, cfg, &IDS, restored, log, [LogSlot::EMPTY; 32]).unwrap();
    // The same node, field by field (`State`'s `Debug` shows every field).
    assert_eq!(format!("{state:?}"), format!("{by_value:?}"));

    // A restore the log cannot back (applied beyond it) is refused.
    let beyond = Restored {
        applied: LogIndex(9),
        ..restored
    };
    let mut bad = std::mem::MaybeUninit::uninit();
    let r = State::<3, 32, 4>::init_in(&mut bad, cfg, &IDS, beyond, log, [LogSlot::EMPTY; 32]);
    assert_eq!(r.map(|_| ()), Err(ConfigError::BadRestore));

    // An engine over the borrowed node steps it: it applies what was committed.
    let mut node = Engine::new(state, disk, wire, Applied::default());
    node.step(Input::Tick, &mut c.seen[1]).unwrap();
    assert_eq!(
        node.machine().commands,
        vec![(LogIndex(2), b"x=1".to_vec())]
    );
    assert_eq!(node.state().applied(), LogIndex(2));
}
