//! Stepping a node and performing its outputs in order, with every output checked against
//! the output contract and the cluster-wide invariants.

use raft_core::codec::{self, Header};
use raft_core::{
    persist_entries, Durability, EntryCount, Input, LogIndex, LogStore, MemberKind,
    MembershipRefusal, Message, NodeId, Output, Persist, Proposal, ReadResult, Role, SnapshotMeta,
};

use super::{Cluster, SimOutputs};
use crate::check::{NodeView, Violation};
use crate::network::Packet;
use crate::node::{checksum, Machine, PendingWrite, SimSource};
use crate::store::mix;

impl<const P: usize, const L: usize, const F: usize> Cluster<P, L, F> {
    /// Steps node `k` with `input` (if it is up) and performs its outputs in order.
    pub fn step_node(&mut self, k: usize, input: Input<'_>) -> Result<(), Violation> {
        let Some(state) = self.nodes[k].state.as_mut() else {
            return Ok(());
        };
        let was_leader = state.role() == Role::Leader;
        let mut out = SimOutputs::new();
        if let Err(e) = state.step_view(input, out.as_mut_view()) {
            return Err(format!("n{}: driver error {e} on {input:?}", k + 1));
        }
        if state.stats().output_overflow > 0 {
            return Err(format!("n{}: outputs overflowed", k + 1));
        }
        let voter = state.membership().kind_of(state.id()) == Some(MemberKind::Voter);
        if was_leader && state.role() != Role::Leader && !voter {
            self.leaders_removed += 1;
        }
        self.checker.steps += 1;
        for o in out.iter() {
            self.trace = mix(self.trace, format!("{k}{o:?}").as_bytes());
        }
        self.perform(k, input, &out)
    }

    pub(super) fn perform(
        &mut self,
        k: usize,
        input: Input<'_>,
        out: &SimOutputs,
    ) -> Result<(), Violation> {
        let mut observed = false;
        let mut installed = None;
        let mut flushed = None;
        for o in out.iter() {
            if !observed && !matches!(o, Output::Persist(_)) {
                self.observe(k)?;
                observed = true;
            }
            match o {
                Output::Persist(p) => self.perform_persist(k, p, &input)?,
                Output::Send { to, msg } => self.perform_send(k, *to, msg)?,
                Output::Apply { first, last } => {
                    let mut i = *first;
                    while i <= *last {
                        let node = &mut self.nodes[k];
                        if i != node.machine.applied.next() {
                            return Err(format!(
                                "n{}: Apply {i} after {}",
                                k + 1,
                                node.machine.applied
                            ));
                        }
                        let chain = node
                            .apply(i)
                            .ok_or_else(|| format!("n{}: Apply {i} not in store", k + 1))?;
                        self.checker.observe_apply(node.id, i, chain)?;
                        self.ack_applied(k, i);
                        i = i.next();
                    }
                }
                Output::Proposal(Proposal::Accepted { index, term }) => match input {
                    Input::Propose { data } => {
                        self.proposed.push((k, *index, *term, data.to_vec()))
                    }
                    Input::ChangeMembership { .. } => {
                        self.membership_changes += 1;
                        self.pending_change = None;
                    }
                    _ => {}
                },
                // A learner still catching up is promoted on a later try.
                Output::Proposal(Proposal::Refused(r)) if *r != MembershipRefusal::NotCaughtUp => {
                    self.pending_change = None
                }
                Output::Proposal(_) => {}
                Output::RoleChanged { role, term, leader } => {
                    if self.verbose {
                        match leader {
                            Some(l) if *role == Role::Follower => {
                                println!("  n{} follows {l} in {term}", k + 1)
                            }
                            _ => println!("  n{} is {role} in {term}", k + 1),
                        }
                    }
                }
                Output::Compact { upto } => {
                    let node = &mut self.nodes[k];
                    if *upto > node.snapshot.0.applied {
                        return Err(format!("n{}: Compact {upto} beyond its capture", k + 1));
                    }
                    node.store.compact_to(*upto);
                    node.durable.compact_to(*upto);
                }
                Output::CaptureWanted { .. } => self.nodes[k].capture_wanted = true,
                Output::SnapshotChunk { meta, offset, len } => {
                    let data = input
                        .snapshot_data()
                        .ok_or("SnapshotChunk without chunk data")?;
                    let node = &mut self.nodes[k];
                    if *offset == 0 {
                        node.incoming.clear();
                    }
                    if data.len() != *len as usize || *offset != node.incoming.len() as u64 {
                        return Err(format!(
                            "n{}: chunk {offset}+{len} of {meta:?} out of order",
                            k + 1
                        ));
                    }
                    node.incoming.extend_from_slice(data);
                }
                Output::InstallSnapshot { meta } => {
                    // The install is ordered after every earlier `Persist` (the output
                    // contract): a driver writing one log stream, as the std driver's WAL
                    // does, makes them durable no later than the snapshot. So the writes
                    // still pending land first (reported below), then the reset.
                    flushed = self.flush_pending(k)?.or(flushed);
                    installed = Some(self.install(k, *meta)?);
                }
                Output::Read(ReadResult::Ready { upto, index }) => {
                    self.ready_reads[k].push((*upto, *index));
                }
                Output::Read(ReadResult::Failed { upto, .. }) => {
                    self.reads[k].retain(|r| r.0 > *upto);
                }
            }
        }
        if !observed {
            self.observe(k)?;
        }
        self.serve_reads(k)?;
        if let Some(seq) = flushed {
            self.step_node(k, Input::Persisted { seq })?;
        }
        match installed {
            Some((meta, ok)) => self.step_node(k, Input::SnapshotInstalled { meta, ok }),
            None => Ok(()),
        }
    }

