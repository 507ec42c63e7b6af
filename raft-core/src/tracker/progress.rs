//! The leader's view of one follower: match/next indices, probe or replicate, and the
//! in-flight window that bounds pipelining.

use heapless::Deque;

use crate::message::SnapKey;
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
    /// The follower needs entries the leader compacted: a snapshot streams in chunks under
    /// the in-flight window.
    Snapshot,
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
    /// In Snapshot: the snapshot streaming, by [`SnapshotMeta::key`] (its membership is not
    /// kept per follower).
    pub(crate) snap: Option<SnapKey>,
    /// In Snapshot: the next offset to send.
    pub(crate) snap_next: u64,
    /// In Snapshot: the follower holds every byte before this offset.
    pub(crate) snap_acked: u64,
    /// In Snapshot: the last chunk (`done`) went out (for an empty snapshot, the only one).
    pub(crate) snap_done_sent: bool,
    /// `snap_acked` at the previous heartbeat.
    pub(crate) snap_acked_at_heartbeat: u64,
    /// Heartbeats since every chunk was acknowledged without the install being reported.
    pub(crate) snap_wait: u32,
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
            snap: None,
            snap_next: 0,
            snap_acked: 0,
            snap_done_sent: false,
            snap_acked_at_heartbeat: 0,
            snap_wait: 0,
        }
    }

    /// Whether another AppendEntries with entries may be sent now.
    #[inline]
    pub(crate) fn can_send(&self, max_msgs: u32, max_bytes: u32) -> bool {
        match self.state {
            ProgressState::Probe => !self.probe_sent,
            ProgressState::Replicate => {
                (self.inflight.len() as u32) < max_msgs && self.inflight_bytes < max_bytes
            }
            ProgressState::Snapshot => {
                !self.snap_done_sent
                    && (self.inflight.len() as u32) < max_msgs
                    && self.inflight_bytes < max_bytes
            }
        }
    }

    /// Entry bytes that may still be put in flight.
    #[inline]
    pub(crate) fn bytes_left(&self, max_bytes: u32) -> u32 {
        max_bytes.saturating_sub(self.inflight_bytes)
    }

    #[inline]
    pub(crate) fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    /// Records an AppendEntries carrying entries up to `last` (`bytes` of records).
    #[inline(always)]
    pub(crate) fn sent(&mut self, last: LogIndex, bytes: u32) {
        match self.state {
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Snapshot => {}
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
    #[inline]
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
        if self.state != ProgressState::Replicate && news {
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

    /// Starts streaming `meta` from offset 0.
    pub(crate) fn become_snapshot(&mut self, meta: crate::message::SnapshotMeta) {
        self.state = ProgressState::Snapshot;
        self.snap = Some(meta.key());
        self.snap_next = 0;
        self.snap_acked = 0;
        self.snap_done_sent = false;
        self.snap_acked_at_heartbeat = 0;
        self.snap_wait = 0;
        self.probe_sent = false;
        self.inflight.clear();
        self.inflight_bytes = 0;
    }

    /// A chunk ending at `end` (`bytes` long) went out.
    pub(crate) fn chunk_sent(&mut self, end: u64, bytes: u32, done: bool) {
        self.snap_next = end;
        self.snap_done_sent |= done;
        if self.inflight.is_full() {
            let _ = self.inflight.pop_back();
        }
        let _ = self.inflight.push_back((LogIndex(end), bytes));
        self.inflight_bytes = self.inflight_bytes.saturating_add(bytes);
    }

    /// The follower holds every byte before `next`. Behind what it acknowledged before
    /// means it restarted the transfer: stream again from there.
    pub(crate) fn chunk_acked(&mut self, next: u64) {
        if next < self.snap_acked {
            self.rewind_snapshot(next);
            return;
        }
        self.snap_acked = next;
        while let Some(&(end, bytes)) = self.inflight.front() {
            if end.0 > next {
                break;
            }
            self.inflight_bytes = self.inflight_bytes.saturating_sub(bytes);
            let _ = self.inflight.pop_front();
        }
    }

    /// Sends again from `offset` (lost chunks, or a follower that restarted).
    pub(crate) fn rewind_snapshot(&mut self, offset: u64) {
        self.snap_wait = 0;
        self.snap_acked = offset;
        self.snap_next = offset;
        self.snap_done_sent = false;
        self.inflight.clear();
        self.inflight_bytes = 0;
    }

    /// The follower installed the snapshot covering `index`.
    pub(crate) fn snapshot_installed(&mut self, index: LogIndex) {
        self.matched = self.matched.max(index);
        self.snap = None;
        self.become_replicate();
    }

    pub(crate) fn become_replicate(&mut self) {
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
            // Heartbeats to a follower receiving a snapshot may be refused: not news.
            ProgressState::Snapshot => false,
            ProgressState::Replicate => {
                if rejected < self.matched {
                    return false;
                }
                if rejected == self.matched {
                    // A heartbeat anchored at the match index was refused: the follower lost
                    // entries it had acknowledged (its disk was replaced). Probe below them.
                    self.matched = probe.min(rejected.prev());
                }
                self.become_probe();
                self.next = probe.next().max(self.matched.next()).min(self.next);
                true
            }
            ProgressState::Probe => {
                if rejected.next() != self.next {
                    return false;
                }
                if rejected <= self.matched {
                    // The follower lost entries it had acknowledged (its disk was replaced):
                    // probe below them instead of sending the same append forever.
                    self.matched = probe.min(rejected.prev());
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
