//! What the cluster sees of each step through the engine's [`Events`] hook: every core
//! step's outputs (hashed into the trace) and the node's protocol state after it, checked by
//! the [`Checker`]; clients' answers and reads; role changes.

use std::cell::RefCell;

use raftcore::engine::{Events, StepView};
use raftcore::{LogIndex, MembershipRefusal, NodeId, Output, Proposal, ReadResult, Role, Term};

use crate::check::{Checker, NodeView, Violation};
use crate::node::Disk;
use crate::store::mix;

/// The cluster's side of one call into node `k`'s engine.
pub(super) struct SimEvents<'a> {
    pub k: usize,
    pub id: NodeId,
    pub incarnation: u32,
    /// The payload of the `Propose` this call steps, if it is one (an accepted proposal is
    /// tracked until applied with it).
    pub propose: Option<&'a [u8]>,
    /// Whether this call steps a `ChangeMembership`.
    pub change: bool,
    pub checker: &'a RefCell<Checker>,
    /// The node's disk: its copy of the readable log is what the checker compares.
    pub disk: &'a RefCell<Disk>,
    pub trace: &'a mut u64,
    pub proposed: &'a mut Vec<(usize, LogIndex, Term, Vec<u8>)>,
    pub reads: &'a mut Vec<(u64, LogIndex)>,
    pub ready_reads: &'a mut Vec<(u64, LogIndex)>,
    pub membership_changes: &'a mut u64,
    pub pending_change: &'a mut Option<(usize, u8)>,
    pub capture_wanted: &'a mut bool,
    pub verbose: bool,
    /// The answer to this call's proposal or membership change.
    pub answer: Option<Proposal>,
    /// The first invariant a step broke (the hook cannot stop the engine; the cluster
    /// reports it when the call returns).
    pub violation: Option<Violation>,
}

impl SimEvents<'_> {
    /// The checks on the node after one core step: Leader Append-Only (a leader never
    /// truncates), commit and applied within the log, and the checker's properties over the
    /// node's view and its readable log.
    fn check(&mut self, view: &dyn StepView, outputs: &[Output]) -> Result<(), Violation> {
        let n = self.k + 1;
        let truncates = outputs
            .iter()
            .any(|o| matches!(o, Output::Persist(p) if p.truncate_from.is_some()));
        if view.role() == Role::Leader && truncates {
            return Err(format!("Leader Append-Only: leader n{n} truncates its log"));
        }
        if view.commit() > view.last_index() || view.applied() > view.commit() {
            return Err(format!("n{n}: commit/applied beyond the log"));
        }
        let disk = self.disk.borrow();
        let v = NodeView {
            pos: self.k,
            id: self.id,
            incarnation: self.incarnation,
            role: view.role(),
            term: view.term(),
            commit: view.commit(),
            store: &disk.log,
        };
        self.checker.borrow_mut().observe_node(&v)
    }
}

impl Events for SimEvents<'_> {
    fn observe(&mut self, view: &dyn StepView, outputs: &[Output]) {
        self.checker.borrow_mut().steps += 1;
        for o in outputs {
            *self.trace = mix(*self.trace, format!("{}{o:?}", self.k).as_bytes());
        }
        if self.violation.is_none() {
            self.violation = self.check(view, outputs).err();
        }
    }

    fn proposal(&mut self, result: Proposal) {
        self.answer = Some(result);
        match result {
            Proposal::Accepted { index, term } => {
                if let Some(data) = self.propose {
                    self.proposed.push((self.k, index, term, data.to_vec()));
                } else if self.change {
                    *self.membership_changes += 1;
                    *self.pending_change = None;
                }
            }
            // A learner still catching up is promoted on a later try.
            Proposal::Refused(r) if r != MembershipRefusal::NotCaughtUp => {
                *self.pending_change = None
            }
            _ => {}
        }
    }

    fn read(&mut self, result: ReadResult) {
        match result {
            ReadResult::Ready { upto, index } => self.ready_reads.push((upto, index)),
            ReadResult::Failed { upto, .. } => self.reads.retain(|r| r.0 > upto),
        }
    }

    fn role_changed(&mut self, role: Role, term: Term, leader: Option<NodeId>) {
        if self.verbose {
            match leader {
                Some(l) if role == Role::Follower => {
                    println!("  n{} follows {l} in {term}", self.k + 1)
                }
                _ => println!("  n{} is {role} in {term}", self.k + 1),
            }
        }
    }

    fn capture_wanted(&mut self, _upto: LogIndex) {
        *self.capture_wanted = true;
    }
}
