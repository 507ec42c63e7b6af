//! The transitions of the model.

use crate::ClientId;

/// One transition of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// One tick on a node.
    Tick(u8),
    /// Deliver the frame at this position of the (sorted) network.
    Deliver(u8),
    /// Lose it.
    Drop(u8),
    /// Duplicate it.
    Duplicate(u8),
    /// Crash a node.
    Crash(u8),
    /// Restart a crashed node from what it made durable.
    Restart(u8),
    /// Crash a node and restart it at once from what it made durable (`Bounds::reboot`).
    Reboot(u8),
    /// Client `.0` invokes its next operation on node `.1`.
    Invoke(ClientId, u8),
    /// An operator asks node `.0` to remove node `.1` from the membership.
    RemoveMember(u8, u8),
    /// An operator asks node `.0` to make node `.1` a learner (add it, or demote a voter).
    MakeLearner(u8, u8),
    /// An operator asks node `.0` to make node `.1` a voter (promote a learner).
    MakeVoter(u8, u8),
    /// An operator asks node `.0` to make node `.1` and one more voter (not `.0`) learners
    /// in one change: two voters at once, which a correct leader refuses (offered only with
    /// [`Bounds::wide_changes`](crate::Bounds::wide_changes)).
    DemoteTwo(u8, u8),
    /// An operator asks node `.0` to make node `.1` and one more voter (not `.0`) learners
    /// in one joint change (thesis section 4.3, left automatically once committed; offered
    /// only with [`Bounds::joint_changes`](crate::Bounds::joint_changes)).
    JointDemoteTwo(u8, u8),
    /// Node `.0`'s driver captures its state machine at its applied index into a durable
    /// snapshot file and reports it (`Input::SnapshotSaved`): the core may compact the log
    /// and stream the snapshot to followers that lag.
    Snapshot(u8),
    /// An operator asks node `.0` (a leader) to hand leadership to node `.1`
    /// (`Input::TransferLeader`).
    Transfer(u8, u8),
}
