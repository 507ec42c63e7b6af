//! Client requests and linearizable reads: what the node does with a request (a write, a read,
//! a status or stats request, a membership change), and how it answers once the engine's step
//! has produced the answer.
//!
//! - A command is stepped as `Input::Propose`; `Proposal::Accepted` parks the client under the
//!   entry's index ([`Waiter`]), the other answers go back at once. Once the entry is applied
//!   (the [`Applier`](super::apply::Applier) recorded its response), [`Node::settle`] answers
//!   it, or says `Retry` when another term's entry took the index.
//! - A read (under [`ReadPolicy::ReadIndex`]) gets a new read id and steps `Input::Read`;
//!   `ReadResult::Ready { upto, index }` serves every pending read up to `upto` once the state
//!   machine applied `index`, `Failed` redirects the client (or, at a leader with no room for
//!   another batch of reads, holds the read until there is: `read_room.rs`). A read whose
//!   answer did not come within two election timeouts is issued again, and after
//!   [`READ_ATTEMPTS`] the client is told to retry.
//! - A snapshot installed from a leader replaces the entries proposals were waiting for: their
//!   clients are told to retry (the key-value sessions keep the retry exactly-once).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use raftcore::{Input, Proposal, ReadResult, Role, Term};

use super::apply::Outcome;
use super::handle::Done;
use super::{Node, NodeError, ProposeError};
use crate::machine::StateMachine;
use crate::wire::{ClientBody, ClientRequest, ReplyBody};

/// How many times a read is issued to raft-core before the client is told to retry.
pub const READ_ATTEMPTS: u32 = 3;

/// How linearizable reads (commands the state machine calls read-only) are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadPolicy {
    /// raft-core's ReadIndex (`Input::Read`): the leader confirms its leadership with a
    /// heartbeat round begun after the read arrived, and the read is answered from the state
    /// machine ([`StateMachine::query`]) once it has applied the commit index of that moment.
    /// No log entry, no fsync. A follower forwards the read to the leader; a read whose
    /// answer does not come within two election timeouts is issued again, and answered
    /// `Retry` after [`READ_ATTEMPTS`] attempts.
    #[default]
    ReadIndex,
    /// [`ReadPolicy::ReadIndex`] with raft-core's leader lease (`Config::lease_reads`, with
    /// CheckQuorum, which the driver keeps on): while a majority answered a heartbeat round
    /// sent less than `election_ticks - 2` ticks ago, the leader answers a read at once,
    /// without a round. Safe only while clocks run at about the same rate and the leader's
    /// process is never stalled longer than that margin unnoticed (the lease is counted in
    /// ticks).
    Lease,
    /// Reads are proposed like writes and answered when applied (ordered in the log after
    /// every write that completed before them): linearizable, at the cost of a log entry.
    ThroughLog,
}

/// Where the answer to a request goes.
pub(super) enum ReplyTo {
    Udp { addr: SocketAddr, id: u64 },
    Local(Done),
}

/// A client waiting for the entry it proposed to be applied.
pub(super) struct Waiter {
    /// The term the entry was proposed in (another term's entry at its index means it lost).
    pub(super) term: Term,
    pub(super) reply: ReplyTo,
}

/// A read issued to raft-core (`Input::Read`) and not answered yet.
pub(super) struct PendingRead {
    cmd: Vec<u8>,
    pub(super) reply: ReplyTo,
    /// When the read is issued again (`retry_reads`).
    deadline: Instant,
    pub(super) attempts: u32,
    /// Once held for room at the leader (`read_room.rs`): when it is answered `Busy` if it
    /// found none by then.
    pub(super) held_until: Option<Instant>,
}

impl<M: StateMachine> Node<M> {
    pub(super) fn on_client(
        &mut self,
        from: SocketAddr,
        req: ClientRequest,
    ) -> Result<(), NodeError> {
        let reply = ReplyTo::Udp {
            addr: from,
            id: req.id,
        };
        let body = match req.body {
            ClientBody::Command(cmd) => return self.on_command(from, req.id, &cmd),
            ClientBody::LocalQuery(cmd) => ReplyBody::Applied(self.state_machine().query(&cmd)),
            ClientBody::Status => ReplyBody::Status(self.status()),
            ClientBody::Stats => ReplyBody::Stats(self.stats_json().to_string()),
            ClientBody::ChangeMembership(change) => return self.change_membership(change, reply),
            ClientBody::Membership => ReplyBody::Membership(self.membership_view()),
            ClientBody::ChangeJoint(change) => return self.change_joint(change, reply),
            ClientBody::LeaveJoint => return self.leave_joint(reply),
        };
        self.reply(reply, body);
        Ok(())
    }

