//! The model's driver: it steps a node and performs its outputs in order, exactly as a real
//! driver does (persist, encode and send through the real codec, apply, answer clients and
//! reads, compact, write and install snapshot chunks, capture snapshots, restart from what
//! was durable). Whatever breaks the driver contract is recorded in [`ModelState::broken`]
//! (an `always` property) instead of panicking, so it comes with a trace.

use raft_core::codec::{self, Header};
use raft_core::output::ReadResult;
use raft_core::{
    EntryKind, HardState, Input, LogIndex, LogStore, Membership, Output, Restored, Role,
    SnapshotMeta,
};
use stateright::semantics::register::RegisterRet;
use stateright::semantics::ConsistencyTester;

use crate::state::{reached, Live, ModelState, Packet, Pending};
use crate::storage::{checksum, Machine, SnapFile};
use crate::{Action, Node, NodeOutputs, RaftModel, VOTERS};

impl RaftModel {
    /// Steps node `k` with `input` and performs its outputs (persist, send, apply, answer
    /// clients, snapshots). `None` if the result passes a bound, else whether there were
    /// outputs.
    pub(crate) fn step(&self, s: &mut ModelState, k: usize, input: Input<'_>) -> Option<bool> {
        if s.broken.is_some() {
            return Some(false);
        }
        let live = s.nodes[k].as_mut()?;
        let (role_before, stats_before) = (live.state.role(), *live.state.stats());
        let mut out = NodeOutputs::new();
        if let Err(e) = live.state.step(input, &mut out) {
            s.broken = Some(format!("n{}: driver error {e} on {input:?}", k + 1));
            return Some(true);
        }
        let node = live.state.clone();
        // Milestones of PreVote and CheckQuorum (only those bounds can reach them).
        let stats = node.stats();
        if role_before == Role::PreCandidate && stats.elections > stats_before.elections {
            s.reached |= reached::PRE_VOTE_WON;
        }
        if stats.check_quorum_step_downs > stats_before.check_quorum_step_downs {
            s.reached |= reached::CHECK_QUORUM_STEP_DOWN;
        }
        if stats.ignored_in_lease > stats_before.ignored_in_lease {
            s.reached |= reached::VOTE_REFUSED_IN_LEASE;
        }
        s.nodes[k] = Some(Live::new(node.clone(), self.abstract_timers()));
        if node.term().0 > self.bounds.max_term || node.last_index().0 > self.bounds.max_log {
            return None;
        }
        if node.role() == Role::Leader {
            let e = (node.term(), k as u8);
            if let Err(at) = s.leaders.binary_search(&e) {
                s.leaders.insert(at, e);
            }
            if s.transfer_campaign == Some(e) {
                s.reached |= reached::TRANSFER_DONE;
            }
        }
        let mut installed = None;
        for o in &out {
            if let Err(e) = self.perform(s, k, &input, o, &mut installed) {
                s.broken = Some(format!("n{}: {e}", k + 1));
                return Some(true);
            }
        }
        self.serve_reads(s, k);
        if s.net.len() > self.bounds.max_in_flight {
            return None;
        }
        if let Some((meta, ok)) = installed {
            self.step(s, k, Input::SnapshotInstalled { meta, ok })?;
        }
        Some(!out.is_empty())
    }

