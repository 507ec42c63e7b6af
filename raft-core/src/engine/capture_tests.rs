//! Captures through the engine compact the log in every build: with the `snapshots` feature
//! a capture is reported as `SnapshotSaved`, without it as `Captured` (which the core takes
//! in every build), and a capture the driver made itself through [`Engine::captured`].

use super::*;
use crate::codec::EntryRef;
use crate::codec::EntrySource;
use crate::engine::Outgoing;
use crate::engine::{ChunkAt, StateMachine, Transport};
use crate::log::store::{LogStore, RingStore};
use crate::{Config, Role, State};

/// A one-voter node: it elects itself and commits alone, so its floor is its own log.
type Node = State<1, 16, 4>;

/// Nothing to send in a one-voter cluster.
struct Nowhere;

impl Transport for Nowhere {
    type Error = StoreError;
    fn send<L: EntrySource + ?Sized>(&mut self, _: Outgoing<'_, L>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Counts the entries applied.
#[derive(Default)]
struct Count(u64);

impl StateMachine for Count {
    type Error = StoreError;
    fn apply(&mut self, _: LogIndex, _: EntryRef<'_>) -> Result<(), StoreError> {
        self.0 += 1;
        Ok(())
    }
}

/// Captures by describing the point it was given (the machine is the count, kept nowhere).
struct Describe;

impl Snapshots<Count> for Describe {
    type Error = StoreError;
    fn capture(
        &mut self,
        _: &Count,
        at: SnapshotPoint,
    ) -> Result<Option<SnapshotMeta>, StoreError> {
        Ok(Some(at.meta(0, 0)))
    }
    fn read_chunk(&mut self, _: ChunkAt<'_>, _: u32) -> Result<Option<&[u8]>, StoreError> {
        Ok(None)
    }
    fn write_chunk(&mut self, _: ChunkAt<'_>, _: &[u8]) -> Result<(), StoreError> {
        Ok(())
    }
    fn install(&mut self, _: &SnapshotMeta, _: &mut Count) -> Result<bool, StoreError> {
        Ok(false)
    }
}

type OneNode<'a> = Engine<Node, RingStore<'a, 16>, Nowhere, Count, Describe>;

/// A leader of one whose log is filling: it asked for a capture.
fn filling(buf: &mut [u8]) -> OneNode<'_> {
    let cfg = Config::new(NodeId(1), 3);
    let state = Node::new(cfg, &[NodeId(1)]).expect("a valid configuration");
    let store = RingStore::new(buf, LogIndex::ZERO);
    let mut e = Engine::with_snapshots(state, store, Describe, Nowhere, Count::default());
    for _ in 0..100 {
        if e.state().role() == Role::Leader {
            break;
        }
        e.step(Input::Tick, &mut ()).expect("tick");
    }
    assert_eq!(e.state().role(), Role::Leader);
    while !e.capture_wanted() {
        e.step(Input::Propose { data: b"x" }, &mut ())
            .expect("propose");
    }
    assert_eq!(e.machine().0, e.state().applied().0);
    e
}

#[test]
fn a_capture_compacts_the_log_with_or_without_snapshot_transfer() {
    let mut buf = [0u8; 1024];
    let mut e = filling(&mut buf);
    let applied = e.state().applied();
    let meta = e
        .capture(&mut ())
        .expect("a capture is taken")
        .expect("described");
    assert_eq!(meta.index, applied);
    assert!(!e.capture_wanted());
    assert_eq!(e.state().first_index(), applied.next());
    assert_eq!(e.storage().last_index(), e.state().last_index());
    assert!(e.storage().entry(applied).is_none());
}

#[test]
fn a_capture_the_driver_made_itself_compacts_the_log_up_to_it() {
    let mut buf = [0u8; 1024];
    let mut e = filling(&mut buf);
    let upto = e.state().applied().prev();
    e.captured(upto, &mut ()).expect("captured");
    assert!(!e.capture_wanted());
    assert_eq!(e.state().first_index(), upto.next());
    assert!(e.storage().entry(upto).is_none());
    assert!(e.storage().entry(upto.next()).is_some());
    // Beyond the applied index is refused, and stops nothing.
    let beyond = e.state().applied().next();
    assert!(e.captured(beyond, &mut ()).is_err());
    e.step(Input::Propose { data: b"y" }, &mut ())
        .expect("the node goes on");
}
