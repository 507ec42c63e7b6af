//! The leader's view of one follower: match/next indices, probe or replicate, and the
//! in-flight window that bounds pipelining.

use heapless::Deque;

use crate::types::LogIndex;

/// How the leader is sending to a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ProgressState {
    /// The follower's log position is unknown: one AppendEntries at a time, backtracking on
    /// rejection until one matches.
    Probe,
    /// The follower matched: AppendEntries stream optimistically under the in-flight window.
    Replicate,
}

/// Per-follower replication progress.
#[derive(Clone, Debug)]
pub(crate) struct Progress<const F: usize> {
    /// Highest index known to match the leader's log.
    pub(crate) matched: LogIndex,
    /// Next index to send.
    pub(crate) next: LogIndex,
    pub(crate) state: ProgressState,
    /// In Probe: a probe is outstanding; wait for its answer or the next heartbeat.
    pub(crate) probe_sent: bool,
    /// In Replicate: (last index, entry bytes) of each AppendEntries in flight, oldest first.
    inflight: Deque<(LogIndex, u32), F>,
    inflight_bytes: u32,
    /// Highest heartbeat round this follower has answered.
    pub(crate) acked_round: u32,
    /// `matched` at the previous heartbeat: no progress across a whole heartbeat interval
    /// with messages in flight means they were lost.
    pub(crate) matched_at_heartbeat: LogIndex,
}

impl<const F: usize> Progress<F> {
    pub(crate) fn new(next: LogIndex) -> Self {
        Progress {
            matched: LogIndex::ZERO,
            next,
            state: ProgressState::Probe,
            probe_sent: false,
            inflight: Deque::new(),
            inflight_bytes: 0,
            acked_round: 0,
            matched_at_heartbeat: LogIndex::ZERO,
        }
    }

    /// Whether another AppendEntries with entries may be sent now.
    pub(crate) fn can_send(&self, max_msgs: u32, max_bytes: u32) -> bool {
        match self.state {
            ProgressState::Probe => !self.probe_sent,
            ProgressState::Replicate => {
                (self.inflight.len() as u32) < max_msgs && self.inflight_bytes < max_bytes
            }
        }
    }

    /// Entry bytes that may still be put in flight.
    pub(crate) fn bytes_left(&self, max_bytes: u32) -> u32 {
        max_bytes.saturating_sub(self.inflight_bytes)
    }

    pub(crate) fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    /// Records an AppendEntries carrying entries up to `last` (`bytes` of records).
    pub(crate) fn sent(&mut self, last: LogIndex, bytes: u32) {
        match self.state {
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Replicate => {
                if last >= self.next {
                    self.next = last.next();
                }
                // Capacity is checked by `can_send` (max_msgs <= F is validated); if it were
                // full the oldest record is merged into the new one, which only frees later.
                if self.inflight.is_full() {
                    let _ = self.inflight.pop_back();
                }
                let _ = self.inflight.push_back((last, bytes));
                self.inflight_bytes = self.inflight_bytes.saturating_add(bytes);
            }
        }
    }

    /// The follower acknowledged everything up to `index`. True if that was news.
    pub(crate) fn ack(&mut self, index: LogIndex) -> bool {
        let news = index > self.matched;
        if news {
            self.matched = index;
        }
        if self.next <= index {
            self.next = index.next();
        }
        while let Some(&(last, bytes)) = self.inflight.front() {
            if last > index {
                break;
            }
            self.inflight_bytes = self.inflight_bytes.saturating_sub(bytes);
            let _ = self.inflight.pop_front();
        }
        if self.state == ProgressState::Probe && news {
            self.become_replicate();
        }
        news
    }

    pub(crate) fn become_probe(&mut self) {
        self.state = ProgressState::Probe;
        self.next = self.matched.next();
        self.probe_sent = false;
        self.inflight.clear();
        self.inflight_bytes = 0;
    }

    fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next = self.matched.next();
        self.probe_sent = false;
        self.inflight.clear();
        self.inflight_bytes = 0;
    }

    /// A rejection of the AppendEntries whose `prev_index` was `rejected`, with the follower's
    /// hint already mapped onto the leader's log as `probe`. False if the rejection is stale.
    pub(crate) fn reject(&mut self, rejected: LogIndex, probe: LogIndex) -> bool {
        match self.state {
            ProgressState::Replicate => {
                if rejected <= self.matched {
                    return false;
                }
                self.become_probe();
                self.next = probe.next().max(self.matched.next()).min(self.next);
                true
            }
            ProgressState::Probe => {
                if rejected.next() != self.next {
                    return false;
                }
                self.next = rejected.min(probe.next()).max(self.matched.next());
                self.probe_sent = false;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_backtracks_then_replicates_under_the_window() {
        let mut p: Progress<2> = Progress::new(LogIndex(10));
        assert!(p.can_send(2, 100));
        p.sent(LogIndex(12), 30);
        assert!(!p.can_send(2, 100), "one probe at a time");
        assert!(
            !p.reject(LogIndex(5), LogIndex(3)),
            "stale rejection ignored"
        );
        assert!(p.reject(LogIndex(9), LogIndex(4)));
        assert_eq!(p.next, LogIndex(5));
        p.sent(LogIndex(7), 30);
        assert!(p.ack(LogIndex(7)));
        assert_eq!((p.state, p.next), (ProgressState::Replicate, LogIndex(8)));
        p.sent(LogIndex(9), 60);
        p.sent(LogIndex(11), 60);
        assert!(!p.can_send(2, 1000), "window of 2 messages full");
        assert!(p.ack(LogIndex(9)));
        assert!(p.can_send(2, 1000));
        assert_eq!(p.bytes_left(100), 40);
        assert!(
            !p.reject(LogIndex(8), LogIndex(8)),
            "rejection below match is stale"
        );
        assert!(p.reject(LogIndex(11), LogIndex(10)));
        assert_eq!((p.state, p.next), (ProgressState::Probe, LogIndex(10)));
    }
}
