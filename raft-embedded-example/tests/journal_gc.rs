//! A board's disk runs for ever: its journal collects a full half into the other, and after a
//! power cut at any program or erase (inside a collection too) a boot gives back exactly the
//! state before or after the operation that was cut (or, for an append that replaces the
//! log's tail, the tail dropped and the new entry not yet written), never less. Checked against a model of
//! what the disk was told, on the host (the same code the board runs).

use std::collections::BTreeMap;

use raft_embedded_example::board::NodeError;
use raft_embedded_example::board_node::{BoardDisk, Capture, BOARD_STORE};
use raft_embedded_example::journal::{Journal, JournalError, Rec, ERASE_UNIT, HEADER};
use raftcore::codec::EntrySource;
use raftcore::engine::Storage;
use raftcore::{
    HardState, Input, LogIndex, LogStore, NewEntries, NewEntriesFrom, NodeId, Persist, Term,
};

mod common;

use common::RamFlash;
use raft_embedded_example::rng::Rng;

/// 16 KiB: two halves of two erase units, so that collections come often.
const REGION: usize = 4 * ERASE_UNIT as usize;

/// What a boot must give back.
#[derive(Clone, Debug, PartialEq, Eq)]
struct View {
    hard: HardState,
    commit: LogIndex,
    base: (LogIndex, Term),
    capture: Capture,
    /// The log after `base`: index, term and payload.
    entries: Vec<(u64, u64, Vec<u8>)>,
}

/// What the disk was told, as a boot should see it.
#[derive(Clone, Debug)]
struct Model {
    hard: HardState,
    commit: LogIndex,
    base: (LogIndex, Term),
    capture: Capture,
    log: BTreeMap<u64, (u64, Vec<u8>)>,
}

impl Model {
    fn new() -> Model {
        Model {
            hard: HardState::default(),
            commit: LogIndex::ZERO,
            base: (LogIndex::ZERO, Term(0)),
            capture: Capture::default(),
            log: BTreeMap::new(),
        }
    }

    fn last(&self) -> LogIndex {
        LogIndex(
            self.log
                .keys()
                .next_back()
                .copied()
                .unwrap_or(self.base.0 .0),
        )
    }

    /// The model of a disk that booted to `view`.
    fn from_view(view: &View) -> Model {
        Model {
            hard: view.hard,
            commit: view.commit,
            base: view.base,
            capture: view.capture,
            log: view
                .entries
                .iter()
                .map(|(i, t, d)| (*i, (*t, d.clone())))
                .collect(),
        }
    }

    /// Where an append goes: over the last entry if it replaces it, else after it.
    fn append_at(&self, replace: bool) -> LogIndex {
        let last = self.last();
        if replace {
            last
        } else {
            last.next()
        }
    }

    fn view(&self) -> View {
        View {
            hard: self.hard,
            commit: self.commit.min(self.last()).max(self.capture.index),
            base: self.base,
            capture: self.capture,
            entries: self
                .log
                .iter()
                .map(|(i, (t, d))| (*i, *t, d.clone()))
                .collect(),
        }
    }
}

/// Boots a disk on a copy of `flash` (with no power budget) and reads back its view.
fn boot_view(flash: &RamFlash) -> Result<View, JournalError> {
    let ring: &'static mut [u8; BOARD_STORE] = Box::leak(Box::new([0; BOARD_STORE]));
    let (disk, restored, _) = BoardDisk::open(ring, RamFlash::from_bytes(flash.bytes()))?;
    assert_eq!(restored.applied, disk.capture().index);
    let mut entries = Vec::new();
    let mut i = restored.base.0.next();
    while i <= disk.last_index() {
        let e = disk.entry(i).expect("the ring holds its whole log");
        entries.push((i.0, e.term.0, e.data.to_vec()));
        i = i.next();
    }
    Ok(View {
        hard: restored.hard_state,
        commit: restored.commit,
        base: restored.base,
        capture: disk.capture(),
        entries,
    })
}

