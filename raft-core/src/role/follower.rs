//! AppendEntries receiver (Figure 2, section 5.3): consistency check, conflict truncation,
//! append, commit.

use crate::codec::WireEntries;
use crate::fmt::raft_debug;
use crate::inject::{on, Bug};
use crate::log::window::{LogSlot, WindowStorage};
use crate::membership::Membership;
use crate::message::{Append, AppendResponse, Message};
use crate::node::{Ctx, State};
use crate::output::{NewEntries, NewEntriesFrom};
use crate::types::{EntryKind, LogIndex, NodeId, Role, Term};

impl<const P: usize, const L: usize, const F: usize, W: WindowStorage> State<P, L, F, W> {
    /// "Reply false if term < currentTerm": the reply carries our term so the stale leader
    /// steps down.
    pub(crate) fn reject_stale_append(&mut self, to: NodeId, prev: LogIndex, cx: &mut Ctx<'_>) {
        let resp = AppendResponse {
            term: self.hs.term,
            success: false,
            index: prev,
            hint_index: LogIndex::ZERO,
            hint_term: Term(0),
            round: 0,
            commit: self.commit,
        };
        self.send(to, Message::AppendResponse(resp), cx);
    }

    /// Drops log entries from `index` on, recording it for this step's `Persist`.
    pub(crate) fn truncate_log(&mut self, index: LogIndex, cx: &mut Ctx<'_>) {
        self.log.truncate_from(index);
        self.conf_truncated(index);
        cx.truncate_from = Some(cx.truncate_from.map_or(index, |t| t.min(index)));
        let keep = index.prev();
        self.durable = self.durable.min(keep);
        for p in self.persists.iter_mut() {
            p.1 = p.1.min(keep);
        }
    }

    pub(crate) fn handle_append(
        &mut self,
        from: NodeId,
        a: &Append<WireEntries<'_>>,
        cx: &mut Ctx<'_>,
    ) {
        if self.role() == Role::Leader || !(a.entries.is_empty() || entries_are_plausible::<P>(a)) {
            // Two leaders in one term cannot happen, nor entries whose terms go down or
            // exceed the leader's; a forged or corrupted message can. Accepting it could make
            // the durable log unrestorable.
            self.stats.ignored_unexpected += 1;
            return;
        }
        // A valid AppendEntries from the current leader: follow it, reset the election timer.
        if self.role() != Role::Follower || self.leader != Some(from) {
            self.set_role(Role::Follower, Some(from), cx);
        }
        self.elapsed = 0;

        let mut resp = AppendResponse {
            term: self.hs.term,
            success: false,
            index: a.prev_index,
            hint_index: LogIndex::ZERO,
            hint_term: Term(0),
            round: a.round,
            commit: self.commit,
        };
        // Entries at or below the compaction point are committed, hence match the leader's;
        // skip them and check consistency at the first entry we still hold.
        let base = self.log.base();
        let (prev, prev_term, skip) = if a.prev_index < base {
            let skip = base.0 - a.prev_index.0;
            if skip > u64::from(a.entries.len()) {
                // Everything in the message is already compacted: we hold it all.
                resp.success = true;
                resp.index = a.prev_index.plus(u64::from(a.entries.len()));
                self.ack_append(from, resp, cx);
                return;
            }
            // The message's entry at the compaction point must be the one compacted here
            // (a real leader's is); anything else is forged or corrupt.
            let at_base = a.entries.iter().nth(skip as usize - 1).map(|e| e.term);
            if at_base != Some(self.log.base_term()) {
                self.stats.ignored_unexpected += 1;
                return;
            }
            (base, self.log.base_term(), skip as u32)
        } else {
            (a.prev_index, a.prev_term, 0)
        };
        let unchecked = on(Bug::NoPrevCheck) && prev <= self.log.last_index();
        if skip == 0 && !self.log.matches(prev, prev_term) && !unchecked {
            // "Reply false if log doesn't contain an entry at prevLogIndex whose term matches
            // prevLogTerm", with a hint for fast backtracking.
            self.stats.appends_rejected += 1;
            raft_debug!(
                "{} rejects append at {} from {}",
                self.cfg.id.0,
                prev.0,
                from.0
            );
            let hint = self
                .log
                .find_conflict_by_term(prev.min(self.log.last_index()), prev_term);
            resp.hint_index = hint;
            resp.hint_term = self.log.term(hint).unwrap_or(Term(0));
            self.send(from, Message::AppendResponse(resp), cx);
            return;
        }
        let mut index = prev;
        let mut appending = false;
        for (k, e) in a.entries.skip(skip).enumerate() {
            let at = index.next();
            if !appending {
                match self.log.term(at) {
                    Some(t) if t == e.term => {
                        // Already held: skip.
                        index = at;
                        continue;
                    }
                    Some(_) => {
                        // "If an existing entry conflicts with a new one (same index but
                        // different terms), delete the existing entry and all that follow."
                        if at <= self.commit {
                            // A leader never contradicts a committed entry; drop the message.
                            self.stats.ignored_unexpected += 1;
                            return;
                        }
                        self.truncate_log(at, cx);
                    }
                    None => {}
                }
                if cx.entries.is_some() || !self.has_room(e.data.len(), 0) {
                    self.stats.appends_truncated_full += 1;
                    break;
                }
                appending = true;
                cx.entries = Some(NewEntries {
                    first: at,
                    count: 0,
                    from: NewEntriesFrom::Message {
                        skip: skip + k as u32,
                    },
                });
            } else if !self.has_room(e.data.len(), 0) {
                self.stats.appends_truncated_full += 1;
                break;
            }
            let meta = LogSlot {
                term: e.term,
                len: e.data.len() as u16,
                kind: e.kind,
            };
            if !self.append_meta(meta, cx) {
                self.stats.appends_truncated_full += 1;
                break;
            }
            if e.kind == EntryKind::Membership {
                // Checked by `entries_are_plausible`; a leave entry reads the configuration in
                // force before it (only a joint one can be left: a leader never sends a leave
                // entry after a plain configuration, and one that does is not adopted).
                if let Ok(m) = Membership::decode_entry(e.data, &self.conf) {
                    self.adopt_conf(m, at);
                }
            }
            index = at;
        }
        // "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last
        // new entry)": only entries this message verified count.
        if a.commit > self.commit {
            let verified = if on(Bug::CommitPastMatch) {
                self.log.last_index()
            } else {
                index
            };
            self.commit = self.commit.max(a.commit.min(verified));
        }
        let floor = a.floor.min(index).min(self.commit);
        if floor > self.floor {
            self.floor = floor;
        }
        resp.success = true;
        resp.index = index;
        resp.commit = self.commit;
        self.ack_append(from, resp, cx);
    }