    /// Makes every pending write of node `k` durable, in order, without reporting it; the
    /// sequence number of the last one, if any.
    fn flush_pending(&mut self, k: usize) -> Result<Option<u64>, Violation> {
        let pending: Vec<PendingWrite> = self.nodes[k].pending.drain(..).collect();
        for w in &pending {
            for (i, t, c) in self.nodes[k].make_durable(w) {
                self.checker.observe_entry(i, t, c)?;
            }
        }
        Ok(pending.last().map(|w| w.seq))
    }

    /// The driver's side of `InstallSnapshot`: verify, make durable, load, reset the log.
    fn install(&mut self, k: usize, meta: SnapshotMeta) -> Result<(SnapshotMeta, bool), Violation> {
        let chain = self.checker.committed_chain(meta.index);
        let node = &mut self.nodes[k];
        let bytes = core::mem::take(&mut node.incoming);
        let machine = match Machine::decode(&bytes) {
            Some(m) if checksum(&bytes) == meta.checksum && bytes.len() as u64 == meta.len => m,
            _ => return Ok((meta, false)),
        };
        let chain = chain.ok_or_else(|| {
            format!(
                "n{}: snapshot at {} beyond the committed log",
                k + 1,
                meta.index
            )
        })?;
        if machine.applied != meta.index {
            return Err(format!(
                "n{}: snapshot {meta:?} holds a machine at {}",
                k + 1,
                machine.applied
            ));
        }
        let machine = Machine {
            members: meta.members,
            ..machine
        };
        node.machine = machine.clone();
        node.snapshot = (machine, meta.term);
        node.snap_file = Some((meta, bytes));
        self.snapshots_installed += 1;
        for store in [&mut node.store, &mut node.durable] {
            if store.term(meta.index) == Some(meta.term) {
                store.rebase(meta.index);
            } else {
                store.reset(meta.index, meta.term, chain);
            }
        }
        Ok((meta, true))
    }