/// One thing a node tells its disk.
#[derive(Clone, Debug)]
enum Op {
    /// Append one entry of `term` (a new leader's entry replaces the uncommitted tail).
    Append {
        term: u64,
        data: Vec<u8>,
        truncate: bool,
    },
    Hard {
        term: u64,
        commit: u64,
    },
    Capture,
    Compact {
        upto: u64,
    },
}

/// A node's life: `writes` writes, a new term every 97 (whose first entry replaces the last
/// uncommitted one), the commit two behind, a capture and a compaction that leaves the last
/// ten entries whenever 100 are held.
fn life(writes: u64) -> Vec<Op> {
    let mut ops = Vec::new();
    let (mut term, mut last, mut base) = (1u64, 0u64, 0u64);
    for w in 1..=writes {
        let truncate = w % 97 == 0 && last > base + 2;
        if truncate {
            term += 1;
            last -= 1;
        }
        let len = 1 + (w % 12) as usize;
        let data = (0..len).map(|k| (w as u8).wrapping_add(k as u8)).collect();
        ops.push(Op::Append {
            term,
            data,
            truncate,
        });
        last += 1;
        ops.push(Op::Hard {
            term,
            commit: last.saturating_sub(2),
        });
        if last - base >= 100 {
            ops.push(Op::Capture);
            base = last - 10;
            ops.push(Op::Compact { upto: base });
        }
    }
    ops
}

/// Performs `op` on the disk, then on the model if the disk took it.
fn perform(disk: &mut BoardDisk<RamFlash>, model: &mut Model, op: &Op) -> Result<(), NodeError> {
    tell_disk(disk, model, op)?;
    tell_model(model, op);
    Ok(())
}

/// The disk's side of `op`, for a disk whose state is `model`'s.
fn tell_disk(disk: &mut BoardDisk<RamFlash>, model: &Model, op: &Op) -> Result<(), NodeError> {
    match op {
        Op::Append {
            term,
            data,
            truncate,
        } => {
            let index = model.append_at(*truncate);
            let persist = Persist {
                seq: 0,
                hard_state: None,
                commit: model.commit,
                truncate_from: truncate.then_some(index),
                entries: Some(NewEntries {
                    first: index,
                    count: 1,
                    from: NewEntriesFrom::Proposal { term: Term(*term) },
                }),
            };
            disk.persist(&persist, &Input::Propose { data })
        }
        Op::Hard { term, commit } => disk.save_hard_state(hard(*term), LogIndex(*commit)),
        Op::Capture => disk.save_capture(capture_of(model)),
        Op::Compact { upto } => disk.compact(LogIndex((*upto).min(model.capture.index.0))),
    }
}

/// The model's side of `op`.
fn tell_model(model: &mut Model, op: &Op) {
    match op {
        Op::Append {
            term,
            data,
            truncate,
        } => {
            let index = model.append_at(*truncate);
            model.log.split_off(&index.0);
            model.log.insert(index.0, (*term, data.clone()));
        }
        Op::Hard { term, commit } => {
            model.hard = hard(*term);
            model.commit = LogIndex(*commit);
        }
        Op::Capture => model.capture = capture_of(model),
        Op::Compact { upto } => {
            let upto = (*upto).min(model.capture.index.0);
            let term = model.log[&upto].0;
            model.log = model.log.split_off(&(upto + 1));
            model.base = (LogIndex(upto), Term(term));
        }
    }
}

fn hard(term: u64) -> HardState {
    HardState {
        term: Term(term),
        vote: Some(NodeId(1)),
    }
}

/// The capture of this test's digest at the commit index (its counts made up from it).
fn capture_of(model: &Model) -> Capture {
    let index = model.commit;
    Capture {
        index,
        term: Term(model.log[&index.0].0),
        values: index.0 as u32,
        last: index.0 as u32 * 3,
    }
}

fn open(flash: &RamFlash) -> BoardDisk<RamFlash> {
    let ring: &'static mut [u8; BOARD_STORE] = Box::leak(Box::new([0; BOARD_STORE]));
    BoardDisk::open(ring, flash.clone())
        .expect("a new region")
        .0
}

