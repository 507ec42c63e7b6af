//! Schedules: random actions, healthy rounds, and healing until the cluster settles.

use raftcore::codec;
use raftcore::{Input, LogIndex, Proposal};

use super::perform::Call;
use super::{Action, Cluster};
use crate::check::Violation;
use crate::SimRng;

impl<const P: usize, const L: usize, const F: usize> Cluster<P, L, F> {
    /// Draws the next action of a random schedule.
    pub fn random_action(&self, rng: &mut SimRng, faults: bool) -> Action {
        if self.sim.leader_cuts {
            return self.leader_cut_action(rng, faults);
        }
        let n = self.nodes.len() as u32;
        let node = rng.in_range(0, n) as u8;
        let r = rng.in_range(0, 1000);
        let idx = rng.in_range(0, 1 << 16) as u16;
        match r {
            0..=279 => Action::Tick(node),
            280..=559 => Action::Deliver(idx),
            560..=649 => Action::Propose(node),
            650..=739 => Action::Fsync(node),
            740..=769 => Action::Capture(node),
            770..=799 => Action::Read(node),
            800..=809 => Action::Member(node, rng.in_range(0, 3) as u8),
            810..=814 => Action::Transfer(node, rng.in_range(0, n) as u8),
            _ if !faults => Action::Deliver(idx),
            815..=869 => Action::Drop(idx),
            870..=909 => Action::Duplicate(idx),
            910..=929 => Action::Crash(node),
            930..=959 => Action::Restart(node),
            960..=974 => {
                // A random asymmetric cut among the nodes, or a clean split.
                let mut mask = 0u64;
                for from in 0..n as usize {
                    for to in 0..n as usize {
                        if from != to && rng.in_range(0, 4) == 0 {
                            mask |= 1 << (from * 8 + to);
                        }
                    }
                }
                Action::Partition(mask)
            }
            975..=984 => Action::Partition(0),
            _ => Action::Garbage(node, rng.next_u64()),
        }
    }

    /// Draws the next action of a random schedule with [`SimConfig::leader_cuts`]: cuts
    /// around the current leader (healed later by a random action), clocks that run until a
    /// node acts, and more reads and writes than [`Cluster::random_action`]'s weights. Nothing
    /// here follows a script: the leader is the only thing looked at, to aim the cuts.
    ///
    /// [`SimConfig::leader_cuts`]: super::SimConfig::leader_cuts
    fn leader_cut_action(&self, rng: &mut SimRng, faults: bool) -> Action {
        let n = self.nodes.len() as u32;
        let node = rng.in_range(0, n) as u8;
        let r = rng.in_range(0, 1000);
        let idx = rng.in_range(0, 1 << 16) as u16;
        match r {
            0..=129 => Action::Tick(node),
            130..=479 => Action::Deliver(idx),
            480..=579 => Action::Propose(node),
            580..=699 => Action::Read(node),
            700..=749 => Action::Elapse(node),
            750..=769 => Action::Capture(node),
            770..=774 => Action::Member(node, rng.in_range(0, 3) as u8),
            775..=779 => Action::Transfer(node, rng.in_range(0, n) as u8),
            _ if !faults => Action::Deliver(idx),
            780..=829 => self.cut_around_leader(rng.in_range(0, n) as usize),
            830..=839 => Action::Partition(0),
            840..=879 => Action::Drop(idx),
            880..=909 => Action::Duplicate(idx),
            910..=929 => Action::Crash(node),
            930..=964 => Action::Restart(node),
            _ => Action::Garbage(node, rng.next_u64()),
        }
    }

    /// A cut around the current leader: every link into it (`other` is the leader), or both
    /// links between it and `other`. Without a leader the partition stays as it is.
    fn cut_around_leader(&self, other: usize) -> Action {
        let Some(l) = self.leader() else {
            return Action::Partition(self.net.cut);
        };
        let mask = if other == l {
            (0..self.nodes.len())
                .filter(|&from| from != l)
                .fold(0u64, |m, from| m | 1 << (from * 8 + l))
        } else {
            1 << (other * 8 + l) | 1 << (l * 8 + other)
        };
        Action::Partition(mask)
    }

    /// Runs `steps` random actions from `rng`.
    pub fn run_random(&mut self, rng: &mut SimRng, steps: usize) -> Result<(), Violation> {
        for step in 0..steps {
            let a = self.random_action(rng, true);
            self.act(a)
                .map_err(|e| format!("step {step} ({a:?}): {e}"))?;
        }
        Ok(())
    }

