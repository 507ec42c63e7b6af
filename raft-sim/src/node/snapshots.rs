//! The [`Snapshots`] seam of a simulated node: captures into the durable snapshot file,
//! chunks read from it, and a received snapshot written chunk by chunk, then verified and
//! installed.

use std::cell::RefCell;
use std::rc::Rc;

use raftcore::engine::{ChunkAt, Snapshots};
use raftcore::{NodeId, SnapshotMeta, SnapshotPoint};

use super::{checksum, snapshot_meta, Disk, Machine, SimError, SimMachine};
use crate::check::Checker;

/// One node's snapshot storage: the file lives on the [`Disk`]; the snapshot being received
/// is the driver's temporary file (lost on a crash).
pub struct SimSnapshots {
    id: NodeId,
    disk: Rc<RefCell<Disk>>,
    checker: Rc<RefCell<Checker>>,
    incoming: Vec<u8>,
    /// The chunk last read (the file is on the shared disk; a chunk is lent from here).
    chunk: Vec<u8>,
    /// Snapshots installed and not yet counted by the cluster.
    pub(crate) installed: u64,
}

impl SimSnapshots {
    /// Node `id`'s snapshot storage over `disk`.
    pub fn new(id: NodeId, disk: Rc<RefCell<Disk>>, checker: Rc<RefCell<Checker>>) -> Self {
        SimSnapshots {
            id,
            disk,
            checker,
            incoming: Vec::new(),
            chunk: Vec::new(),
            installed: 0,
        }
    }

    fn err(&self, what: String) -> SimError {
        SimError(format!("{}: {what}", self.id))
    }
}

impl Snapshots<SimMachine> for SimSnapshots {
    type Error = SimError;

    /// Captures the machine if it applied something since the last capture, durably.
    fn capture(
        &mut self,
        m: &SimMachine,
        at: SnapshotPoint,
    ) -> Result<Option<SnapshotMeta>, SimError> {
        let (index, term, members) = (at.index, at.term, at.members);
        let machine = &m.machine;
        let mut disk = self.disk.borrow_mut();
        if machine.applied <= disk.snapshot.0.applied {
            return Ok(None);
        }
        if machine.applied != index || machine.members != members {
            return Err(self.err(format!(
                "the engine captures at {index} with {members:?}; the machine applied {} with {:?}",
                machine.applied, machine.members
            )));
        }
        disk.snapshot = (machine.clone(), term);
        let bytes = machine.encode();
        let meta = snapshot_meta(at, &bytes);
        disk.snap_file = Some((meta, bytes));
        Ok(Some(meta))
    }

    /// A chunk of the snapshot file. The core only names the snapshot it was told of last,
    /// which this node keeps: any other is a broken contract, not a replaced file.
    fn read_chunk(&mut self, at: ChunkAt<'_>, len: u32) -> Result<Option<&[u8]>, SimError> {
        let (meta, offset) = (at.meta, at.offset);
        let disk = self.disk.borrow();
        let bytes = match &disk.snap_file {
            Some((m, bytes)) if m == meta => usize::try_from(offset)
                .ok()
                .and_then(|at| bytes.get(at..at.checked_add(len as usize)?)),
            _ => None,
        };
        let Some(bytes) = bytes else {
            drop(disk);
            return Err(self.err(format!(
                "chunk {offset}+{len} of {meta:?}, a snapshot it does not hold"
            )));
        };
        self.chunk.clear();
        self.chunk.extend_from_slice(bytes);
        Ok(Some(&self.chunk))
    }

    /// Chunks arrive in order; offset 0 starts a new snapshot.
    fn write_chunk(&mut self, at: ChunkAt<'_>, data: &[u8]) -> Result<(), SimError> {
        let (meta, offset) = (at.meta, at.offset);
        if offset == 0 {
            self.incoming.clear();
        }
        if offset != self.incoming.len() as u64 {
            return Err(self.err(format!(
                "chunk {offset}+{} of {meta:?} out of order",
                data.len()
            )));
        }
        self.incoming.extend_from_slice(data);
        Ok(())
    }

    /// Verifies length and checksum (`Ok(false)` if they do not check out), then that the
    /// snapshot is of the committed log and holds a machine at its index; keeps it and loads
    /// it.
    fn install(&mut self, meta: &SnapshotMeta, m: &mut SimMachine) -> Result<bool, SimError> {
        let bytes = std::mem::take(&mut self.incoming);
        let machine = match Machine::decode(&bytes) {
            Some(m) if checksum(&bytes) == meta.checksum && bytes.len() as u64 == meta.len => m,
            _ => return Ok(false),
        };
        if self.checker.borrow().committed_chain(meta.index).is_none() {
            return Err(self.err(format!(
                "snapshot at {} beyond the committed log",
                meta.index
            )));
        }
        if machine.applied != meta.index {
            return Err(self.err(format!(
                "snapshot {meta:?} holds a machine at {}",
                machine.applied
            )));
        }
        let machine = Machine {
            members: meta.members,
            ..machine
        };
        m.machine = machine.clone();
        let mut disk = self.disk.borrow_mut();
        disk.snapshot = (machine, meta.term);
        disk.snap_file = Some((*meta, bytes));
        self.installed += 1;
        Ok(true)
    }
}
