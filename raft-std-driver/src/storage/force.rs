//! Unsafe recovery after a majority is lost for good, as etcd's `--force-new-cluster`: turn one
//! surviving node into a one-node cluster from its own log.
//!
//! **This is a last resort that can lose acknowledged writes and must never be mixed with the
//! old cluster.** The survivor keeps exactly what its own log holds: a write the old cluster
//! acknowledged but this node had not received is gone. The other nodes must never be started
//! again with their old data directories (they would form a second cluster with diverging
//! histories under the same ids); rebuild them from the survivor (empty data directory,
//! `member add-learner`, `member promote`).
//!
//! What it writes: after every entry of the log (committed or not: an entry the old leader
//! acknowledged may not be known committed here, so none is dropped), one membership entry
//! whose only voter is this node, in a term above every term seen, and a hard state of that
//! term without a vote. raft-core adopts a membership entry as soon as it is in the log, so the
//! node restarts as the only voter, elects itself, and commits everything it holds.

use std::sync::Arc;

use raftcore::{EntryKind, Membership, NodeId, MEMBERSHIP_BYTES};

use super::{DataDir, FileIo, HardState, SnapshotStore, StorageError, Wal, WalOptions};

/// What [`force_new_cluster`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forced {
    /// The log already ends with this node as the only member: nothing was written.
    AlreadyAlone,
    /// A one-voter membership entry was appended at `index` in `term`.
    Rewritten {
        /// Index of the new membership entry.
        index: u64,
        /// Its term (the new current term).
        term: u64,
        /// The membership it replaced.
        previous: Membership,
    },
}

/// Rewrites the WAL of the opened (locked, identity-checked) directory `data` so that its node
/// is the only voter; see the module docs for what that means and costs. Running it again is a
/// no-op ([`Forced::AlreadyAlone`]).
pub fn force_new_cluster(
    data: &DataDir,
    initial_voters: &[NodeId],
    io: Arc<dyn FileIo>,
) -> Result<Forced, StorageError> {
    let me = NodeId(data.identity().node_id);
    let snaps = SnapshotStore::open_with(data.snap_dir(), io.clone())?;
    let (mut wal, _) = Wal::open_with(data.wal_dir(), WalOptions::default(), io)?;
    let previous = latest_membership(&wal, &snaps, initial_voters)?;
    let alone = Membership::new(&[me], &[]).map_err(|_| StorageError::Inconsistent {
        reason: "a one-voter membership cannot be built".into(),
    })?;
    if previous == alone {
        return Ok(Forced::AlreadyAlone);
    }
    let hs = wal.hard_state();
    let last = wal.last_index();
    let last_term = wal.term(last).unwrap_or(0);
    let term = hs.term.max(last_term) + 1;
    let index = last + 1;
    let mut buf = [0; MEMBERSHIP_BYTES];
    wal.append_entry(
        index,
        term,
        EntryKind::Membership.to_byte(),
        alone.encode(&mut buf),
    )?;
    wal.set_hard_state(HardState {
        term,
        voted_for: None,
        commit: hs.commit,
    })?;
    wal.sync()?;
    Ok(Forced::Rewritten {
        index,
        term,
        previous,
    })
}

/// The membership in force at the end of the log: its last membership entry, else the
/// snapshot's, else the initial voters.
fn latest_membership(
    wal: &Wal,
    snaps: &SnapshotStore,
    initial_voters: &[NodeId],
) -> Result<Membership, StorageError> {
    membership_upto(wal, snaps, initial_voters, wal.last_index())
}

/// The membership in force after entry `upto`. A leave entry (empty: leave the joint
/// configuration) reads against the membership in force before it.
fn membership_upto(
    wal: &Wal,
    snaps: &SnapshotStore,
    initial_voters: &[NodeId],
    upto: u64,
) -> Result<Membership, StorageError> {
    let kind = EntryKind::Membership.to_byte();
    let mut i = upto;
    while i >= wal.first_index() && i > 0 {
        if let Some(e) = wal.entry(i).filter(|e| e.kind == kind) {
            let before = if e.payload.is_empty() {
                membership_upto(wal, snaps, initial_voters, i - 1)?
            } else {
                Membership::default()
            };
            return Membership::decode_entry(e.payload, &before).map_err(|_| {
                StorageError::Inconsistent {
                    reason: format!("membership entry {i} does not decode"),
                }
            });
        }
        i -= 1;
    }
    if let Some(meta) = snaps.latest() {
        return Ok(meta.members);
    }
    Membership::new(initial_voters, &[]).map_err(|e| StorageError::Inconsistent {
        reason: format!("initial voters: {e}"),
    })
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::storage::StdIo;

    fn voters(m: &Membership) -> Vec<u32> {
        m.voters().map(|n| n.0).collect()
    }

    #[test]
    fn the_log_gets_a_one_voter_membership_entry_in_a_new_term_once() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path(), 2, 0, &StdIo).unwrap();
        let three = [NodeId(1), NodeId(2), NodeId(3)];
        let (mut wal, _) = Wal::open(data.wal_dir()).unwrap();
        for i in 1..=4 {
            wal.append_entry(i, 3, EntryKind::Normal.to_byte(), b"w")
                .unwrap();
        }
        wal.set_hard_state(HardState {
            term: 4,
            voted_for: Some(1),
            commit: 3,
        })
        .unwrap();
        wal.sync().unwrap();
        drop(wal);

        let forced = force_new_cluster(&data, &three, Arc::new(StdIo)).unwrap();
        let Forced::Rewritten {
            index,
            term,
            previous,
        } = forced
        else {
            panic!("{forced:?}");
        };
        assert_eq!((index, term, voters(&previous)), (5, 5, vec![1, 2, 3]));
        let (wal, rec) = Wal::open(data.wal_dir()).unwrap();
        assert_eq!(
            rec.hard_state,
            HardState {
                term: 5,
                voted_for: None,
                commit: 3
            }
        );
        // Every entry is kept, committed or not.
        assert_eq!(wal.entry(4).unwrap().payload, b"w");
        let e = wal.entry(5).unwrap();
        assert_eq!(e.kind, EntryKind::Membership.to_byte());
        assert_eq!(voters(&Membership::decode(e.payload).unwrap()), vec![2]);
        drop(wal);

        assert_eq!(
            force_new_cluster(&data, &three, Arc::new(StdIo)).unwrap(),
            Forced::AlreadyAlone
        );
    }
}
