//! Linearizable reads: ReadIndex (thesis section 6.4), batched per heartbeat round, the
//! opt-in leader lease, and reads on followers through the leader.
//!
//! A read registered at the leader records the commit index and waits for a heartbeat round
//! sent *after* it began to be answered by a majority (raftos' request_id / response_map
//! counting, the same rounds CheckQuorum counts). Reads arriving while a round is in flight
//! wait for the next one, so a burst of reads costs one round. A new leader first commits an
//! entry of its own term, so its commit index covers everything committed before it.

use crate::feature::READS;
use heapless::Deque;

use crate::error::StepError;
use crate::inject::{on, Bug};
use crate::log::window::WindowStorage;
use crate::message::{Message, ReadIndexRequest, ReadIndexResponse};
use crate::node::{Ctx, State};
use crate::output::{Output, ReadResult};
use crate::role_state::{Leading, ReadBatch, READ_BATCHES};
use crate::types::{LogIndex, NodeId, Role};

/// `a` is at or after `b` in wrapping round order.
fn round_reached(a: u32, b: u32) -> bool {
    a.wrapping_sub(b) < (1 << 31)
}

impl<const P: usize, const L: usize, const F: usize, W: WindowStorage> State<P, L, F, W> {
    pub(crate) fn read(&mut self, id: u64, cx: &mut Ctx<'_>) -> Result<(), StepError> {
        if self.last_read_id.is_some_and(|last| id <= last) {
            return Err(StepError::ReadIdNotIncreasing);
        }
        self.last_read_id = Some(id);
        match (self.role(), self.leader) {
            (Role::Leader, _) => self.register_read(id, None, cx),
            (_, Some(leader)) => {
                let req = ReadIndexRequest {
                    term: self.hs.term,
                    id,
                };
                self.send(leader, Message::ReadIndex(req), cx);
            }
            (_, None) => {
                let failed = ReadResult::Failed {
                    upto: id,
                    leader_hint: None,
                };
                cx.push(Output::Read(failed), &mut self.stats);
            }
        }
        Ok(())
    }

    /// The leader has committed an entry of its own term.
    fn committed_in_term(&self) -> bool {
        self.log.term(self.commit) == Some(self.hs.term) || on(Bug::StaleReadIndex)
    }

    /// The round a majority of voters (this leader, whose state is `l`, included) has
    /// answered — of both configurations while joint.
    fn quorum_round(&self, l: &Leading<P, F>) -> u32 {
        // Rounds wrap: order them by distance behind the current round, nearest highest, and
        // take the value a quorum reaches.
        const NEAR: u64 = 1 << 32;
        let mut near = [0u64; P];
        for (k, slot) in near.iter_mut().enumerate().take(self.tracker.len()) {
            let r = if k == self.tracker.me {
                self.round
            } else {
                // Invariant: `k < tracker.len()` (`take`), and `progress` has `tracker.len()`
                // entries while leading (see `Leading::progress`).
                l.progress[k].acked_round
            };
            *slot = NEAR - u64::from(self.round.wrapping_sub(r));
        }
        let behind = match self.tracker.voters.committed_value(&near) {
            // No voter tracked (cannot happen): confirm nothing.
            0 => 1 << 30,
            v => (NEAR - v) as u32,
        };
        self.round.wrapping_sub(behind)
    }

    /// The leader lease: a majority answered a round sent less than `election_ticks - 2`
    /// ticks ago, so (with CheckQuorum's lease on the followers) no other leader exists.
    fn lease_valid(&self, l: &Leading<P, F>) -> bool {
        let q = self.quorum_round(l);
        if self.round.wrapping_sub(q) as usize >= self.round_sent.len() {
            return false;
        }
        // Invariant: `round_sent` is a `[u64; 4]`: an index taken `% round_sent.len()` is below 4.
        let sent = self.round_sent[q as usize % self.round_sent.len()];
        self.now.saturating_sub(sent) + 2 < u64::from(self.cfg.election_ticks)
    }

