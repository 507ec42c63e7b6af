//! Reads waiting for room at the leader. raft-core keeps a few batches of ReadIndex reads
//! (one per heartbeat round still unanswered, and the batch waiting for the next round); a
//! read that finds them all taken is refused (`reads_failed_busy` in its stats), and the
//! batches free up as their rounds are answered. The driver holds such a read and issues it
//! again at each later turn until raft-core takes it (or, a read timeout after it was first
//! held, tells its client `Busy`). A client then waits for its read as it waits for a write,
//! instead of pausing and sending it again.
//!
//! Held reads are client requests waiting like any other: they count against the `4 x
//! clients` limit past which new requests are answered `Busy` at once. A node that stops
//! leading issues them again too; raft-core then fails them, and their clients are sent to
//! the new leader.

use std::time::Instant;

use super::serve::PendingRead;
use super::{Node, NodeError};
use crate::machine::StateMachine;
use crate::wire::ReplyBody;

impl<M: StateMachine> Node<M> {
    /// raft-core had no room for `read` (refused in the step that issued it).
    pub(super) fn hold_read(&mut self, mut read: PendingRead) {
        self.counters.reads_failed += 1;
        self.counters.reads_held += 1;
        // A refusal is not a lost attempt (`READ_ATTEMPTS` counts those).
        read.attempts = read.attempts.saturating_sub(1);
        let timeout = self.read_timeout();
        read.held_until
            .get_or_insert_with(|| Instant::now() + timeout);
        self.held_reads.push_back(read);
    }

    /// Issues the held reads again, oldest first, until raft-core refuses one (no room yet:
    /// it goes back to the front and the rest wait for a later turn). A read held for a read
    /// timeout is answered `Busy` instead.
    pub(super) fn reissue_held_reads(&mut self, now: Instant) -> Result<(), NodeError> {
        for _ in 0..self.held_reads.len() {
            let Some(read) = self.held_reads.pop_front() else {
                break;
            };
            if read.held_until.is_some_and(|t| t <= now) {
                self.counters.reads_busy += 1;
                self.reply(read.reply, ReplyBody::Busy);
                continue;
            }
            let held = self.held_reads.len();
            self.issue_read(read)?;
            if self.held_reads.len() > held {
                // Refused again: back to the front, in its turn.
                if let Some(again) = self.held_reads.pop_back() {
                    self.held_reads.push_front(again);
                }
                break;
            }
        }
        Ok(())
    }
}