#[test]
fn a_board_disk_outlives_its_window_and_its_flash_half_and_reboots_whole_after_each_step() {
    let flash = RamFlash::new(REGION);
    let mut disk = open(&flash);
    let mut model = Model::new();
    let ops = life(1500);
    for (k, op) in ops.iter().enumerate() {
        perform(&mut disk, &mut model, op).expect("the disk takes it");
        if k % 5 == 0 || matches!(op, Op::Compact { .. }) {
            assert_eq!(
                boot_view(&flash).expect("boots"),
                model.view(),
                "after op {k}"
            );
        }
    }
    assert_eq!(boot_view(&flash).expect("boots"), model.view());
    // 1,500 writes in a window of 160 entries and in halves of 8 KiB.
    assert!(
        model.base.0 > LogIndex(1300),
        "compacted to {:?}",
        model.base
    );
    assert!(
        disk.collections() >= 5,
        "{} collections",
        disk.collections()
    );
    // The booted disk goes on where the first left off, collections included.
    let mut again = open(&flash);
    assert_eq!(again.capture(), model.capture);
    for op in life(1700).iter().skip(ops.len()) {
        perform(&mut again, &mut model, op).expect("the disk takes it");
    }
    assert_eq!(boot_view(&flash).expect("boots"), model.view());
}

#[test]
fn a_power_cut_at_any_flash_operation_boots_to_the_state_before_or_after_it_and_goes_on() {
    let ops = life(1200);
    let total = operations(&ops);
    let mut cut_in_a_collection = 0;
    // Every budget: each a run of its own, cut at that operation.
    for budget in 0..total {
        let flash = RamFlash::new(REGION);
        let mut disk = open(&flash);
        flash.cut_after(budget);
        let mut model = Model::new();
        for (k, op) in ops.iter().enumerate() {
            let erases = flash.erases();
            if tell_disk(&mut disk, &model, op).is_err() {
                assert!(flash.is_cut(), "only the cut fails an operation");
                if flash.erases() > erases {
                    cut_in_a_collection += 1;
                }
                let view = boot_view(&flash).expect("a cut never damages the journal");
                let mut after = model.clone();
                tell_model(&mut after, op);
                // A replacing append is two records (the truncation, the entry): a cut
                // between them leaves the log truncated, which is safe (the entry dropped
                // conflicted with the leader's, so it was never committed).
                let mut truncated = model.clone();
                if let Op::Append { truncate: true, .. } = op {
                    truncated.log.split_off(&model.last().0);
                }
                assert!(
                    view == model.view() || view == after.view() || view == truncated.view(),
                    "budget {budget}, op {op:?}: booted {view:?}"
                );
                // The booted disk goes on (after a torn record: a `Resume` first, at the next
                // erase unit), and boots again to what it was told.
                let next = if view == model.view() {
                    k
                } else if view == after.view() {
                    k + 1
                } else {
                    break;
                };
                let copy = RamFlash::from_bytes(flash.bytes());
                let mut again = open(&copy);
                let mut model = Model::from_view(&view);
                for op in ops.iter().skip(next).take(30) {
                    perform(&mut again, &mut model, op).expect("the rebooted disk takes it");
                }
                assert_eq!(
                    boot_view(&copy).expect("boots"),
                    model.view(),
                    "budget {budget}: after going on from op {next}"
                );
                break;
            }
            tell_model(&mut model, op);
        }
    }
    // The cuts fell inside collections too (erasing, copying, or programming the header).
    eprintln!("{total} cut points, {cut_in_a_collection} of them in collections");
    assert!(
        cut_in_a_collection >= 40,
        "{cut_in_a_collection} cuts in collections"
    );
}