    /// A read at the leader (its callers checked it leads).
    pub(crate) fn register_read(&mut self, id: u64, from: Option<NodeId>, cx: &mut Ctx<'_>) {
        let ready = self.committed_in_term();
        let Some(l) = self.role.leading() else {
            return;
        };
        let cq = self.cfg.check_quorum || on(Bug::LeaseWithoutCheckQuorum);
        let lease = self.cfg.lease_reads && cq && !l.lease_revoked;
        if from.is_none() && ready && lease && self.lease_valid(l) {
            let r = ReadResult::Ready {
                upto: id,
                index: self.commit,
            };
            cx.push(Output::Read(r), &mut self.stats);
            return;
        }
        let Some(l) = self.role.leading_mut() else {
            return;
        };
        // Join this requester's waiting batch, if any; a batch whose round was already sent
        // cannot take reads that began after it.
        if let Some(b) = l.reads.iter_mut().find(|b| b.from == from && b.round == 0) {
            b.upto = b.upto.max(id);
        } else if l
            .reads
            .push_back(ReadBatch {
                upto: id,
                index: LogIndex::ZERO,
                round: 0,
                from,
            })
            .is_err()
        {
            self.stats.reads_failed_busy += 1;
            self.fail_read(id, from, cx);
            return;
        }
        let in_flight = l.reads.iter().any(|b| b.round != 0);
        if ready && !in_flight {
            self.start_read_round(cx);
        }
    }

    /// Starts a heartbeat round for every waiting batch.
    pub(crate) fn start_read_round(&mut self, cx: &mut Ctx<'_>) {
        if !READS {
            // No read is ever registered (`Input::Read` and ReadIndex are refused).
            return;
        }
        let waiting = |l: &Leading<P, F>| l.reads.iter().any(|b| b.round == 0);
        if !self.committed_in_term() || !self.role.leading().is_some_and(waiting) {
            return;
        }
        self.next_round();
        self.assign_waiting_reads();
        for k in 0..self.tracker.len() {
            if self.is_peer(k) {
                self.send_heartbeat_now(k, cx);
            }
        }
        self.check_reads(cx);
    }

    /// Answers every batch whose round a majority has acknowledged. Inline: with no read
    /// waiting (the common case) it is one test.
    #[inline(always)]
    pub(crate) fn check_reads(&mut self, cx: &mut Ctx<'_>) {
        if !READS {
            // No read is ever registered (`Input::Read` and ReadIndex are refused).
            return;
        }
        if self.role.leading().is_some_and(|l| !l.reads.is_empty()) {
            self.answer_reads(cx);
        }
    }

    /// [`State::check_reads`] with reads waiting (out of line).
    #[inline(never)]
    fn answer_reads(&mut self, cx: &mut Ctx<'_>) {
        let q = match self.role.leading() {
            Some(l) if !l.reads.is_empty() => self.quorum_round(l),
            _ => return,
        };
        let mut local: Option<(u64, LogIndex)> = None;
        while let Some(l) = self.role.leading_mut() {
            let Some(b) = l.reads.front().copied() else {
                break;
            };
            if b.round == 0 || !round_reached(q, b.round) {
                break;
            }
            let _ = l.reads.pop_front();
            match b.from {
                None => {
                    let (u, i) = local.unwrap_or((0, LogIndex::ZERO));
                    local = Some((u.max(b.upto), i.max(b.index)));
                }
                Some(f) => {
                    let resp = ReadIndexResponse {
                        term: self.hs.term,
                        id: b.upto,
                        index: b.index,
                        ok: true,
                    };
                    cx.push(
                        Output::Send {
                            to: f,
                            msg: Message::ReadIndexResponse(resp),
                        },
                        &mut self.stats,
                    );
                }
            }
        }
        if let Some((upto, index)) = local {
            cx.push(
                Output::Read(ReadResult::Ready { upto, index }),
                &mut self.stats,
            );
        }
        // Reads that waited behind the confirmed round start the next one.
        if self
            .role
            .leading()
            .is_some_and(|l| l.reads.iter().all(|b| b.round == 0))
        {
            self.start_read_round(cx);
        }
    }

