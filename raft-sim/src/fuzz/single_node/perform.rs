//! The single-node target stepping its node through the engine, and the checks on what each
//! step's outputs made the engine do.

use raftcore::engine::{Events, StepView};
use raftcore::{EngineError, Input, Output, ReadResult};

use super::{Harness, View};

/// A call into the node's engine.
#[derive(Clone, Copy, Debug)]
pub(super) enum Call<'a> {
    /// Steps an input.
    Step(Input<'a>),
    /// Reports the writes up to a sequence number durable (`Engine::persisted`).
    Persisted(u64),
}

/// The outputs of every core step of one call, recorded by the engine's `Events::observe`
/// hook (a call steps the core more than once when the contract requires a follow-up).
#[derive(Default)]
pub(super) struct Recorder {
    pub steps: Vec<Vec<Output>>,
}

impl Events for Recorder {
    fn observe(&mut self, _view: &dyn StepView, outputs: &[Output]) {
        self.steps.push(outputs.to_vec());
    }
}

impl Harness {
    /// Steps `input` and checks it (see [`Harness::call`]).
    pub(super) fn step(&mut self, input: Input<'_>) {
        self.call(Call::Step(input));
    }

    /// Calls the engine, then checks the outputs of each core step it made, what the engine
    /// performed, and the node's invariants. A driver error must be the documented one and
    /// leave the node unchanged (the engine performs nothing of a step that erred).
    pub(super) fn call(&mut self, call: Call<'_>) {
        self.steps += 1;
        let input = match call {
            Call::Step(input) => input,
            Call::Persisted(seq) => Input::Persisted { seq },
        };
        let want_err = self.expected_error(&input);
        let before = View::of(self.state());
        // The members named before this step's writes (the core may still ask them for votes).
        self.note_members();
        let mut rec = Recorder::default();
        let r = match (self.engine.as_mut(), call) {
            (Some(e), Call::Step(input)) => e.step(input, &mut rec),
            (Some(e), Call::Persisted(seq)) => e.persisted(seq, &mut rec),
            (None, _) => unreachable!("the single-node harness restores at once after a crash"),
        };
        if self.trace {
            println!("step {}: {call:?} -> {r:?} {:?}", self.steps, rec.steps);
        }
        let s = self.state();
        if s.stats().output_overflow != 0 {
            self.fail(&format!("outputs overflowed on {input:?}: {:?}", rec.steps));
        }
        match (r, want_err) {
            (Err(EngineError::Core(e)), Some(w)) if e == w => {
                if !rec.steps.is_empty() || View::of(s) != before {
                    self.fail(&format!(
                        "driver error {e} on {input:?} changed the node or emitted {:?}",
                        rec.steps
                    ));
                }
                return;
            }
            (Ok(()), None) => {}
            (Err(EngineError::Driver(e)), _) => self.fail(&format!("on {input:?}: {e}")),
            (r, w) => self.fail(&format!("{input:?} gave {r:?}, documented {w:?}")),
        }
        if matches!(input, Input::StorageFailed) {
            if rec.steps.iter().any(|o| !o.is_empty()) || !s.is_halted() {
                self.fail("a storage failure must halt the node and emit nothing");
            }
            return;
        }
        for (k, out) in rec.steps.iter().enumerate() {
            // Follow-up steps answer no proposal.
            let stepped = if k == 0 { input } else { Input::Tick };
            self.check_outputs(&stepped, &before, out);
            self.check_performed(&stepped, out);
        }
        self.check_view(&input);
    }

    /// What the engine did with one core step's outputs, against the node after the call:
    /// applied within commit and durable, compacted within the capture, reads answered only
    /// for issued ids, messages sent only where they may go, and the last role change true.
    fn check_performed(&self, input: &Input<'_>, out: &[Output]) {
        let s = self.state();
        for o in out {
            match o {
                Output::Send { to, msg } => self.check_send(*to, msg),
                Output::Apply { first, last }
                    if last < first || *last > s.commit() || *last > s.durable_index() =>
                {
                    self.fail(&format!(
                        "Apply {first}..={last}: applied {}, commit {}, durable {}",
                        self.machine().applied,
                        s.commit(),
                        s.durable_index()
                    ));
                }
                Output::Compact { upto } if *upto > s.applied() => {
                    self.fail(&format!("Compact {upto} beyond the capture"));
                }
                Output::Read(r) => {
                    let upto = match r {
                        ReadResult::Ready { upto, .. } | ReadResult::Failed { upto, .. } => *upto,
                    };
                    let issued = match input {
                        Input::Read { id } => Some(*id),
                        _ => self.last_read,
                    };
                    if issued.is_none_or(|l| upto > l) {
                        self.fail(&format!("{r:?} answers a read never issued"));
                    }
                }
                _ => {}
            }
        }
        if let Some(Output::RoleChanged { role, .. }) = out
            .iter()
            .rev()
            .find(|o| matches!(o, Output::RoleChanged { .. }))
        {
            if *role != s.role() {
                self.fail(&format!("last RoleChanged says {role}: {out:?}"));
            }
        }
    }
}
