//! Snapshots in the harness: the snapshot bytes of a state machine, capturing one and
//! installing one held back (the seams in `seams.rs` perform both), and helpers to build
//! chunks and look at snapshot outputs.
//!
//! A snapshot's bytes are the state machine (every applied entry: index, term, payload), so
//! installing one replaces the node's `applied` list and checks that what the follower ends
//! with is exactly what the leader captured.

use raftcore::codec::WireEntries;
use raftcore::{
    LogIndex, Membership, Message, NodeId, Output, SnapshotChunk, SnapshotMeta, SnapshotPoint,
    SnapshotResponse, Term,
};

use super::seams::Call;
use super::Cluster;

/// The snapshot bytes of a state machine: `[index u64][term u64][len u32][payload]` per
/// applied entry.
pub fn encode_machine(applied: &[(LogIndex, Term, Vec<u8>)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (index, term, data) in applied {
        b.extend_from_slice(&index.0.to_le_bytes());
        b.extend_from_slice(&term.0.to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
    }
    b
}

/// The state machine in snapshot bytes, `None` if they are malformed.
pub fn decode_machine(mut b: &[u8]) -> Option<Vec<(LogIndex, Term, Vec<u8>)>> {
    let mut applied = Vec::new();
    while !b.is_empty() {
        let index = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
        let term = u64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
        let len = u32::from_le_bytes(b.get(16..20)?.try_into().ok()?) as usize;
        let data = b.get(20..20 + len)?.to_vec();
        applied.push((LogIndex(index), Term(term), data));
        b = &b[20 + len..];
    }
    Some(applied)
}

/// The driver's checksum over snapshot bytes (the simulator's).
pub use raft_sim::checksum;

/// A snapshot file of a state machine: its description and bytes.
/// `members` is the membership as of its index.
pub fn snapshot_of(
    applied: &[(LogIndex, Term, Vec<u8>)],
    members: Membership,
) -> (SnapshotMeta, Vec<u8>) {
    let (index, term) = applied
        .last()
        .map_or((LogIndex(0), Term(0)), |a| (a.0, a.1));
    let bytes = encode_machine(applied);
    let at = SnapshotPoint {
        index,
        term,
        members,
    };
    (raft_sim::snapshot_meta(at, &bytes), bytes)
}

impl Cluster {
    /// Node `id` captures its state machine into its snapshot file and reports
    /// `SnapshotSaved` (`Engine::capture`); returns the snapshot and the step's outputs.
    pub fn save_snapshot(&mut self, id: u32) -> (SnapshotMeta, Vec<Output>) {
        let called = self
            .drive(id, Call::Capture, None)
            .unwrap_or_else(|e| panic!("n{id}: capture: {e}"));
        let meta = called
            .captured
            .unwrap_or_else(|| panic!("n{id}: the capture was declined"));
        (meta, called.steps.concat())
    }

    /// Performs node `id`'s held install as a driver does (`Engine::install_held`): verifies
    /// the incoming file against its checksum, makes it durable, loads it into the state
    /// machine, resets the log store to start after it (keeping entries after it if the store
    /// holds its index with its term), and reports `SnapshotInstalled` (`ok: false` if it did
    /// not verify). Returns the outputs of the steps that reported it.
    pub fn install(&mut self, id: u32) -> Vec<Output> {
        let meta = self
            .node_mut(id)
            .install_wanted
            .take()
            .unwrap_or_else(|| panic!("n{id}: no InstallSnapshot to perform"));
        self.drive(id, Call::InstallHeld(meta), None)
            .unwrap_or_else(|e| panic!("n{id}: install {meta:?}: {e}"))
            .steps
            .concat()
    }
}

// ----- Hand-built chunks and looking at snapshot outputs -----

/// A snapshot chunk from a leader of `term` (round 0) carrying `data` at `offset`.
pub fn chunk<'a>(
    term: u64,
    meta: SnapshotMeta,
    offset: u64,
    data: &'a [u8],
) -> Message<WireEntries<'a>> {
    Message::Snapshot(SnapshotChunk {
        term: Term(term),
        meta,
        offset,
        done: offset + data.len() as u64 == meta.len,
        round: 0,
        data: WireEntries::raw(data),
    })
}

/// The snapshot chunk descriptors sent in `out`: (to, chunk).
pub fn chunks_sent(out: &[Output]) -> Vec<(NodeId, SnapshotChunk<raftcore::EntryCount>)> {
    pick!(out, Output::Send { to, msg: Message::Snapshot(c) } => (to, c))
}

/// The snapshot acknowledgements sent in `out`: (to, response).
pub fn snapshot_resps(out: &[Output]) -> Vec<(NodeId, SnapshotResponse)> {
    pick!(out, Output::Send { to, msg: Message::SnapshotResponse(r) } => (to, r))
}

/// The chunk writes asked for in `out`: (snapshot, offset, len).
pub fn chunk_writes(out: &[Output]) -> Vec<(SnapshotMeta, u64, u32)> {
    pick!(out, Output::SnapshotChunk { meta, offset, len } => (meta, offset, len))
}

/// The snapshots `out` asks to install.
pub fn installs(out: &[Output]) -> Vec<SnapshotMeta> {
    pick!(out, Output::InstallSnapshot { meta } => meta)
}

/// The compaction points in `out`.
pub fn compacts(out: &[Output]) -> Vec<u64> {
    pick!(out, Output::Compact { upto } => upto.0)
}
