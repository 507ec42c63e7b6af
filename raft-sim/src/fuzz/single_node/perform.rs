//! The single-node target stepping its node and performing the outputs on its simulated
//! node, checking each.

use raft_core::{persist_entries, Durability, Input, LogStore, Output, ReadResult};

use super::{Harness, NodeOutputs, View, STRICT_ERROR_STEPS};

impl Harness {
    /// Steps the node, checks the outputs and the invariants, and performs the outputs.
    pub(super) fn step(&mut self, input: Input<'_>) {
        self.steps += 1;
        let want_err = self.expected_error(&input);
        let before = View::of(self.state());
        let mut out = NodeOutputs::new();
        let r = match self.node.state.as_mut() {
            Some(s) => s.step(input, &mut out),
            None => unreachable!("the single-node harness restores at once after a crash"),
        };
        let s = self.state();
        if self.trace {
            println!("step {}: {input:?} -> {r:?} {out:?}", self.steps);
        }
        if s.stats().output_overflow != 0 {
            self.fail(&format!("outputs overflowed on {input:?}: {out:?}"));
        }
        match (r, want_err) {
            (Err(e), Some(w)) if e == w => {
                let pending_work_only = out
                    .iter()
                    .all(|o| matches!(o, Output::Apply { .. } | Output::Compact { .. }));
                let changed = !out.is_empty() || View::of(s) != before;
                if changed && (STRICT_ERROR_STEPS || !pending_work_only) {
                    self.fail(&format!(
                        "driver error {e} on {input:?} changed the node or emitted {out:?}"
                    ));
                }
                // Known bug: the step still did its pending work; perform it to stay in step.
                self.perform(&input, &out);
                self.prev = View::of(self.state());
                return;
            }
            (Ok(()), None) => {}
            (r, w) => self.fail(&format!("{input:?} gave {r:?}, documented {w:?}")),
        }
        if matches!(input, Input::StorageFailed) {
            if !out.is_empty() || !s.is_halted() {
                self.fail("a storage failure must halt the node and emit nothing");
            }
            return;
        }
        self.check_outputs(&input, &before, &out);
        self.perform(&input, &out);
        self.check_view(&input);
    }

    /// Performs the outputs in order on the simulated node, checking each.
    fn perform(&mut self, input: &Input<'_>, out: &NodeOutputs) {
        for o in out.iter() {
            match o {
                Output::Persist(p) => {
                    if let Err(e) = persist_entries(&mut self.node.store, p, input) {
                        self.fail(&format!("performing {p:?} failed: {e}"));
                    }
                    let w = self.node.record_write(p);
                    match self.cfg.durability {
                        Durability::Inline => {
                            self.node.make_durable(&w);
                        }
                        Durability::Deferred => self.node.pending.push_back(w),
                    }
                }
                Output::Send { to, msg } => self.check_send(*to, msg),
                Output::Apply { first, last } => {
                    let s = self.state();
                    if *first != self.node.machine.applied.next()
                        || last < first
                        || *last > s.commit()
                        || *last > s.durable_index()
                    {
                        self.fail(&format!(
                            "Apply {first}..={last} after {}, commit {}, durable {}",
                            self.node.machine.applied,
                            s.commit(),
                            s.durable_index()
                        ));
                    }
                    let mut i = *first;
                    while i <= *last {
                        if self.node.apply(i).is_none() {
                            self.fail(&format!("Apply {i}: not in the store"));
                        }
                        i = i.next();
                    }
                }
                Output::Compact { upto } => {
                    if *upto > self.node.snapshot.0.applied || *upto > self.state().applied() {
                        self.fail(&format!("Compact {upto} beyond the capture"));
                    }
                    self.node.store.compact_to(*upto);
                    self.node.durable.compact_to(*upto);
                }
                Output::RoleChanged { .. } | Output::CaptureWanted { .. } | Output::Proposal(_) => {
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
                // Snapshot chunks and installs: the single node has no snapshot store, so they
                // are not performed (the cluster target runs them end to end). A wildcard, so
                // this file builds before and after those variants land.
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
        if let Some(Output::RoleChanged { role, .. }) = out
            .iter()
            .rev()
            .find(|o| matches!(o, Output::RoleChanged { .. }))
        {
            if *role != self.state().role() {
                self.fail(&format!("last RoleChanged says {role}: {out:?}"));
            }
        }
    }
}
