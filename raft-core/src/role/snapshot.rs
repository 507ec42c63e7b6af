//! Streamed InstallSnapshot (`../DESIGN.md`, "Snapshots stream"): the leader sends a window
//! of chunk descriptors that the driver fills from its snapshot storage; the follower hands
//! each in-order chunk straight to its driver (the core never stages snapshot bytes),
//! acknowledges the contiguous offset it holds, and rebases its log only after the driver
//! reports the snapshot installed (durable and loaded).

use crate::codec::{self, WireEntries};
use crate::error::StepError;
use crate::feature::SNAPSHOTS;
use crate::inject::{on, Bug};
use crate::log::window::WindowStorage;
use crate::message::{EntryCount, Message, SnapshotChunk, SnapshotMeta, SnapshotResponse};
use crate::node::{Ctx, State};
use crate::output::Output;
use crate::role_state::Receiving;
use crate::tracker::progress::ProgressState;
use crate::types::{NodeId, Role};

impl<const P: usize, const L: usize, const F: usize, W: WindowStorage> State<P, L, F, W> {
    /// `Input::SnapshotSaved`: the driver holds `meta` durably; it can be sent, and the log
    /// may be compacted up to it.
    pub(crate) fn snapshot_saved(&mut self, meta: SnapshotMeta) -> Result<(), StepError> {
        if meta.index > self.applied {
            return Err(StepError::CaptureBeyondApplied);
        }
        if meta.index >= self.log.base() && self.log.term(meta.index) != Some(meta.term) {
            return Err(StepError::SnapshotMismatch);
        }
        // The configuration at `meta.index`, where this node still knows it.
        let known = if meta.index >= self.conf_index {
            Some(self.conf)
        } else if meta.index >= self.prev_conf.1 {
            Some(self.prev_conf.0)
        } else {
            None
        };
        if known.is_some_and(|m| m != meta.members) || meta.members.len() > P {
            return Err(StepError::SnapshotMismatch);
        }
        if self.snapshot.is_none_or(|s| s.index <= meta.index) {
            self.snapshot = Some(meta);
        }
        self.captured = self.captured.max(meta.index);
        Ok(())
    }

    /// Sends voter `k` its next snapshot chunk, or (with `heartbeat`) a heartbeat when the
    /// window is full.
    pub(crate) fn send_snapshot_chunk(&mut self, k: usize, heartbeat: bool, cx: &mut Ctx<'_>) {
        if !SNAPSHOTS {
            // No snapshot is ever held (`SnapshotSaved` is refused): nothing to stream.
            return;
        }
        let Some(l) = self.role.leading_mut() else {
            return;
        };
        // Invariant: the only caller, `send_append`, passes its `k`, a tracker position below
        // `tracker.len()` (see `progress`), and `progress` has `tracker.len()` entries while
        // leading (see `Leading::progress`).
        let p = &mut l.progress[k];
        let Some(current) = self.snapshot else {
            p.become_probe();
            return;
        };
        if p.snap != Some(current.key()) {
            // A newer snapshot replaced the one streaming (the log was compacted further).
            p.become_snapshot(current);
        }
        let to = self.tracker.id(k);
        if p.can_send(self.cfg.max_inflight_msgs, self.cfg.max_inflight_bytes) {
            let budget = codec::max_chunk_bytes(self.cfg.max_frame_bytes, &current.members)
                .min(p.bytes_left(self.cfg.max_inflight_bytes).max(1));
            // Invariant: `p.snap_next <= current.len`: `p` streams `current` (a stream of another
            // snapshot was restarted on it above, at offset 0); its offset grows only by chunks cut
            // to end at most at `current.len`, and rewinds only to 0 or to an offset its follower
            // acknowledged, which `handle_snapshot_response` caps at the snapshot's length.
            let left = current.len - p.snap_next;
            let len = left.min(u64::from(budget)) as u32;
            let offset = p.snap_next;
            let done = offset + u64::from(len) == current.len;
            p.chunk_sent(offset + u64::from(len), len, done);
            let chunk = SnapshotChunk {
                term: self.hs.term,
                meta: current,
                offset,
                done,
                round: self.round,
                data: EntryCount(len),
            };
            self.send(to, Message::Snapshot(chunk), cx);
        } else if heartbeat {
            self.send_heartbeat_anchor(k, cx);
        }
    }

