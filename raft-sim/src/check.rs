//! The invariant checker: Raft's safety properties, checked after every step through the
//! public read-only view of each `State` and the simulated stores (never core internals).
//! Shared by the property tests, the fuzz targets and the model checker.

use std::collections::{BTreeMap, HashMap};

use crate::store::MemStore;
use raftcore::LogStore;
use raftcore::Membership;
use raftcore::{EntryKind, LogIndex, NodeId, Role, Term};

/// A broken invariant, with enough context to read the failing step.
pub type Violation = String;

/// What one node looks like to the checker after a step.
pub struct NodeView<'a> {
    /// Position in the cluster.
    pub pos: usize,
    /// Node id.
    pub id: NodeId,
    /// Incremented at every restart.
    pub incarnation: u32,
    /// Role.
    pub role: Role,
    /// Current term.
    pub term: Term,
    /// Commit index.
    pub commit: LogIndex,
    /// Readable log store.
    pub store: &'a MemStore,
}

#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    incarnation: u32,
    term: Term,
    commit: LogIndex,
    leader_last: Option<(Term, LogIndex, u64)>,
}

/// The global record the properties are checked against.
#[derive(Debug, Default)]
pub struct Checker {
    /// Election Safety: the leader of each term.
    leaders: BTreeMap<Term, NodeId>,
    /// Log Matching: the chain hash of every (index, term) ever stored.
    chains: HashMap<(u64, u64), u64>,
    /// The committed log as (term, chain), index 1 first.
    committed: Vec<(Term, u64)>,
    /// Highest committed index known per term of the node that reported it (Leader
    /// Completeness applies to leaders of later terms).
    commit_by_term: BTreeMap<Term, LogIndex>,
    seen: Vec<Seen>,
    /// The configuration of the committed log (its last membership entry, or the initial
    /// one).
    committed_conf: Membership,
    /// Steps checked.
    pub steps: u64,
}

impl Checker {
    /// A checker for `n` nodes, all voters.
    pub fn new(n: usize) -> Self {
        let ids: Vec<NodeId> = (1..=n as u32).map(NodeId).collect();
        Self::with_voters(n, &ids)
    }

    /// A checker for `n` nodes whose initial configuration is `voters`.
    pub fn with_voters(n: usize, voters: &[NodeId]) -> Self {
        Checker {
            seen: vec![Seen::default(); n],
            committed_conf: Membership::new(voters, &[]).unwrap_or_default(),
            ..Default::default()
        }
    }

    /// The configuration of the committed log.
    pub fn committed_membership(&self) -> Membership {
        self.committed_conf
    }

    /// The committed prefix length.
    pub fn committed_len(&self) -> LogIndex {
        LogIndex(self.committed.len() as u64)
    }

    /// The committed chain at `index`.
    pub fn committed_chain(&self, index: LogIndex) -> Option<u64> {
        if index.0 == 0 {
            return Some(0);
        }
        self.committed.get(index.0 as usize - 1).map(|c| c.1)
    }

    /// Log Matching: an (index, term) pair always names the same prefix, on every node,
    /// durable or not. Called for every entry a store gains.
    pub fn observe_entry(
        &mut self,
        index: LogIndex,
        term: Term,
        chain: u64,
    ) -> Result<(), Violation> {
        match self.chains.insert((index.0, term.0), chain) {
            Some(c) if c != chain => Err(format!(
                "Log Matching: two logs hold ({index}, {term}) with different prefixes"
            )),
            _ => Ok(()),
        }
    }

    /// Properties of one node after it stepped.
    pub fn observe_node(&mut self, v: &NodeView<'_>) -> Result<(), Violation> {
        let seen = &mut self.seen[v.pos];
        if seen.incarnation != v.incarnation {
            *seen = Seen {
                incarnation: v.incarnation,
                ..Seen::default()
            };
        }
        if v.term < seen.term {
            return Err(format!(
                "{}: term went back from {} to {}",
                v.id, seen.term, v.term
            ));
        }
        if v.commit < seen.commit {
            return Err(format!(
                "{}: commit went back from {} to {}",
                v.id, seen.commit, v.commit
            ));
        }
        seen.term = v.term;
        seen.commit = v.commit;
        // Election Safety.
        if v.role == Role::Leader {
            match self.leaders.get(&v.term) {
                Some(&l) if l != v.id => {
                    return Err(format!(
                        "Election Safety: {} and {} both lead {}",
                        l, v.id, v.term
                    ))
                }
                _ => {
                    self.leaders.insert(v.term, v.id);
                }
            }
            // Leader Append-Only: within its term a leader's log only grows and its entries
            // stay (the chain at its previous last index is unchanged).
            let last = v.store.last_index();
            if let Some((t, prev_last, chain)) = seen.leader_last {
                let kept = prev_last <= v.store.base() || v.store.chain(prev_last) == Some(chain);
                if t == v.term && (last < prev_last || !kept) {
                    return Err(format!(
                        "Leader Append-Only: {} rewrote its log in {}",
                        v.id, t
                    ));
                }
            }
            let chain = v.store.chain(last).unwrap_or(0);
            seen.leader_last = Some((v.term, last, chain));
        } else {
            seen.leader_last = None;
        }
        self.observe_commit(v)?;
        if v.role == Role::Leader {
            self.check_leader_completeness(v)?;
        }
        Ok(())
    }

