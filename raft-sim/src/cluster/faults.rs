//! Faults and the driver's own events: hostile frames, crashes and restarts, fsyncs, captures,
//! clocks that run until a node acts.

use raftcore::codec;
use raftcore::{Input, Message, NodeId, State};

use super::perform::Call;
use super::Cluster;
use crate::check::Violation;
use crate::SimRng;

impl<const P: usize, const L: usize, const F: usize> Cluster<P, L, F> {
    /// A hostile frame that Raft's fault model lets reach the core: random bytes (which do not
    /// decode, or decode as another cluster's), a truncated real frame, or a real frame re-sent
    /// as if from an unknown node, another cluster, or to the wrong node. Forged frames that
    /// pass as a member's are outside the model (the transport authenticates peers); the
    /// single-node hostile-input test feeds those.
    pub(super) fn garbage(&mut self, to: usize, bits: u64) -> Vec<u8> {
        let mut rng = SimRng::new(bits);
        let real = (!self.net.packets.is_empty()).then(|| {
            self.net.packets[(bits as usize >> 8) % self.net.packets.len()]
                .frame
                .clone()
        });
        match (bits % 4, real) {
            (0, Some(f)) => {
                let cut = rng.in_range(0, f.len() as u32) as usize;
                f[..cut].to_vec()
            }
            (1, Some(f)) => {
                let mut buf = vec![0u8; f.len() + 16];
                let Ok((mut h, m)) = codec::decode(&f) else {
                    return f;
                };
                // (An append or snapshot chunk is taken from an unknown leader, so only other
                // messages are relabelled as from an unknown node.)
                let leads = matches!(m, Message::Append(_) | Message::Snapshot(_));
                match rng.in_range(0, 3) {
                    0 if !leads => h.from = NodeId(99),
                    0 => h.cluster_id = 1 + rng.in_range(0, 1000),
                    1 => h.cluster_id = 1 + rng.in_range(0, 1000),
                    // Addressed to anyone but the receiver: the core must drop it.
                    _ if h.to.0 == to as u32 + 1 => h.to = NodeId(98),
                    _ => {}
                }
                let n = codec::encode_wire(&h, &m, &mut buf).unwrap_or(0);
                buf.truncate(n);
                buf
            }
            _ => {
                let len = rng.in_range(0, 64) as usize;
                let mut f: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                if let Some(b) = f.get_mut(1) {
                    // Never cluster 0: if these bytes decode, they are another cluster's.
                    *b |= 1;
                }
                if let Some(b) = f.first_mut() {
                    *b = codec::VERSION;
                }
                f
            }
        }
    }

    /// Makes the oldest `count` pending writes of node `k` durable and reports them.
    pub fn fsync(&mut self, k: usize, count: usize) -> Result<(), Violation> {
        let mut last = None;
        for _ in 0..count {
            let Some((w, gained)) = self.nodes[k].disk.borrow_mut().make_oldest_durable() else {
                break;
            };
            let mut checker = self.checker.borrow_mut();
            for (i, t, c) in gained {
                checker.observe_entry(i, t, c)?;
            }
            last = Some(w.seq);
        }
        match last {
            Some(seq) => self.call(k, Call::Persisted(seq)).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Ticks node `k` until it sends a frame or changes role or term, at most
    /// `2 * election_ticks` ticks (its longest election timeout).
    pub fn elapse(&mut self, k: usize) -> Result<(), Violation> {
        let look = |c: &Self| {
            c.nodes[k]
                .state()
                .map(|s| (s.role(), s.term(), c.net.packets.len()))
        };
        let Some(before) = look(self) else {
            return Ok(());
        };
        for _ in 0..2 * self.sim.election_ticks {
            self.step_node(k, Input::Tick)?;
            if look(self) != Some(before) {
                break;
            }
        }
        Ok(())
    }

    /// Crashes node `k`: only durable state survives.
    pub fn crash(&mut self, k: usize) {
        let node = &mut self.nodes[k];
        if node.engine.take().is_some() {
            // The engine, its readable log, state machine and incoming snapshot are gone.
            node.disk.borrow_mut().crash();
            node.capture_wanted = false;
            self.proposed.retain(|p| p.0 != k);
            self.reads[k].clear();
            self.ready_reads[k].clear();
            if self.verbose {
                println!("  n{} crashed", k + 1);
            }
        }
    }

    /// Restarts a crashed node from its durable hard state, log and snapshot.
    pub fn restart(&mut self, k: usize) -> Result<(), Violation> {
        if self.nodes[k].engine.is_some() {
            return Ok(());
        }
        let ids = Self::initial(&self.sim);
        let node = &mut self.nodes[k];
        node.incarnation += 1;
        let cfg = Self::node_config(
            &self.sim,
            node.id,
            self.seed.wrapping_add(u64::from(node.incarnation)),
        );
        let (state, machine, snap) = {
            let disk = node.disk.borrow();
            let state = State::restore(cfg, &ids, disk.restored(), &disk.durable)
                .map_err(|e| format!("n{}: restore: {e}", k + 1))?;
            let snap = disk.snap_file.as_ref().map(|f| f.0);
            (state, disk.snapshot.0.clone(), snap)
        };
        node.engine = Some(Self::engine(
            &self.sim,
            state,
            machine,
            &node.disk,
            &self.checker,
        ));
        if self.verbose {
            println!("  n{} restarted", k + 1);
        }
        match snap {
            Some(meta) => self.step_node(k, Input::SnapshotSaved { meta }),
            None => Ok(()),
        }
    }

    /// Node `k` captures its state machine durably and tells the core (if it applied
    /// something since its last capture).
    pub fn capture(&mut self, k: usize) -> Result<(), Violation> {
        self.call(k, Call::Capture).map(|_| ())
    }
}