    /// A client's command (request `id` from `from`): submitted, or answered `Busy` when
    /// 4x [`NodeConfig::clients`](crate::config::NodeConfig::clients) requests are waiting
    /// already (backpressure: a cheap answer the client backs off on, rather than a queue
    /// that outgrows the socket buffer sized for that many clients and drops datagrams).
    pub(super) fn on_command(
        &mut self,
        from: SocketAddr,
        id: u64,
        cmd: &[u8],
    ) -> Result<(), NodeError> {
        let reply = ReplyTo::Udp { addr: from, id };
        if self.pending_requests() >= 4 * self.cfg.clients {
            self.counters.clients_busy += 1;
            self.reply(reply, ReplyBody::Busy);
            return Ok(());
        }
        self.submit(cmd, reply)
    }

    /// Client requests waiting for an answer: proposals not yet applied, reads not yet served.
    fn pending_requests(&self) -> usize {
        let ready: usize = self.ready_reads.values().map(Vec::len).sum();
        self.waiters.len() + self.reads.len() + self.held_reads.len() + ready
    }

    /// Where every command enters; reads are routed here by the [`ReadPolicy`].
    pub(super) fn submit(&mut self, cmd: &[u8], reply: ReplyTo) -> Result<(), NodeError> {
        if self.state_machine().is_read(cmd) {
            match self.read_policy {
                ReadPolicy::ReadIndex | ReadPolicy::Lease => {
                    self.counters.reads_index += 1;
                    let read = PendingRead {
                        cmd: cmd.to_vec(),
                        reply,
                        deadline: Instant::now(),
                        attempts: 0,
                        held_until: None,
                    };
                    return self.issue_read(read);
                }
                ReadPolicy::ThroughLog => self.counters.reads_through_log += 1,
            }
        }
        let answer = match self.step(Input::Propose { data: cmd })? {
            Some(Proposal::Accepted { index, term }) => {
                self.counters.proposals_accepted += 1;
                self.waiters.insert(index.0, Waiter { term, reply });
                return Ok(());
            }
            Some(Proposal::NotLeader { leader_hint }) => {
                self.counters.proposals_not_leader += 1;
                ReplyBody::NotLeader {
                    leader: leader_hint.map(|l| l.0),
                }
            }
            Some(Proposal::Busy) => {
                self.counters.proposals_busy += 1;
                ReplyBody::Busy
            }
            Some(Proposal::TooLarge) => {
                self.counters.proposals_too_large += 1;
                ReplyBody::TooLarge
            }
            // Only membership changes are refused; a command never is.
            Some(Proposal::Refused(_)) | None => {
                self.counters.proposals_retry += 1;
                ReplyBody::Retry
            }
        };
        self.reply(reply, answer);
        Ok(())
    }

    /// Registers `read` under a new id and steps `Input::Read` (the answer may come in the
    /// same step: a single-node leader, or a refusal).
    pub(super) fn issue_read(&mut self, mut read: PendingRead) -> Result<(), NodeError> {
        let id = self.next_read_id;
        self.next_read_id += 1;
        read.attempts += 1;
        read.deadline = Instant::now() + self.read_timeout();
        self.reads.insert(id, read);
        self.step(Input::Read { id }).map(|_| ())
    }

    /// How long a read waits for raft-core's answer before it is issued again: two election
    /// timeouts (a forwarded read or its answer may be lost; a leader may be changing).
    pub(super) fn read_timeout(&self) -> Duration {
        self.cfg.tick * (2 * self.cfg.election_ticks).max(1)
    }