    /// Extends the global committed log from a node's commit index, checking it agrees with
    /// what was committed before (no committed entry is ever rewritten).
    fn observe_commit(&mut self, v: &NodeView<'_>) -> Result<(), Violation> {
        let known = self.committed_len();
        let check_at = v.commit.min(known);
        if let (Some(c), Some(g)) = (v.store.chain(check_at), self.committed_chain(check_at)) {
            if check_at > v.store.base() && c != g {
                return Err(format!(
                    "{}: committed entry {} differs from the committed log",
                    v.id, check_at
                ));
            }
        }
        if v.commit > known {
            if v.store.last_index() < v.commit {
                return Err(format!(
                    "{}: commit {} beyond its log (last {})",
                    v.id,
                    v.commit,
                    v.store.last_index()
                ));
            }
            let mut i = known.next();
            while i <= v.commit {
                let Some(e) = v.store.get(i) else {
                    // Compacted on this node before the checker saw it committed elsewhere:
                    // only possible if another node reported it; nothing new to learn here.
                    return Ok(());
                };
                self.committed.push((e.term, e.chain));
                if e.kind == EntryKind::Membership {
                    self.committed_conf =
                        Membership::decode_entry(&e.data, &self.committed_conf)
                            .map_err(|_| format!("{}: malformed membership entry {i}", v.id))?;
                }
                i = i.next();
            }
            let slot = self.commit_by_term.entry(v.term).or_default();
            *slot = (*slot).max(v.commit);
        }
        Ok(())
    }

    /// Leader Completeness: a leader of term T holds every entry committed in terms before T.
    fn check_leader_completeness(&self, v: &NodeView<'_>) -> Result<(), Violation> {
        let need = self
            .commit_by_term
            .range(..v.term)
            .map(|(_, &i)| i)
            .max()
            .unwrap_or_default();
        if need <= v.store.base() {
            return Ok(());
        }
        match (v.store.chain(need), self.committed_chain(need)) {
            (Some(c), Some(g)) if c == g => Ok(()),
            _ => Err(format!(
                "Leader Completeness: leader {} of {} lacks committed entry {}",
                v.id, v.term, need
            )),
        }
    }

    /// State Machine Safety: the entry applied at `index` is the committed one.
    pub fn observe_apply(&self, id: NodeId, index: LogIndex, chain: u64) -> Result<(), Violation> {
        match self.committed_chain(index) {
            Some(c) if c == chain => Ok(()),
            Some(_) => Err(format!(
                "State Machine Safety: {id} applied a different entry at {index}"
            )),
            None => Err(format!(
                "{id} applied {index}, which is not known committed"
            )),
        }
    }

    /// Every committed entry is durable on a majority of the committed configuration's
    /// voters: `durable` lists each node's durable store (crashed nodes too). While a change
    /// that removes a voter is not committed yet, entries commit on a majority of the
    /// configuration without it, so a configuration of `n` voters needs a majority of `n - 1`.
    pub fn check_durable_quorum(&self, durable: &[(NodeId, &MemStore)]) -> Result<(), Violation> {
        let c = self.committed_len();
        if c.0 == 0 {
            return Ok(());
        }
        let g = self.committed_chain(c);
        let voters: Vec<NodeId> = self.committed_conf.voters().collect();
        let holders = durable
            .iter()
            .filter(|(id, s)| {
                voters.contains(id) && (s.base() >= c || (s.last_index() >= c && s.chain(c) == g))
            })
            .count();
        let need = match voters.len() {
            0 | 1 => voters.len(),
            n => (n - 1) / 2 + 1,
        };
        if holders < need {
            return Err(format!(
                "committed entry {c} durable on only {holders} of the voters {voters:?}"
            ));
        }
        Ok(())
    }
}
