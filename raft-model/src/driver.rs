//! The model's driver: it steps a node through raft-core's [`Engine`], which performs the
//! outputs in the contract's order (persist, encode and send through the real codec, apply,
//! compact, write and install snapshot chunks, capture snapshots) through seams that are
//! views into the model's state (`seams.rs`); the driver answers clients and reads, and
//! restarts a node from what was durable. Whatever breaks the driver contract is recorded in
//! [`ModelState::broken`] (an `always` property) instead of panicking, so it comes with a
//! trace.

use raftcore::output::ReadResult;
use raftcore::{Engine, EngineError, HardState, Input, Membership, Restored, Role};
use stateright::semantics::register::RegisterRet;
use stateright::semantics::ConsistencyTester;

use crate::seams::{Applier, Broken, DiskLog, Seen, Shared, SnapshotFiles, Wire};
use crate::state::{reached, Live, ModelState, Pending};
use crate::storage::Machine;
use crate::{Action, Node, RaftModel, VOTERS};

/// One node's engine over views into the model's state.
type NodeEngine<'a> = Engine<Node, DiskLog<'a>, Wire<'a>, Applier<'a>, SnapshotFiles<'a>>;

/// What one engine call did: whether it went through (`false` when a capture declined).
type Call = Result<bool, EngineError<Broken>>;

impl RaftModel {
    /// Steps node `k` with `input` through the engine. `None` if the result passes a bound,
    /// else whether the (first) core step had outputs.
    pub(crate) fn step(&self, s: &mut ModelState, k: usize, input: Input<'_>) -> Option<bool> {
        match self.drive(s, k, |e, seen| e.step(input, seen).map(|()| true)) {
            Ok(r) => r,
            Err(EngineError::Core(e)) => {
                s.broken = Some(format!("n{}: driver error {e} on {input:?}", k + 1));
                Some(true)
            }
            Err(e) => {
                s.broken = Some(format!("n{}: {}", k + 1, why(e)));
                Some(true)
            }
        }
    }

    /// Runs `call` on an engine over node `k`'s state and seams and puts the state back.
    /// `Ok(None)` if a core step passed a bound or the call declined (a capture with nothing
    /// new), `Ok(Some(acted))` with whether the first core step had outputs, `Err` with the
    /// broken contract (the node has stopped).
    fn drive(
        &self,
        s: &mut ModelState,
        k: usize,
        call: impl FnOnce(&mut NodeEngine<'_>, &mut Seen<'_>) -> Call,
    ) -> Result<Option<bool>, EngineError<Broken>> {
        if s.broken.is_some() {
            return Ok(Some(false));
        }
        let Some(live) = s.nodes[k].take() else {
            return Ok(None);
        };
        let (role_before, stats_before) = (live.state.role(), *live.state.stats());
        let ModelState {
            disks,
            net,
            clients,
            history,
            applied,
            diverged,
            leaders,
            transfer_campaign,
            reached,
            ..
        } = s;
        let disk = &mut disks[k];
        let shared = Shared::default();
        shared.snapshot_index.set(disk.snapshot_index());
        let storage = DiskLog {
            log: &mut disk.log,
            hs: &mut disk.hs,
            commit: &mut disk.commit,
            shared: &shared,
        };
        let snapshots = SnapshotFiles {
            file: &mut disk.snapshot,
            incoming: &mut disk.incoming,
            shared: &shared,
        };
        let wire = Wire {
            k: k as u8,
            net,
            shared: &shared,
        };
        let members = disk.machine.members.0;
        let machine = Applier {
            k: k as u8,
            machine: &mut disk.machine,
            clients,
            history,
            applied,
            diverged,
            shared: &shared,
        };
        let mut seen = Seen {
            k: k as u8,
            bounds: &self.bounds,
            acted: None,
            out_of_bounds: false,
            leaders,
            transfer_campaign: *transfer_campaign,
            reached,
            reads: Vec::new(),
            shared: &shared,
        };
        let saved_commit = *storage.commit;
        let mut engine = Engine::with_snapshots(live.state, storage, snapshots, wire, machine);
        // A fresh engine over the node's running state and kept storage: tell it what one
        // long-lived engine would know.
        engine.set_applied_membership(members);
        engine.set_saved_commit(saved_commit);
        let result = call(&mut engine, &mut seen);
        let (node, ..) = engine.into_parts();
        let Seen {
            acted,
            out_of_bounds,
            reads,
            ..
        } = seen;
        let installed = shared.installed.get();
        let unsynced = shared.dirty.get();
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
        if installed {
            s.reached |= reached::SNAPSHOT_INSTALLED;
        }
        let out_of_bounds = out_of_bounds
            || node.term().0 > self.bounds.max_term
            || node.last_index().0 > self.bounds.max_log;
        s.nodes[k] = Some(Live::new(node, self.abstract_timers()));
        if out_of_bounds {
            return Ok(None);
        }
        let went = result?;
        if unsynced {
            return Err(EngineError::Driver(Broken(
                "a write was left unsynced under inline durability".into(),
            )));
        }
        for r in reads {
            self.on_read(s, k, r);
        }
        self.serve_reads(s, k);
        if s.net.len() > self.bounds.max_in_flight || !went {
            return Ok(None);
        }
        Ok(Some(acted.unwrap_or(false)))
    }