    fn fail_read(&mut self, upto: u64, from: Option<NodeId>, cx: &mut Ctx<'_>) {
        let hint = self.leader;
        match from {
            None => cx.push(
                Output::Read(ReadResult::Failed {
                    upto,
                    leader_hint: hint,
                }),
                &mut self.stats,
            ),
            Some(f) => {
                let resp = ReadIndexResponse {
                    term: self.hs.term,
                    id: upto,
                    index: LogIndex::ZERO,
                    ok: false,
                };
                cx.push(
                    Output::Send {
                        to: f,
                        msg: Message::ReadIndexResponse(resp),
                    },
                    &mut self.stats,
                );
            }
        }
    }

    /// Leadership is lost: every read that was pending at the leader (`reads`) fails (its
    /// requester retries elsewhere).
    pub(crate) fn fail_all_reads(
        &mut self,
        mut reads: Deque<ReadBatch, READ_BATCHES>,
        cx: &mut Ctx<'_>,
    ) {
        if !READS {
            // No read is ever registered (`Input::Read` and ReadIndex are refused).
            return;
        }
        let mut local: Option<u64> = None;
        let mut per_peer: heapless::Vec<(NodeId, u64), P> = heapless::Vec::new();
        while let Some(b) = reads.pop_front() {
            match b.from {
                None => local = Some(local.unwrap_or(0).max(b.upto)),
                Some(f) => match per_peer.iter_mut().find(|(p, _)| *p == f) {
                    Some(e) => e.1 = e.1.max(b.upto),
                    None => {
                        let _ = per_peer.push((f, b.upto));
                    }
                },
            }
        }
        if let Some(upto) = local {
            self.fail_read(upto, None, cx);
        }
        for (f, upto) in per_peer {
            self.fail_read(upto, Some(f), cx);
        }
    }

    pub(crate) fn handle_read_index(
        &mut self,
        from: NodeId,
        req: ReadIndexRequest,
        cx: &mut Ctx<'_>,
    ) {
        if self.role() == Role::Leader {
            self.register_read(req.id, Some(from), cx);
        } else {
            self.fail_read(req.id, Some(from), cx);
        }
    }

    pub(crate) fn handle_read_index_response(
        &mut self,
        from: NodeId,
        r: ReadIndexResponse,
        cx: &mut Ctx<'_>,
    ) {
        // A refusal is safe to pass on from anyone (the read is retried); a read index only
        // from the leader this node follows.
        if r.ok && self.leader != Some(from) {
            self.stats.ignored_unexpected += 1;
            return;
        }
        let out = if r.ok {
            ReadResult::Ready {
                upto: r.id,
                index: r.index,
            }
        } else {
            ReadResult::Failed {
                upto: r.id,
                leader_hint: None,
            }
        };
        cx.push(Output::Read(out), &mut self.stats);
    }
}

impl<const P: usize, const L: usize, const F: usize, W: WindowStorage> State<P, L, F, W> {
    /// A heartbeat round is starting: waiting read batches ride on it.
    pub(crate) fn assign_waiting_reads(&mut self) {
        if !READS {
            // No read is ever registered (`Input::Read` and ReadIndex are refused).
            return;
        }
        if !self.committed_in_term() {
            return;
        }
        let (round, commit) = (self.round, self.commit);
        if let Some(l) = self.role.leading_mut() {
            for b in l.reads.iter_mut().filter(|b| b.round == 0) {
                b.round = round;
                b.index = commit;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::round_reached;

    /// Rounds wrap: a round is reached when it is at most 2^31 - 1 rounds ahead of the one
    /// waited for; exactly 2^31 ahead is read as behind (the two halves of the space).
    #[test]
    fn a_round_is_reached_within_half_the_space_ahead_and_not_beyond() {
        assert!(round_reached(7, 7));
        assert!(round_reached(8, 7));
        assert!(!round_reached(6, 7));
        assert!(round_reached(2, u32::MAX), "across the wrap");
        assert!(round_reached(7 + (1 << 31) - 1, 7));
        assert!(!round_reached(7u32.wrapping_add(1 << 31), 7));
        assert!(!round_reached(7u32.wrapping_add(u32::MAX), 7));
    }
}
