//! Scripted starts: a bound may begin its exhaustive search not at the initial state but at
//! the end of a short, fixed schedule ([`Bounds::script`](crate::Bounds::script)) run on the real nodes through the
//! same transitions as the search. A classic bug's counterexample is 20-30 actions from the
//! initial state (several elections, each with its frames): past any depth a breadth-first
//! search affords in CI. A script plays the well-known opening of the scenario (who leads
//! which term, which frames are lost) and the search then explores every interleaving of
//! what follows, where the bug shows or not. Without the bug the same space must pass.
//!
//! Steps name frames by sender and receiver rather than by their position in the network,
//! so a script reads as the scenario it plays and survives changes in what else is in
//! flight.

use stateright::Model;

use crate::state::ModelState;
use crate::{Action, RaftModel};

/// One step of a scripted start (nodes by position: 0 is n1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// [`Action::Tick`] on this node (a macro tick under [`Bounds::macro_ticks`](crate::Bounds::macro_ticks)).
    Tick(u8),
    /// Deliver the first frame in flight from `.0` to `.1`.
    Deliver(u8, u8),
    /// Lose the first frame in flight from `.0` to `.1` (the scenario's network loses it;
    /// the search's drop budget is not touched).
    Lose(u8, u8),
    /// Lose every frame in flight to node `.0`.
    LoseAllTo(u8),
    /// Deliver the first frame in flight until none is (at most 64 frames): the network
    /// settles, every node hears what was sent to it.
    Settle,
    /// [`Action::Invoke`]: client `.0` invokes its next operation on node `.1`.
    Invoke(u8, u8),
}

impl RaftModel {
    /// The initial state of the search: the model's initial state after
    /// [`Bounds::script`](crate::Bounds::script), with every budget of the bounds left whole. `Err` names the step
    /// that could not run (no such frame, no transition, a bound passed).
    pub fn scripted_start(&self) -> Result<ModelState, String> {
        let mut s = self.initial_state();
        if self.bounds.script.is_empty() {
            return Ok(s);
        }
        // The script does not spend the search's budgets: they are set whole after it.
        s.left = [u8::MAX; 8];
        for (n, &step) in self.bounds.script.iter().enumerate() {
            let frame = |s: &ModelState, from: u8, to: u8| {
                s.net
                    .iter()
                    .position(|p| p.from == from && p.to == to)
                    .map(|i| i as u8)
                    .ok_or_else(|| {
                        format!(
                            "script step {n}: {step:?}: no frame n{} -> n{} in flight",
                            from + 1,
                            to + 1
                        )
                    })
            };
            let action = match step {
                Step::Tick(k) => Some(Action::Tick(k)),
                Step::Deliver(from, to) => Some(Action::Deliver(frame(&s, from, to)?)),
                Step::Invoke(c, k) => Some(Action::Invoke(c, k)),
                Step::Lose(from, to) => {
                    let i = frame(&s, from, to)?;
                    s.net.remove(usize::from(i));
                    None
                }
                Step::LoseAllTo(to) => {
                    s.net.retain(|p| p.to != to);
                    None
                }
                Step::Settle => {
                    for _ in 0..64 {
                        if s.net.is_empty() {
                            break;
                        }
                        s = self.next_state(&s, Action::Deliver(0)).ok_or_else(|| {
                            format!("script step {n}: Settle: a delivery is no transition")
                        })?;
                    }
                    if !s.net.is_empty() {
                        return Err(format!(
                            "script step {n}: Settle: the network never empties"
                        ));
                    }
                    None
                }
            };
            if let Some(a) = action {
                s = self.next_state(&s, a).ok_or_else(|| {
                    format!("script step {n}: {step:?} is no transition (refused, or past a bound)")
                })?;
            }
        }
        s.left = self.budgets();
        Ok(s)
    }
}