    /// Serves every read whose read index the state machine has reached, checking it sees
    /// every write acknowledged before it began (linearizable reads).
    fn serve_reads(&mut self, k: usize) -> Result<(), Violation> {
        let applied = self.nodes[k].machine.applied;
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

    fn observe(&mut self, k: usize) -> Result<(), Violation> {
        let node = &self.nodes[k];
        let Some(s) = node.state.as_ref() else {
            return Ok(());
        };
        let v = NodeView {
            pos: k,
            id: node.id,
            incarnation: node.incarnation,
            role: s.role(),
            term: s.term(),
            commit: s.commit(),
            store: &node.store,
        };
        if s.commit() > s.last_index() || s.applied() > s.commit() {
            return Err(format!("n{}: commit/applied beyond the log", k + 1));
        }
        self.checker.observe_node(&v)
    }

    fn perform_persist(
        &mut self,
        k: usize,
        p: &Persist,
        input: &Input<'_>,
    ) -> Result<(), Violation> {
        let node = &mut self.nodes[k];
        let leader = node
            .state
            .as_ref()
            .is_some_and(|s| s.role() == Role::Leader);
        if leader && p.truncate_from.is_some() {
            return Err(format!(
                "Leader Append-Only: leader n{} truncates its log",
                k + 1
            ));
        }
        persist_entries(&mut node.store, p, input)
            .map_err(|e| format!("n{}: persist: {e}", k + 1))?;
        if let Some(n) = p.entries {
            for j in 0..u64::from(n.count) {
                let i = n.first.plus(j);
                let e = node.store.get(i).ok_or("persisted entry missing")?;
                self.checker.observe_entry(i, e.term, e.chain)?;
            }
        }
        let w = node.record_write(p);
        match self.sim.durability {
            Durability::Inline => {
                for (i, t, c) in node.make_durable(&w) {
                    self.checker.observe_entry(i, t, c)?;
                }
            }
            Durability::Deferred => node.pending.push_back(w),
        }
        Ok(())
    }

    /// Checks nothing is acknowledged before it is durable, then encodes and sends.
    fn perform_send(
        &mut self,
        k: usize,
        to: NodeId,
        msg: &Message<EntryCount>,
    ) -> Result<(), Violation> {
        let node = &self.nodes[k];
        match msg {
            Message::VoteResponse(r) if r.granted => {
                let hs = node.durable_hs;
                if hs.term != r.term || hs.vote != Some(to) {
                    return Err(format!(
                        "n{}: vote for {to} in {} sent before it was durable",
                        k + 1,
                        r.term
                    ));
                }
            }
            Message::AppendResponse(r) if r.success => {
                let d = &node.durable;
                let ok = r.index <= d.base()
                    || (d.last_index() >= r.index && d.chain(r.index) == node.store.chain(r.index));
                if !ok || node.durable_hs.term < r.term {
                    return Err(format!(
                        "n{}: acknowledged {} before it was durable",
                        k + 1,
                        r.index
                    ));
                }
            }
            _ => {}
        }
        let Some(to_pos) = self.nodes.iter().position(|n| n.id == to) else {
            // An answer to a hostile frame from an unknown sender (a node outside its
            // configuration takes appends from any leader): nobody receives it.
            return Ok(());
        };
        let hdr = Header {
            cluster_id: 0,
            from: node.id,
            to,
        };
        let mut buf = vec![0u8; self.sim.max_frame_bytes as usize];
        let src = SimSource {
            store: &node.store,
            snap: node.snap_file.as_ref(),
        };
        let n = codec::encode(&hdr, msg, &src, &mut buf)
            .map_err(|e| format!("n{}: encode {msg:?}: {e}", k + 1))?;
        buf.truncate(n);
        self.net.send(Packet {
            from: k,
            to: to_pos,
            frame: buf,
        });
        Ok(())
    }

    fn ack_applied(&mut self, k: usize, i: LogIndex) {
        let Some(pos) = self.proposed.iter().position(|p| p.0 == k && p.1 == i) else {
            return;
        };
        let (_, index, term, data) = self.proposed.swap_remove(pos);
        if self.nodes[k].store.term(index) == Some(term) {
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
}