    /// A read answer of node `k`: `Ready` gives the pending reads up to `upto` their read
    /// index; `Failed` ends them (the client would retry elsewhere; in the model those reads
    /// never complete).
    fn on_read(&self, s: &mut ModelState, k: usize, r: ReadResult) {
        match r {
            ReadResult::Ready { upto, index } => {
                for c in s.clients.iter_mut() {
                    if let Some(Some(Pending::Read { node, id, at })) = &mut c.1 {
                        if usize::from(*node) == k && *id <= upto && at.is_none() {
                            *at = Some(index);
                        }
                    }
                }
            }
            ReadResult::Failed { upto, .. } => {
                for c in s.clients.iter_mut() {
                    if matches!(c.1, Some(Some(Pending::Read { node, id, at: None }))
                        if usize::from(node) == k && id <= upto)
                    {
                        c.1 = Some(None);
                    }
                }
            }
        }
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

    /// Node `k`'s driver captures its state machine into a durable snapshot file and
    /// reports it (`Engine::capture`: `Input::SnapshotSaved`). `None` if there is nothing new
    /// to capture.
    pub(crate) fn capture(&self, s: &mut ModelState, k: usize) -> Option<()> {
        match self.drive(s, k, |e, seen| e.capture(seen).map(|m| m.is_some())) {
            Ok(r) => r.map(|_| ()),
            Err(e) => {
                s.broken = Some(format!("n{}: {}", k + 1, why(e)));
                Some(())
            }
        }
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

    /// Node `k` restarts from what it made durable ([`raftcore::State::restore`]): hard
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
            vote_floor: raftcore::LogIndex::ZERO,
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
            Action::DemoteTwo(k, j) => (k, j, 3),
            Action::JointDemoteTwo(k, j) => (k, j, 4),
            _ => return None,
        };
        let cur = *s.nodes.get(k as usize)?.as_ref()?.state.membership();
        let id = *VOTERS.get(j as usize)?;
        match m {
            0 => Some(cur.without(id)),
            1 => cur.with_learner(id).ok(),
            2 => cur.with_voter(id).ok(),
            _ => {
                let leader = VOTERS[k as usize];
                let other = cur.voters().find(|&v| v != id && v != leader)?;
                let next = cur.with_learner(id).ok()?.with_learner(other).ok()?;
                if m == 3 {
                    Some(next)
                } else {
                    cur.joint(&next, true).ok()
                }
            }
        }
    }
}

/// A broken contract as the model reports it.
fn why(e: EngineError<Broken>) -> String {
    match e {
        EngineError::MissingEntry(i) => format!("Apply {i}: not in the log store"),
        e => e.to_string(),
    }
}