    /// Performs one output of node `k`; an `InstallSnapshot` leaves its report in
    /// `installed`, fed back once this step's outputs are done.
    fn perform(
        &self,
        s: &mut ModelState,
        k: usize,
        input: &Input<'_>,
        o: &Output,
        installed: &mut Option<(SnapshotMeta, bool)>,
    ) -> Result<(), String> {
        match *o {
            Output::Persist(p) => {
                let disk = &mut s.disks[k];
                if let Some(hs) = p.hard_state {
                    disk.hs = (hs.term, hs.vote);
                }
                disk.commit = disk.commit.max(p.commit);
                raft_core::persist_entries(&mut disk.log, &p, input)
                    .map_err(|e| format!("persist {p:?}: {e}"))?;
            }
            Output::Send { to, msg } => {
                let hdr = Header {
                    cluster_id: 0,
                    from: VOTERS[k],
                    to,
                };
                let mut buf = [0u8; 256];
                let n = codec::encode(&hdr, &msg, &s.disks[k], &mut buf)
                    .map_err(|e| format!("encode {msg:?}: {e}"))?;
                let p = Packet {
                    to: (to.0 - 1) as u8,
                    from: k as u8,
                    frame: buf[..n].to_vec(),
                };
                let at = s.net.binary_search(&p).unwrap_or_else(|at| at);
                s.net.insert(at, p);
            }
            Output::Apply { first, last } => {
                for i in first.0..=last.0 {
                    self.apply(s, k, LogIndex(i))?;
                }
            }
            Output::Compact { upto } => {
                let disk = &mut s.disks[k];
                if upto > disk.snapshot_index() {
                    // Only what a durable snapshot covers may go.
                    return Err(format!(
                        "Compact {upto} beyond its snapshot at {}",
                        disk.snapshot_index()
                    ));
                }
                disk.log.compact_to(upto);
            }
            Output::SnapshotChunk { meta, offset, len } => {
                let data = input
                    .snapshot_data()
                    .ok_or("SnapshotChunk without chunk data in the input")?;
                let disk = &mut s.disks[k];
                if offset == 0 {
                    disk.incoming.clear();
                }
                if data.len() != len as usize || offset != disk.incoming.len() as u64 {
                    return Err(format!("chunk {offset}+{len} of {meta:?} out of order"));
                }
                disk.incoming.extend_from_slice(data);
            }
            Output::InstallSnapshot { meta } => {
                self.install(s, k, meta)?;
                *installed = Some((meta, true));
            }
            Output::Read(ReadResult::Ready { upto, index }) => {
                for c in s.clients.iter_mut() {
                    if let Some(Some(Pending::Read { node, id, at })) = &mut c.1 {
                        if usize::from(*node) == k && *id <= upto && at.is_none() {
                            *at = Some(index);
                        }
                    }
                }
            }
            Output::Read(ReadResult::Failed { upto, .. }) => {
                // The client would retry elsewhere; in the model this read never completes.
                for c in s.clients.iter_mut() {
                    if matches!(c.1, Some(Some(Pending::Read { node, id, at: None }))
                        if usize::from(node) == k && id <= upto)
                    {
                        c.1 = Some(None);
                    }
                }
            }
            Output::Proposal(_) | Output::RoleChanged { .. } | Output::CaptureWanted { .. } => {}
        }
        Ok(())
    }

    /// Node `k` applies entry `i` to its register; answers the client that proposed it there.
    fn apply(&self, s: &mut ModelState, k: usize, i: LogIndex) -> Result<(), String> {
        let disk = &mut s.disks[k];
        if i != disk.machine.applied.next() {
            return Err(format!("Apply {i} after {}", disk.machine.applied));
        }
        let e = disk
            .log
            .get(i)
            .cloned()
            .ok_or_else(|| format!("Apply {i}: not in the log store"))?;
        disk.machine.apply(&e);
        let register = disk.machine.register;
        record_applied(s, i, (e.term, e.kind, &e.data));
        if e.kind != EntryKind::Normal.to_byte() {
            return Ok(());
        }
        let (client, is_write) = (e.data[0], e.data[1] == 1);
        let c = &mut s.clients[client as usize];
        let mine = Pending::Log {
            node: k as u8,
            index: i,
            term: e.term,
        };
        if c.1 == Some(Some(mine)) {
            c.1 = None;
            let ret = if is_write {
                RegisterRet::WriteOk
            } else {
                RegisterRet::ReadOk(register)
            };
            // An invalid history makes the linearizability property fail; no need to panic.
            let _ = s.history.on_return(client, ret);
        }
        Ok(())
    }

    /// Serves node `k`'s ReadIndex reads whose read index its state machine has reached.
    fn serve_reads(&self, s: &mut ModelState, k: usize) {
        let machine = &s.disks[k].machine;
        for c in 0..s.clients.len() {
            if let Some(Some(Pending::Read {
                node, at: Some(at), ..
            })) = s.clients[c].1
            {
                if usize::from(node) == k && machine.applied >= at {
                    s.clients[c].1 = None;
                    s.reached |= reached::READ_INDEX_SERVED;
                    let _ = s
                        .history
                        .on_return(c as u8, RegisterRet::ReadOk(machine.register));
                }
            }
        }
    }

    /// The driver's side of `InstallSnapshot` on node `k`: verify the received bytes, keep
    /// them as the snapshot file, load the state machine from them and start the log store
    /// after the snapshot (keeping the entries after it if the store holds its last entry).
    /// Every entry the snapshot covers counts as applied here (State Machine Safety).
    fn install(&self, s: &mut ModelState, k: usize, meta: SnapshotMeta) -> Result<(), String> {
        let disk = &mut s.disks[k];
        let bytes = std::mem::take(&mut disk.incoming);
        let machine = (bytes.len() as u64 == meta.len && checksum(&bytes) == meta.checksum)
            .then(|| Machine::decode(&bytes, meta.members))
            .flatten()
            .ok_or_else(|| format!("the chunks of {meta:?} do not make that snapshot"))?;
        if machine.applied != meta.index
            || machine.history.last().map(|e| e.0) != (meta.index.0 > 0).then_some(meta.term)
        {
            return Err(format!(
                "snapshot {meta:?} holds a state machine at {}",
                machine.applied
            ));
        }
        if machine.applied < disk.machine.applied {
            return Err(format!(
                "snapshot at {} is older than the state machine at {}",
                meta.index, disk.machine.applied
            ));
        }
        if disk.log.term(meta.index) == Some(meta.term) {
            disk.log.compact_to(meta.index);
        } else {
            disk.log.reset(meta.index, meta.term);
        }
        disk.snapshot = Some(SnapFile { meta, bytes });
        disk.machine = machine.clone();
        for (n, (term, kind, data)) in machine.history.iter().enumerate() {
            record_applied(s, LogIndex(n as u64 + 1), (*term, *kind, data));
        }
        s.reached |= reached::SNAPSHOT_INSTALLED;
        Ok(())
    }

