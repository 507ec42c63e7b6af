//! A linearizability checker for a register with put, get and cas: a Wing-Gong search with
//! Lowe's memoization, one key at a time (the keys are independent registers).
//!
//! The search linearizes operations one by one: an operation may go next if no other pending
//! operation completed before it was invoked, and if the register's state lets it return
//! what it returned. A (set of linearized operations, register value) pair already explored
//! is not explored again. An operation of unknown outcome never completes: it may be
//! linearized at any point after its invocation, or not at all. The history is linearizable
//! when every completed operation is linearized.

use std::collections::HashSet;

use crate::history::{Entry, Op, Ret};

/// How many states one key's search may explore before it gives up.
pub const BUDGET: usize = 5_000_000;

/// A key whose history is not linearizable.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The key.
    pub key: usize,
    /// The key's operations, in invocation order.
    pub ops: Vec<Entry>,
    /// The index in `ops` of the earliest completed operation the longest linearization found
    /// could not place.
    pub stuck_at: usize,
}

impl Violation {
    /// The operations around where the search got stuck.
    pub fn excerpt(&self, around: usize) -> String {
        let from = self.stuck_at.saturating_sub(around);
        let to = (self.stuck_at + around + 1).min(self.ops.len());
        let mut s = format!(
            "key k{}: no linearization places op #{} (ops {from}..{to} of {}):\n",
            self.key,
            self.stuck_at,
            self.ops.len()
        );
        for (i, e) in self.ops[from..to].iter().enumerate() {
            let mark = if from + i == self.stuck_at {
                ">>"
            } else {
                "  "
            };
            s += &format!("{mark} #{:<5} {e}\n", from + i);
        }
        s
    }
}

/// What the check of a whole history found.
#[derive(Debug, Default)]
pub struct Report {
    /// Keys checked.
    pub keys: usize,
    /// Operations checked (completed or of unknown outcome).
    pub ops: usize,
    /// States explored, over all keys.
    pub explored: usize,
    /// Keys whose search ran out of budget (neither proved nor refuted).
    pub undecided: Vec<usize>,
    /// Keys whose history is not linearizable.
    pub violations: Vec<Violation>,
}

/// Checks every key of `history`.
pub fn check(history: &[Entry]) -> Report {
    let mut report = Report::default();
    let keys = history.iter().map(|e| e.key + 1).max().unwrap_or(0);
    for key in 0..keys {
        let mut ops: Vec<Entry> = history.iter().filter(|e| e.key == key).copied().collect();
        if ops.is_empty() {
            continue;
        }
        ops.sort_by_key(|e| e.invoke);
        report.keys += 1;
        report.ops += ops.len();
        let mut s = Search::new(&ops);
        let ok = s.run(None);
        report.explored += s.explored;
        if s.explored > BUDGET {
            report.undecided.push(key);
        } else if !ok {
            let stuck_at = (0..ops.len())
                .find(|&i| !s.deepest[i] && ops[i].complete.is_some())
                .unwrap_or(0);
            report.violations.push(Violation { key, ops, stuck_at });
        }
    }
    report
}

/// The register after `e` runs on `state`, if `e` can return what it returned there.
fn step(state: Option<u64>, e: &Entry) -> Option<Option<u64>> {
    match (e.op, e.ret) {
        (Op::Put(v), None | Some(Ret::Written)) => Some(Some(v)),
        (Op::Get, Some(Ret::Value(v))) => (v == state).then_some(state),
        (Op::Get, None) => Some(state),
        (Op::Cas { expected, new }, None) => {
            Some(if state == expected { Some(new) } else { state })
        }
        (Op::Cas { expected, new }, Some(Ret::Cas { swapped, previous })) => {
            if previous != state || swapped != (state == expected) {
                None
            } else if swapped {
                Some(Some(new))
            } else {
                Some(state)
            }
        }
        _ => None,
    }
}

struct Search<'a> {
    ops: &'a [Entry],
    done: Vec<bool>,
    /// `done` at the deepest point reached.
    deepest: Vec<bool>,
    depth: usize,
    max_depth: usize,
    required: usize,
    seen: HashSet<(Vec<u64>, Option<u64>)>,
    explored: usize,
}