    /// One round of a healthy network: every node ticks, every frame is delivered in order,
    /// every write becomes durable, every wanted capture happens.
    pub fn healthy_round(&mut self) -> Result<(), Violation> {
        for k in 0..self.nodes.len() {
            self.step_node(k, Input::Tick)?;
        }
        let mut delivered = 0usize;
        for _ in 0..64 {
            if self.net.packets.is_empty() {
                break;
            }
            while !self.net.packets.is_empty() {
                delivered += 1;
                if delivered > 100_000 {
                    // Without ticks, a healthy exchange ends: an endless one is a livelock.
                    let sample: Vec<_> = self
                        .net
                        .packets
                        .iter()
                        .take(4)
                        .map(|p| codec::decode(&p.frame).map(|m| m.1))
                        .collect();
                    return Err(format!("message storm without ticks: {sample:?}"));
                }
                if let Some(p) = self.net.take(0) {
                    self.step_node(p.to, Input::Frame(&p.frame))?;
                }
                for k in 0..self.nodes.len() {
                    let pending = self.nodes[k].disk.borrow().pending.len();
                    self.fsync(k, pending)?;
                }
            }
        }
        for k in 0..self.nodes.len() {
            let pending = self.nodes[k].disk.borrow().pending.len();
            self.fsync(k, pending)?;
            if self.nodes[k].capture_wanted {
                self.capture(k)?;
            }
        }
        self.check_durable_quorum()
    }

    /// One line per node: role, term, leader, log, commit, applied, counters.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            match n.state() {
                None => s.push_str(&format!("{}: down\n", n.id)),
                Some(st) => s.push_str(&format!(
                    "{}: {} {} leader={:?} voters={:?} learners={:?} (at {}) log={}..={} (last term {}) commit={} applied={} durable={} window={:?} pending={} {:?}\n",
                    n.id,
                    st.role(),
                    st.term(),
                    st.leader().map(|l| l.0),
                    st.membership().voters().map(|v| v.0).collect::<Vec<_>>(),
                    st.membership().learners().map(|v| v.0).collect::<Vec<_>>(),
                    st.membership_index(),
                    st.first_index(),
                    st.last_index(),
                    st.last_term(),
                    st.commit(),
                    st.applied(),
                    st.durable_index(),
                    st.window_usage(),
                    n.disk.borrow().pending.len(),
                    st.stats(),
                )),
            }
        }
        s
    }

    /// Whether one leader leads every node that is up, everything is committed, and every
    /// node that is up applied it.
    pub fn settled(&self) -> bool {
        let Some(l) = self.leader() else { return false };
        let Some(ls) = self.nodes[l].state() else {
            return false;
        };
        let commit = ls.commit();
        let conf = *ls.membership();
        commit == ls.last_index()
            && self
                .nodes
                .iter()
                .filter(|n| conf.is_member(n.id))
                .filter_map(|n| n.state())
                .all(|s| {
                    s.term() == ls.term() && s.leader() == Some(ls.id()) && s.applied() == commit
                })
    }

    /// Liveness: heal everything, then within `max_rounds` rounds a leader must lead every
    /// node with everything committed and applied everywhere; a new proposal must then be
    /// accepted (nothing stays `Busy`) and applied everywhere too. Returns the rounds used.
    pub fn heal_and_settle(&mut self, max_rounds: u32) -> Result<u32, Violation> {
        self.net.cut = 0;
        // The operator stops changing the membership while the cluster heals.
        self.pending_change = None;
        for k in 0..self.nodes.len() {
            self.restart(k)?;
        }
        let mut rounds = 0;
        let mut probe_done = false;
        loop {
            if self.settled() {
                if probe_done {
                    break;
                }
                let l = self.leader().ok_or("no leader")?;
                let before = self.acked.len();
                self.next_value += 1;
                let data = self.next_value.to_le_bytes();
                let input = Input::Propose { data: &data };
                match self.call(l, Call::Step(input))?.answer {
                    Some(Proposal::Accepted { .. }) => {}
                    other => {
                        // Busy may last while captures let the window slide; retry later.
                        if rounds + 1 >= max_rounds {
                            return Err(format!("after healing, proposal answered {other:?}"));
                        }
                    }
                }
                probe_done = self.acked.len() > before || self.proposed.iter().any(|p| p.0 == l);
            }
            if rounds >= max_rounds {
                return Err(format!(
                    "not settled {max_rounds} rounds after healing:\n{}",
                    self.describe()
                ));
            }
            self.healthy_round()?;
            rounds += 1;
        }
        // The configuration the cluster settled in.
        let l = self.leader().ok_or("no leader after settling")?;
        let conf = *self.nodes[l].state().ok_or("leader down")?.membership();
        // A read on every node is served, and sees every acknowledged write.
        for k in 0..self.nodes.len() {
            self.reads[k].clear();
            self.ready_reads[k].clear();
            if conf.is_member(self.nodes[k].id) {
                self.act(Action::Read(k as u8))?;
            }
        }
        let mut waited = 0;
        while self.reads.iter().any(|r| !r.is_empty()) {
            if waited >= max_rounds {
                return Err(format!(
                    "reads not served after healing: {:?}\n{}",
                    self.reads,
                    self.describe()
                ));
            }
            self.healthy_round()?;
            waited += 1;
        }
        // Every acknowledged write is in every node's state machine at its index.
        for (index, _, data) in &self.acked {
            for n in self.nodes.iter().filter(|n| conf.is_member(n.id)) {
                let has =
                    |log: &[(LogIndex, Vec<u8>)]| log.iter().any(|(i, d)| i == index && d == data);
                let found = n.machine().is_some_and(|m| has(&m.log))
                    || has(&n.disk.borrow().snapshot.0.log);
                if !found {
                    return Err(format!("{}: acknowledged write at {index} missing", n.id));
                }
            }
        }
        Ok(rounds)
    }
}