    /// Node `k`'s driver captures its state machine into a durable snapshot file and
    /// reports it (`Input::SnapshotSaved`). `None` if there is nothing new to capture.
    pub(crate) fn capture(&self, s: &mut ModelState, k: usize) -> Option<()> {
        let disk = &mut s.disks[k];
        let m = &disk.machine;
        if m.applied <= disk.snapshot_index() {
            return None;
        }
        let term = disk.log.term(m.applied)?;
        let bytes = m.encode();
        let meta = SnapshotMeta {
            index: m.applied,
            term,
            len: bytes.len() as u64,
            checksum: checksum(&bytes),
            members: m.members.0,
        };
        disk.snapshot = Some(SnapFile { meta, bytes });
        self.step(s, k, Input::SnapshotSaved { meta })?;
        Some(())
    }

    /// Node `k` crashes: it keeps only its disk; its state machine goes back to its snapshot
    /// (or to the start), and the client operations waiting on it are lost.
    pub(crate) fn crash(&self, s: &mut ModelState, k: u8) {
        s.left[3] -= 1;
        s.left[4] -= 1;
        s.nodes[k as usize] = None;
        let d = &mut s.disks[k as usize];
        d.incoming.clear();
        d.machine = match &d.snapshot {
            Some(f) => Machine::decode(&f.bytes, f.meta.members).expect("own snapshot decodes"),
            None => Machine::initial(),
        };
        // Operations waiting for an answer from this node never get one.
        for c in s.clients.iter_mut() {
            if matches!(c.1, Some(Some(p)) if p.node() == k) {
                c.1 = Some(None);
            }
        }
    }

    /// Node `k` restarts from what it made durable ([`raft_core::State::restore`]): hard
    /// state, commit index, log store and snapshot, which it then reports again
    /// (`Input::SnapshotSaved`).
    pub(crate) fn restart(&self, s: &mut ModelState, k: u8) -> Option<()> {
        let d = &s.disks[k as usize];
        let restored = Restored {
            hard_state: HardState {
                term: d.hs.0,
                vote: d.hs.1,
            },
            commit: d.commit,
            base: (d.log.base, d.log.base_term),
            applied: d.machine.applied,
            members: d.snapshot.as_ref().map(|f| f.meta.members),
        };
        match Node::restore(self.config(k as usize), &VOTERS, restored, &d.log) {
            Ok(st) => s.nodes[k as usize] = Some(Live::new(st, self.abstract_timers())),
            Err(e) => {
                s.broken = Some(format!("n{}: restore: {e}", k + 1));
                return Some(());
            }
        }
        if let Some(meta) = d.snapshot.as_ref().map(|f| f.meta) {
            self.step(s, k as usize, Input::SnapshotSaved { meta })?;
        }
        Some(())
    }

    /// The configuration a membership action asks for: the asked node's configuration with
    /// the one change; `None` for another action, a crashed node, or an impossible change.
    pub(crate) fn change_of(&self, s: &ModelState, a: Action) -> Option<Membership> {
        let (k, j, m) = match a {
            Action::RemoveMember(k, j) => (k, j, 0),
            Action::MakeLearner(k, j) => (k, j, 1),
            Action::MakeVoter(k, j) => (k, j, 2),
            _ => return None,
        };
        let cur = *s.nodes.get(k as usize)?.as_ref()?.state.membership();
        let id = *VOTERS.get(j as usize)?;
        match m {
            0 => Some(cur.without(id)),
            1 => cur.with_learner(id).ok(),
            _ => cur.with_voter(id).ok(),
        }
    }
}

/// Records that some node applied `e` at `i` (the first one at each index is the reference;
/// a different one later breaks State Machine Safety).
fn record_applied(s: &mut ModelState, i: LogIndex, e: (raft_core::Term, u8, &Vec<u8>)) {
    match s.applied.get(i.0 as usize - 1) {
        Some(first) => {
            if (first.0, first.1, &first.2) != e {
                s.diverged = true;
            }
        }
        None => s.applied.push((e.0, e.1, e.2.clone())),
    }
}
