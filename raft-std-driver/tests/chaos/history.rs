//! A recorded history: each operation a client ran on one key of a register, with the times
//! (microseconds since the run began) it was invoked and completed, and what came back.

use std::fmt;

/// What a client asked for. Every written value is unique in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Set the key to the value.
    Put(u64),
    /// Read the key.
    Get,
    /// If the key holds `expected` (`None`: absent), set it to `new`.
    Cas {
        /// The value the key must hold.
        expected: Option<u64>,
        /// The value to store.
        new: u64,
    },
}

/// What came back for a completed operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// A put was applied.
    Written,
    /// A get's value.
    Value(Option<u64>),
    /// A cas was applied: whether it swapped, and the value it found.
    Cas {
        /// Whether the value was swapped.
        swapped: bool,
        /// The value before.
        previous: Option<u64>,
    },
}

/// One operation of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The client (thread) that ran it.
    pub client: usize,
    /// The key (0..keys).
    pub key: usize,
    /// The operation.
    pub op: Op,
    /// When it was invoked.
    pub invoke: u64,
    /// When its answer came; `None`: the outcome is unknown (it may take effect at any time
    /// after `invoke`, or never). Operations that failed definitely are not recorded.
    pub complete: Option<u64>,
    /// The answer (`None` exactly when `complete` is).
    pub ret: Option<Ret>,
}

impl Entry {
    /// The value this operation may write, if it writes one.
    pub fn written(&self) -> Option<u64> {
        match (self.op, self.ret) {
            (Op::Put(v), _) => Some(v),
            (Op::Cas { new, .. }, None | Some(Ret::Cas { swapped: true, .. })) => Some(new),
            _ => None,
        }
    }

    /// Whether a write was acknowledged (it took effect for sure).
    pub fn acknowledged_write(&self) -> bool {
        self.ret.is_some() && self.written().is_some()
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = match self.complete {
            Some(c) => format!("{:>10.3}s", c as f64 / 1e6),
            None => "   unknown".into(),
        };
        write!(
            f,
            "{:>10.3}s..{end} c{} k{} {:?} -> {:?}",
            self.invoke as f64 / 1e6,
            self.client,
            self.key,
            self.op,
            self.ret
        )
    }
}

/// Acknowledged writes that the final value of a key proves lost: the key's last read (taken
/// after every fault was healed and every client stopped) returned a value whose write was
/// followed, after it completed, by an acknowledged write that was invoked later; or it
/// returned a value no operation wrote. Returns the writes found lost.
pub fn lost_writes(history: &[Entry], final_reads: &[Entry]) -> Vec<Entry> {
    let mut lost = Vec::new();
    for read in final_reads {
        let Some(Ret::Value(v)) = read.ret else {
            continue;
        };
        let writes = history
            .iter()
            .filter(|e| e.key == read.key && e.written().is_some());
        match v.and_then(|v| writes.clone().find(|e| e.written() == Some(v))) {
            Some(w) => {
                // An acknowledged write invoked after `w` completed replaced `w`'s value
                // (values are unique): reading `w`'s value last means it was lost.
                if let Some(done) = w.complete {
                    lost.extend(
                        writes
                            .filter(|e| e.acknowledged_write() && e.invoke > done)
                            .copied(),
                    );
                }
            }
            None => lost.extend(writes.filter(|e| e.acknowledged_write()).copied()),
        }
    }
    lost
}