/// The flash operations the whole of `ops` takes on a new region: the smallest budget under
/// which every op goes through.
fn operations(ops: &[Op]) -> u32 {
    let (mut lo, mut hi) = (0u32, 1u32 << 16);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let flash = RamFlash::new(REGION);
        let mut disk = open(&flash);
        flash.cut_after(mid);
        let mut model = Model::new();
        if ops
            .iter()
            .all(|op| perform(&mut disk, &mut model, op).is_ok())
        {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    assert!(lo < 1 << 16);
    lo
}

#[test]
fn a_region_is_formatted_only_when_it_holds_no_record_and_damaged_headers_are_refused() {
    let visit = |_: &Rec<'_>| {};
    // A new region is formatted: generation 1 in half 0.
    let flash = RamFlash::new(REGION);
    let (mut j, r) = Journal::open(flash.clone(), visit).expect("formatted");
    assert_eq!((r.generation, r.records, j.used()), (1, 0, HEADER));
    j.append(&Rec::Epoch { epoch: 1 }).expect("room");
    // The only header damaged while a record is there: refused, the flash left as it was.
    let mut bytes = flash.bytes();
    bytes[5] ^= 0x04;
    let damaged = RamFlash::from_bytes(bytes.clone());
    assert_eq!(
        Journal::open(damaged.clone(), visit).err(),
        Some(JournalError::Damaged)
    );
    assert_eq!(damaged.bytes(), bytes);
    // A first format cut while its header was programmed: no record anywhere, so formatted
    // again at the next boot.
    let torn = RamFlash::new(REGION);
    torn.cut_after(2);
    assert!(Journal::open(torn.clone(), visit).is_err());
    assert_ne!(torn.bytes()[..HEADER as usize], [0xFF; HEADER as usize]);
    let (_, r) = Journal::open(RamFlash::from_bytes(torn.bytes()), visit).expect("formatted");
    assert_eq!((r.generation, r.records), (1, 0));
    // A region that is not two halves of whole erase units is refused.
    for len in [
        0,
        ERASE_UNIT as usize,
        3 * ERASE_UNIT as usize,
        REGION + 512,
    ] {
        assert_eq!(
            Journal::open(RamFlash::new(len), visit).err(),
            Some(JournalError::BadRegion),
            "{len} bytes"
        );
    }
}

/// Hostile flash: random bytes, a good journal with random bytes flipped, or with random runs
/// erased. A boot never panics; it refuses the region or gives back a log with no hole (every
/// index from the compaction point to the last), a restore the core's own checks decide on.
#[test]
fn hostile_flash_contents_never_panic_a_boot_and_never_give_a_log_with_holes() {
    let good = {
        let flash = RamFlash::new(REGION);
        let mut disk = open(&flash);
        let mut model = Model::new();
        for op in &life(700) {
            perform(&mut disk, &mut model, op).expect("the disk takes it");
        }
        flash.bytes()
    };
    let mut rng = Rng::new(0x7A5E);
    let (mut refused, mut booted) = (0, 0);
    for case in 0..1500 {
        let mut bytes = good.clone();
        match case % 3 {
            0 => bytes.iter_mut().for_each(|b| *b = rng.below(256) as u8),
            1 => {
                for _ in 0..=rng.below(8) {
                    let at = rng.below(REGION as u32) as usize;
                    bytes[at] ^= 1 << rng.below(8);
                }
            }
            _ => {
                let at = rng.below(REGION as u32) as usize;
                let len = (rng.below(600) as usize).min(REGION - at);
                bytes[at..at + len].fill(0xFF);
            }
        }
        let ring: &'static mut [u8; BOARD_STORE] = Box::leak(Box::new([0; BOARD_STORE]));
        match BoardDisk::open(ring, RamFlash::from_bytes(bytes)) {
            Err(_) => refused += 1,
            Ok((disk, restored, _)) => {
                booted += 1;
                let mut i = restored.base.0.next();
                while i <= disk.last_index() {
                    assert!(disk.entry(i).is_some(), "case {case}: a hole at {i:?}");
                    i = i.next();
                }
            }
        }
    }
    eprintln!("{refused} refused, {booted} booted");
    // Both outcomes are reached: flips in the old half or the last record boot.
    assert!(
        refused > 100 && booted > 100,
        "{refused} refused, {booted} booted"
    );
}