    /// Issues the reads that waited too long again, or tells their clients to retry.
    pub(super) fn retry_reads(&mut self, now: Instant) -> Result<(), NodeError> {
        let expired: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            let Some(read) = self.reads.remove(&id) else {
                continue;
            };
            self.counters.read_timeouts += 1;
            if read.attempts < READ_ATTEMPTS {
                self.issue_read(read)?;
            } else {
                self.reply(read.reply, ReplyBody::Retry);
            }
        }
        Ok(())
    }

    /// After every engine call: answers what the step decided. The proposers of the entries
    /// it applied, the clients whose entries a snapshot replaced, and the reads it answered
    /// (served once the state machine reached their read index).
    pub(super) fn settle(&mut self) {
        let mut applied = std::mem::take(&mut self.applied);
        self.engine.machine_mut().take_applied(&mut applied);
        for a in applied.drain(..) {
            let Some(w) = self.waiters.remove(&a.index) else {
                continue;
            };
            let body = match a.outcome {
                _ if w.term != a.term => ReplyBody::Retry,
                Outcome::Response(r) => ReplyBody::Applied(r),
                // A change is answered with the configuration in force.
                Outcome::Membership => ReplyBody::Membership(self.membership_view()),
                Outcome::Empty => ReplyBody::Retry,
            };
            self.reply(w.reply, body);
        }
        self.applied = applied;
        self.sync_peers();
        if let Some(meta) = self.engine.snapshots_mut().take_installed() {
            // Proposals waiting for entries the snapshot replaced: their clients retry
            // (sessions keep the retry exactly-once).
            let rest = self.waiters.split_off(&meta.index.0.saturating_add(1));
            for (_, w) in std::mem::replace(&mut self.waiters, rest) {
                self.reply(w.reply, ReplyBody::Retry);
            }
        }
        let mut reads = std::mem::take(&mut self.events.reads);
        for r in reads.drain(..) {
            self.on_read(r);
        }
        self.events.reads = reads;
        self.serve_ready_reads();
    }

    /// raft-core's answer to the reads up to `upto`.
    fn on_read(&mut self, r: ReadResult) {
        if let ReadResult::Failed { upto, .. } = r {
            if self.core().role() == Role::Leader {
                // Failed while this node still leads: raft-core had no room for this one read
                // (`reads_failed_busy`: its batches of earlier reads are full, one per
                // heartbeat round still unanswered). The reads before it are still in those
                // batches and will be answered; only this one is refused. It is held and
                // issued again once room frees (`read_room.rs`). Told "not leader", clients
                // went to a follower, whose forwarded reads took more of the same room, and
                // under a write load the reads collapsed; told `Busy`, they paused 1 to
                // 100 ms, the tail of a 50/50 mix at 1,024 clients (BENCHMARKS.md).
                if let Some(read) = self.reads.remove(&upto) {
                    self.hold_read(read);
                }
                return;
            }
        }
        let upto = match r {
            ReadResult::Ready { upto, .. } | ReadResult::Failed { upto, .. } => upto,
        };
        let rest = self.reads.split_off(&upto.saturating_add(1));
        let covered = std::mem::replace(&mut self.reads, rest);
        for (_, read) in covered {
            match r {
                ReadResult::Ready { index, .. } => {
                    if self.state_machine().applied_index() >= index.0 {
                        self.serve_read(&read.cmd, read.reply);
                    } else {
                        self.ready_reads
                            .entry(index.0)
                            .or_default()
                            .push((read.cmd, read.reply));
                    }
                }
                ReadResult::Failed { leader_hint, .. } => {
                    self.counters.reads_failed += 1;
                    // A follower whose forwarded read was refused: send the client to the
                    // leader it follows rather than to the next node in its list.
                    let leader = leader_hint
                        .or(self.core().leader())
                        .map(|l| l.0)
                        .filter(|&l| l != self.cfg.id);
                    self.reply(read.reply, ReplyBody::NotLeader { leader });
                }
            }
        }
    }

    fn serve_read(&mut self, cmd: &[u8], reply: ReplyTo) {
        let answer = self.state_machine().query(cmd);
        self.reply(reply, ReplyBody::Applied(answer));
    }

    /// Serves the confirmed reads whose read index the state machine has reached.
    fn serve_ready_reads(&mut self) {
        let applied = self.state_machine().applied_index();
        while let Some(entry) = self.ready_reads.first_entry() {
            if *entry.key() > applied {
                break;
            }
            for (cmd, reply) in entry.remove() {
                self.serve_read(&cmd, reply);
            }
        }
    }

    pub(super) fn reply(&mut self, to: ReplyTo, body: ReplyBody) {
        match to {
            ReplyTo::Local(done) => done(Ok(body)),
            ReplyTo::Udp { addr, id } => self.engine.transport_mut().reply(addr, id, body),
        }
    }

    /// The node stopped: every local waiter learns it (UDP clients time out and retry
    /// elsewhere).
    pub(super) fn fail_waiters(&mut self, e: ProposeError) {
        let reads = std::mem::take(&mut self.reads)
            .into_values()
            .chain(std::mem::take(&mut self.held_reads))
            .map(|r| r.reply);
        let ready = std::mem::take(&mut self.ready_reads)
            .into_values()
            .flatten();
        let waiters = std::mem::take(&mut self.waiters).into_values();
        for reply in reads
            .chain(ready.map(|(_, reply)| reply))
            .chain(waiters.map(|w| w.reply))
        {
            // UDP clients time out and retry elsewhere.
            if let ReplyTo::Local(done) = reply {
                done(Err(e.clone()));
            }
        }
        while let Ok(cmd) = self.cmds.try_recv() {
            (cmd.done())(Err(e.clone()));
        }
    }
}
