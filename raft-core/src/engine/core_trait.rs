//! [`Core`]: what the engine needs of a [`State`] of any capacity, so that `Engine` takes one
//! type parameter for it instead of four.

use heapless::VecView;

use super::seams::StepView;
use crate::config::Durability;
use crate::error::StepError;
use crate::input::Input;
use crate::log::window::WindowStorage;
use crate::membership::Membership;
use crate::output::Output;
use crate::state::State;
use crate::types::{HardState, LogIndex, NodeId, Role, Term};

mod sealed {
    pub trait Sealed {}
}

/// A raft-core [`State`] of any capacity: implemented for every `State<P, L, F, W>` and for a
/// `&mut` borrow of one, and nothing else (sealed). The borrow lets a firmware keep its node's
/// `State` in a `static` of its own, built there with [`State::init_in`], and hand the engine
/// a `&'static mut` to it: no `State` then passes through the boot's stack frame.
pub trait Core: StepView + sealed::Sealed {
    /// [`State::step_view`]: the output list is cleared first and has room for any cluster.
    #[doc(hidden)]
    fn step_into<const N: usize>(
        &mut self,
        input: &Input<'_>,
        out: &mut heapless::Vec<Output, N>,
    ) -> Result<(), StepError>;
    /// [`State::membership`].
    fn membership(&self) -> &Membership;
    /// [`State::hard_state`].
    fn hard_state(&self) -> HardState;
    /// [`State::term_at`].
    fn term_at(&self, index: LogIndex) -> Option<Term>;
    /// [`State::is_halted`].
    fn is_halted(&self) -> bool;
    /// The configured durability.
    fn durability(&self) -> Durability;
    /// The configured cluster id (written into every frame header).
    fn cluster_id(&self) -> u32;
}

impl<const P: usize, const L: usize, const F: usize, W: WindowStorage> sealed::Sealed
    for State<P, L, F, W>
{
}

impl<const P: usize, const L: usize, const F: usize, W: WindowStorage> Core for State<P, L, F, W> {
    #[inline]
    fn step_into<const N: usize>(
        &mut self,
        input: &Input<'_>,
        out: &mut heapless::Vec<Output, N>,
    ) -> Result<(), StepError> {
        // Invariant: an inline const block, evaluated at compile time for each `N` and `PEERS`:
        // an engine whose output list is below `outputs_needed(PEERS)` fails to build; nothing
        // can panic at run time.
        const {
            assert!(
                N >= crate::output::outputs_needed(P),
                "the engine's output list is below outputs_needed(PEERS)"
            )
        };
        out.clear();
        let view: &mut VecView<Output> = out.as_mut_view();
        self.step_ref(input, view)
    }
    fn membership(&self) -> &Membership {
        State::membership(self)
    }
    fn hard_state(&self) -> HardState {
        State::hard_state(self)
    }
    fn term_at(&self, index: LogIndex) -> Option<Term> {
        State::term_at(self, index)
    }
    fn is_halted(&self) -> bool {
        State::is_halted(self)
    }
    fn durability(&self) -> Durability {
        self.cfg.durability
    }
    fn cluster_id(&self) -> u32 {
        self.cfg.cluster_id
    }
}

impl<const P: usize, const L: usize, const F: usize, W: WindowStorage> StepView
    for State<P, L, F, W>
{
    fn id(&self) -> NodeId {
        State::id(self)
    }
    fn role(&self) -> Role {
        State::role(self)
    }
    fn term(&self) -> Term {
        State::term(self)
    }
    fn commit(&self) -> LogIndex {
        State::commit(self)
    }
    fn applied(&self) -> LogIndex {
        State::applied(self)
    }
    fn last_index(&self) -> LogIndex {
        State::last_index(self)
    }
}

impl<C: Core> sealed::Sealed for &mut C {}

/// The engine over a borrowed node: every call goes to the node borrowed.
impl<C: Core> Core for &mut C {
    #[inline]
    fn step_into<const N: usize>(
        &mut self,
        input: &Input<'_>,
        out: &mut heapless::Vec<Output, N>,
    ) -> Result<(), StepError> {
        (**self).step_into(input, out)
    }
    fn membership(&self) -> &Membership {
        (**self).membership()
    }
    fn hard_state(&self) -> HardState {
        (**self).hard_state()
    }
    fn term_at(&self, index: LogIndex) -> Option<Term> {
        (**self).term_at(index)
    }
    fn is_halted(&self) -> bool {
        (**self).is_halted()
    }
    fn durability(&self) -> Durability {
        (**self).durability()
    }
    fn cluster_id(&self) -> u32 {
        (**self).cluster_id()
    }
}

impl<C: StepView> StepView for &mut C {
    fn id(&self) -> NodeId {
        (**self).id()
    }
    fn role(&self) -> Role {
        (**self).role()
    }
    fn term(&self) -> Term {
        (**self).term()
    }
    fn commit(&self) -> LogIndex {
        (**self).commit()
    }
    fn applied(&self) -> LogIndex {
        (**self).applied()
    }
    fn last_index(&self) -> LogIndex {
        (**self).last_index()
    }
}