    pub(crate) fn handle_snapshot_response(
        &mut self,
        from: NodeId,
        r: SnapshotResponse,
        cx: &mut Ctx<'_>,
    ) {
        let Some(k) = self.response_from(from, r.round) else {
            return;
        };
        let Some(p) = self.progress_mut(k) else {
            return;
        };
        if p.state != ProgressState::Snapshot || p.snap.map(|m| m.0) != Some(r.index) {
            // An answer about a stream that is over or was replaced.
            self.check_reads(cx);
            return;
        }
        if p.snap.is_some_and(|m| r.next_offset > m.2) {
            // Bytes past the snapshot's end (its length, `m.2`): no follower holds those, so
            // the answer is forged or corrupt. Taken, it could rewind the stream past the end.
            self.stats.ignored_unexpected += 1;
            return;
        }
        if r.installed {
            p.snapshot_installed(r.index);
            self.maybe_commit(cx);
        } else {
            p.chunk_acked(r.next_offset);
        }
        self.send_append_now(k, cx);
        self.check_reads(cx);
    }

    pub(crate) fn handle_snapshot_chunk(
        &mut self,
        from: NodeId,
        c: &SnapshotChunk<WireEntries<'_>>,
        cx: &mut Ctx<'_>,
    ) {
        if self.role() == Role::Leader {
            self.stats.ignored_unexpected += 1;
            return;
        }
        if self.role() != Role::Follower || self.leader != Some(from) {
            self.set_role(Role::Follower, Some(from), cx);
        }
        self.elapsed = 0;
        let meta = c.meta;
        if meta.members.len() > P || meta.members.voter_count() == 0 {
            // No leader sends a configuration this node cannot hold or one without voters.
            self.stats.ignored_unexpected += 1;
            return;
        }
        let mut resp = SnapshotResponse {
            term: self.hs.term,
            index: meta.index,
            next_offset: 0,
            installed: false,
            round: c.round,
        };
        if meta.index <= self.commit.min(self.durable) && !on(Bug::InstallRollsBack) {
            // Everything it covers is committed and durable here already: nothing to install.
            resp.next_offset = meta.len;
            resp.installed = true;
            self.send(from, Message::SnapshotResponse(resp), cx);
            return;
        }
        if self.receiving.map(|r| r.meta) != Some(meta) {
            if c.offset != 0 {
                // A chunk of a stream this node does not hold (it restarted, or a newer
                // snapshot replaced it): ask for offset 0.
                self.stats.snapshot_chunks_rejected += 1;
                self.send(from, Message::SnapshotResponse(resp), cx);
                return;
            }
            self.receiving = Some(Receiving {
                meta,
                next: 0,
                complete: false,
            });
        }
        if let Some(r) = self.receiving.as_mut() {
            let len = c.data.records().len() as u32;
            if c.offset == r.next && !r.complete {
                cx.push(
                    Output::SnapshotChunk {
                        meta,
                        offset: c.offset,
                        len,
                    },
                    &mut self.stats,
                );
                r.next += u64::from(len);
                if c.done {
                    r.complete = true;
                    cx.push(Output::InstallSnapshot { meta }, &mut self.stats);
                }
            } else {
                // Stale, duplicate or out of order: refused; the answer names the offset
                // wanted.
                self.stats.snapshot_chunks_rejected += 1;
            }
            resp.next_offset = r.next;
        }
        self.send(from, Message::SnapshotResponse(resp), cx);
    }

    /// `Input::SnapshotInstalled`: rebase the log on the installed snapshot.
    pub(crate) fn snapshot_installed(
        &mut self,
        meta: SnapshotMeta,
        ok: bool,
        cx: &mut Ctx<'_>,
    ) -> Result<(), StepError> {
        match self.receiving {
            Some(r) if r.meta == meta && r.complete => {}
            _ => return Err(StepError::SnapshotNotRequested),
        }
        self.receiving = None;
        let mut resp = SnapshotResponse {
            term: self.hs.term,
            index: meta.index,
            next_offset: 0,
            installed: false,
            round: 0,
        };
        if ok {
            if self.log.term(meta.index) == Some(meta.term) && !on(Bug::InstallRollsBack) {
                self.log.compact_to(meta.index);
                // Entries after the snapshot stay, and a configuration among them with them.
                if self.conf_index <= meta.index {
                    self.conf_from_snapshot(meta.members, meta.index);
                }
            } else {
                let from = self.log.base().next();
                self.truncate_log(from, cx);
                self.log.reset(meta.index, meta.term);
                self.conf_from_snapshot(meta.members, meta.index);
            }
            self.commit = self.commit.max(meta.index);
            self.applied = self.applied.max(meta.index);
            self.captured = self.captured.max(meta.index);
            self.durable = self.durable.max(meta.index);
            self.snapshot = Some(meta);
            resp.next_offset = meta.len;
            resp.installed = true;
        }
        if let Some(l) = self.leader {
            self.send(l, Message::SnapshotResponse(resp), cx);
        }
        Ok(())
    }
}
