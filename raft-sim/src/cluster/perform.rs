//! Calls into a node's engine, and what the cluster does after each: frames onto the
//! network, writes acknowledged to clients, reads served.

use raftcore::engine::Events;
use raftcore::{EngineError, Input, LogIndex, Proposal, Role, SnapshotMeta, Term};

use super::events::SimEvents;
use super::Cluster;
use crate::check::Violation;
use crate::node::{SimEngine, SimError};

/// What a call into a node's engine does.
#[derive(Clone, Copy, Debug)]
pub(super) enum Call<'a> {
    /// Steps an input and performs its outputs.
    Step(Input<'a>),
    /// Reports the writes up to a sequence number durable.
    Persisted(u64),
    /// Captures the state machine into a snapshot and reports it.
    Capture,
}

impl<const P: usize, const L: usize, const F: usize> Cluster<P, L, F> {
    /// Steps node `k` with `input` (if it is up); its engine performs the outputs in order.
    pub fn step_node(&mut self, k: usize, input: Input<'_>) -> Result<(), Violation> {
        self.call(k, Call::Step(input)).map(|_| ())
    }

    /// Calls node `k`'s engine (if the node is up), then moves its frames onto the network,
    /// acknowledges the writes it applied that a client proposed on it, serves the reads its
    /// state machine has reached, and counts a leader a committed change removed.
    pub(super) fn call(&mut self, k: usize, call: Call<'_>) -> Result<Outcome, Violation> {
        let Cluster {
            nodes,
            checker,
            proposed,
            reads,
            ready_reads,
            membership_changes,
            pending_change,
            trace,
            verbose,
            ..
        } = self;
        let node = &mut nodes[k];
        let Some(engine) = node.engine.as_mut() else {
            return Ok(Outcome::default());
        };
        let was_leader = engine.state().role() == Role::Leader;
        let mut events = SimEvents {
            k,
            id: node.id,
            incarnation: node.incarnation,
            propose: match call {
                Call::Step(Input::Propose { data }) => Some(data),
                _ => None,
            },
            change: matches!(call, Call::Step(Input::ChangeMembership { .. })),
            checker,
            disk: &node.disk,
            trace,
            proposed,
            reads: &mut reads[k],
            ready_reads: &mut ready_reads[k],
            membership_changes,
            pending_change,
            capture_wanted: &mut node.capture_wanted,
            verbose: *verbose,
            answer: None,
            violation: None,
        };
        let result = run(engine, call, &mut events);
        let (answer, violation) = (events.answer, events.violation);
        let captured = match result {
            // The hook saw the first broken invariant; a seam may have failed after it.
            _ if violation.is_some() => return Err(violation.unwrap_or_default()),
            Ok(captured) => captured,
            Err(e) => return Err(describe(k, call, e)),
        };
        let state = engine.state();
        if state.stats().output_overflow > 0 {
            return Err(format!("n{}: outputs overflowed", k + 1));
        }
        let voter = state.membership().votes(state.id());
        if was_leader && state.role() != Role::Leader && !voter {
            self.leaders_removed += 1;
        }
        if captured.is_some() {
            node.capture_wanted = false;
        }
        let sent = std::mem::take(&mut engine.transport_mut().outbox);
        let installed = std::mem::take(&mut engine.snapshots_mut().installed);
        let applied = std::mem::take(&mut engine.machine_mut().applied);
        for p in sent {
            self.net.send(p);
        }
        self.snapshots_installed += installed;
        for (index, term) in applied {
            self.ack_applied(k, index, term);
        }
        self.serve_reads(k)?;
        Ok(Outcome { answer })
    }

    /// A write proposed on node `k` and applied there at `index` is acknowledged to its
    /// client if the applied entry is the one accepted (same term).
    fn ack_applied(&mut self, k: usize, index: LogIndex, term: Term) {
        let Some(pos) = self.proposed.iter().position(|p| p.0 == k && p.1 == index) else {
            return;
        };
        let (_, index, accepted, data) = self.proposed.swap_remove(pos);
        if accepted == term {
            if self.verbose {
                println!(
                    "  n{} committed entry {index} ({} bytes)",
                    k + 1,
                    data.len()
                );
            }
            self.acked.push((index, term, data));
        }
    }

    /// Serves every read whose read index the state machine has reached, checking it sees
    /// every write acknowledged before it began (linearizable reads).
    fn serve_reads(&mut self, k: usize) -> Result<(), Violation> {
        let Some(applied) = self.nodes[k].machine().map(|m| m.applied) else {
            return Ok(());
        };
        let ready = core::mem::take(&mut self.ready_reads[k]);
        for (upto, index) in ready {
            if index > applied {
                self.ready_reads[k].push((upto, index));
                continue;
            }
            let mut i = 0;
            while i < self.reads[k].len() {
                let (id, floor) = self.reads[k][i];
                if id > upto {
                    i += 1;
                    continue;
                }
                if applied < floor {
                    return Err(format!(
                        "n{}: read {id} served at {applied}, older than write {floor} acknowledged before it began",
                        k + 1
                    ));
                }
                self.reads_served += 1;
                self.reads[k].swap_remove(i);
            }
        }
        Ok(())
    }
}

/// What a call into an engine returned.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Outcome {
    /// The answer to a proposal or membership change stepped.
    pub answer: Option<Proposal>,
}

/// Performs `call` on `engine`.
fn run<const P: usize, const L: usize, const F: usize>(
    engine: &mut SimEngine<P, L, F>,
    call: Call<'_>,
    events: &mut impl Events,
) -> Result<Option<SnapshotMeta>, EngineError<SimError>> {
    match call {
        Call::Step(input) => engine.step(input, events).map(|()| None),
        Call::Persisted(seq) => engine.persisted(seq, events).map(|()| None),
        Call::Capture => engine.capture(events),
    }
}

/// A failed call as a violation.
fn describe(k: usize, call: Call<'_>, e: EngineError<SimError>) -> Violation {
    match e {
        EngineError::Driver(SimError(v)) => v,
        EngineError::Core(e) => match call {
            Call::Step(input) => format!("n{}: driver error {e} on {input:?}", k + 1),
            _ => format!("n{}: driver error {e} on {call:?}", k + 1),
        },
        EngineError::MissingEntry(i) => format!("n{}: Apply {i} not in store", k + 1),
    }
}