impl<'a> Search<'a> {
    fn new(ops: &'a [Entry]) -> Search<'a> {
        Search {
            ops,
            done: vec![false; ops.len()],
            deepest: vec![false; ops.len()],
            depth: 0,
            max_depth: 0,
            required: ops.iter().filter(|e| e.complete.is_some()).count(),
            seen: HashSet::new(),
            explored: 0,
        }
    }

    fn key(&self) -> Vec<u64> {
        let mut bits = vec![0u64; self.done.len().div_ceil(64)];
        for (i, &d) in self.done.iter().enumerate() {
            if d {
                bits[i / 64] |= 1 << (i % 64);
            }
        }
        bits
    }

    /// Whether the pending operations can be linearized from `state`.
    fn run(&mut self, state: Option<u64>) -> bool {
        if self.required == 0 {
            return true;
        }
        if self.explored > BUDGET {
            return false;
        }
        if self.depth > self.max_depth {
            self.max_depth = self.depth;
            self.deepest.clone_from(&self.done);
        }
        // No operation invoked after a pending one completed may go before it.
        let horizon = (0..self.ops.len())
            .filter(|&i| !self.done[i])
            .filter_map(|i| self.ops[i].complete)
            .min()
            .unwrap_or(u64::MAX);
        for i in 0..self.ops.len() {
            let e = self.ops[i];
            if e.invoke > horizon {
                break;
            }
            if self.done[i] {
                continue;
            }
            let Some(next) = step(state, &e) else {
                continue;
            };
            self.done[i] = true;
            if self.seen.insert((self.key(), next)) {
                self.explored += 1;
                let required = e.complete.is_some();
                self.required -= usize::from(required);
                self.depth += 1;
                let ok = self.run(next);
                self.depth -= 1;
                self.required += usize::from(required);
                if ok {
                    return true;
                }
            }
            self.done[i] = false;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: usize, op: Op, invoke: u64, complete: Option<u64>, ret: Option<Ret>) -> Entry {
        Entry {
            client,
            key: 0,
            op,
            invoke,
            complete,
            ret,
        }
    }

    fn put(c: usize, v: u64, a: u64, b: u64) -> Entry {
        op(c, Op::Put(v), a, Some(b), Some(Ret::Written))
    }

    fn get(c: usize, v: Option<u64>, a: u64, b: u64) -> Entry {
        op(c, Op::Get, a, Some(b), Some(Ret::Value(v)))
    }

    fn linearizable(h: &[Entry]) -> bool {
        let r = check(h);
        assert!(r.undecided.is_empty());
        r.violations.is_empty()
    }

    #[test]
    fn sequential_and_overlapping_histories_pass() {
        assert!(linearizable(&[put(0, 1, 0, 10), get(1, Some(1), 20, 30)]));
        assert!(linearizable(&[get(1, None, 0, 5), put(0, 1, 10, 20)]));
        // A read overlapping a write may see either value.
        assert!(linearizable(&[put(0, 1, 0, 10), get(1, None, 5, 15)]));
        assert!(linearizable(&[put(0, 1, 0, 10), get(1, Some(1), 5, 15)]));
        // Two overlapping writes, then reads agreeing on the second-linearized one.
        assert!(linearizable(&[
            put(0, 1, 0, 10),
            put(1, 2, 0, 10),
            get(2, Some(1), 20, 30),
            get(2, Some(1), 40, 50),
        ]));
    }

    #[test]
    fn a_stale_read_is_caught() {
        let h = [put(0, 1, 0, 10), put(0, 2, 20, 30), get(1, Some(1), 40, 50)];
        let r = check(&h);
        assert_eq!(r.violations.len(), 1);
        assert_eq!(
            r.violations[0].stuck_at,
            2,
            "{}",
            r.violations[0].excerpt(3)
        );
    }

    #[test]
    fn a_lost_write_is_caught() {
        // The write of 2 was acknowledged, and a later read still sees 1.
        let h = [put(0, 1, 0, 10), put(1, 2, 15, 25), get(2, Some(1), 30, 40)];
        assert!(!linearizable(&h));
        let lost = crate::history::lost_writes(&h, &h[2..]);
        assert_eq!(lost, vec![h[1]]);
    }

    #[test]
    fn reads_must_not_flip_back() {
        // Overlapping writes, but the readers see 1, then 2, then 1 again.
        let h = [
            put(0, 1, 0, 100),
            put(1, 2, 0, 100),
            get(2, Some(1), 10, 20),
            get(2, Some(2), 30, 40),
            get(2, Some(1), 50, 60),
        ];
        assert!(!linearizable(&h));
    }

    #[test]
    fn unknown_writes_may_or_may_not_take_effect() {
        let unknown = op(0, Op::Put(7), 0, None, None);
        assert!(linearizable(&[unknown, get(1, None, 10, 20)]));
        assert!(linearizable(&[unknown, get(1, Some(7), 1000, 1010)]));
        // Late, even after other operations completed.
        assert!(linearizable(&[
            unknown,
            put(1, 1, 10, 20),
            get(1, Some(1), 30, 40),
            get(1, Some(7), 50, 60),
        ]));
        // But never before it was invoked.
        assert!(!linearizable(&[
            get(1, Some(7), 0, 5),
            op(0, Op::Put(7), 10, None, None),
        ]));
    }

    #[test]
    fn cas_must_see_the_value_it_reports() {
        let cas = |exp, new, swapped, prev, a, b| {
            op(
                0,
                Op::Cas { expected: exp, new },
                a,
                Some(b),
                Some(Ret::Cas {
                    swapped,
                    previous: prev,
                }),
            )
        };
        assert!(linearizable(&[
            put(1, 1, 0, 10),
            cas(Some(1), 2, true, Some(1), 20, 30),
            get(1, Some(2), 40, 50),
        ]));
        assert!(linearizable(&[
            put(1, 1, 0, 10),
            cas(Some(3), 2, false, Some(1), 20, 30),
            get(1, Some(1), 40, 50),
        ]));
        // Swapped against a value the register never held then.
        assert!(!linearizable(&[
            put(1, 1, 0, 10),
            cas(None, 2, true, None, 20, 30),
        ]));
        // Claims not swapped although the expected value was there.
        assert!(!linearizable(&[
            put(1, 1, 0, 10),
            cas(Some(1), 2, false, Some(1), 20, 30),
        ]));
    }
}