    /// Sends a successful append acknowledgement once what it acknowledges is durable.
    #[inline]
    fn ack_append(&mut self, to: NodeId, resp: AppendResponse, cx: &mut Ctx<'_>) {
        let seq = self.seq_for_ack(cx);
        if self.durable_by(seq) {
            self.send(to, Message::AppendResponse(resp), cx);
        } else {
            // A newer acknowledgement to the same leader supersedes the held one, but never
            // acknowledges less: a heartbeat verifies only up to its `prev_index`, and had its
            // answer replaced the held acknowledgement of entries an earlier append of this
            // term carried, the leader would learn of them only at the next heartbeat (a
            // write would wait a heartbeat interval to commit). Those entries came from this
            // leader in this term, so they still match its log (the held acknowledgement is
            // dropped when the term changes).
            let mut resp = resp;
            if let Some((held_to, held, _)) = self.held_ack {
                if held_to == to && held.term == resp.term && held.index > resp.index {
                    resp.index = held.index;
                }
            }
            self.held_ack = Some((to, resp, seq));
        }
    }
}

/// Entry terms in an AppendEntries never go down, start at or after `prev_term`, and never
/// exceed the leader's term; membership entries hold a configuration of at most `P` members,
/// maybe followed by the application's context (or are the leave entry, which names none).
fn entries_are_plausible<const P: usize>(a: &Append<WireEntries<'_>>) -> bool {
    let mut last = a.prev_term;
    for e in a.entries.iter() {
        if e.term < last || e.term > a.term {
            return false;
        }
        if e.kind == EntryKind::Membership
            && !e.data.is_empty()
            && !Membership::decode_with_context(e.data).is_ok_and(|(m, _)| m.len() <= P)
        {
            return false;
        }
        last = e.term;
    }
    true
}
