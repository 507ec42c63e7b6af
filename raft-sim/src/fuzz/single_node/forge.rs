//! Forged input for the single-node target: terms and indices near the node's own, and
//! decodable frames from members with arbitrary fields.

use raftcore::codec::{self, EntryRef, EntrySource, Header};
use raftcore::{
    Append, AppendResponse, EntryCount, EntryKind, LogIndex, Message, NodeId, Term, VoteRequest,
    VoteResponse,
};

use super::{Harness, FORGE_ANY_ENTRY_TERMS};
use crate::fuzz::Reader;

trait PlusSmall {
    fn plus_small(self, n: u8) -> Self;
}

impl PlusSmall for Term {
    fn plus_small(self, n: u8) -> Term {
        Term(self.0.saturating_add(u64::from(n)))
    }
}

/// Entries of a forged AppendEntries, for the encoder.
struct Forged {
    first: LogIndex,
    entries: Vec<(Term, EntryKind, Vec<u8>)>,
}

impl EntrySource for Forged {
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        let k = index.0.checked_sub(self.first.0)?;
        self.entries
            .get(usize::try_from(k).ok()?)
            .map(|(term, kind, data)| EntryRef {
                term: *term,
                kind: *kind,
                data,
            })
    }
}

impl Harness {
    /// A term near the node's own (one below to two above), or an extreme. (At `u64::MAX`
    /// a campaign once saturated the term and voted twice in it: `known_bugs.rs`.)
    fn term(&self, r: &mut Reader<'_>) -> Term {
        let cur = self.state().term().0;
        let b = r.u8();
        match b % 16 {
            0 => Term(0),
            1 => Term(u64::MAX),
            _ => Term(cur.saturating_add(u64::from(b >> 4) % 4).saturating_sub(1)),
        }
    }

    /// An index near the end of the node's log (three below to two above), or an extreme.
    fn index(&self, r: &mut Reader<'_>) -> LogIndex {
        let last = self.state().last_index().0;
        let b = r.u8();
        match b % 16 {
            0 => LogIndex(0),
            1 => LogIndex(u64::MAX),
            _ => LogIndex(last.saturating_add(u64::from(b >> 4) % 6).saturating_sub(3)),
        }
    }

    /// A decodable frame from a member (usually) with arbitrary fields.
    pub(super) fn forged_frame(&self, r: &mut Reader<'_>) -> Vec<u8> {
        let me = self.me();
        let others: Vec<NodeId> = self.voters.iter().copied().filter(|&v| v != me).collect();
        let b = r.u8();
        let from = match (b % 8, others.is_empty()) {
            (0, _) => me,
            (1, _) | (_, true) => NodeId(9),
            (k, false) => others[usize::from(k) % others.len()],
        };
        let to = if b & 0x30 == 0x30 { NodeId(7) } else { me };
        let cluster_id = u32::from(b & 0x40 != 0 && b & 0x80 != 0);
        let hdr = Header {
            cluster_id,
            from,
            to,
        };
        let kind = r.u8() % 6;
        let term = self.term(r);
        let mut src = Forged {
            first: LogIndex(0),
            entries: Vec::new(),
        };
        let msg = match kind {
            0 | 2 => {
                let req = VoteRequest {
                    term,
                    last_index: self.index(r),
                    last_term: self.term(r),
                };
                if kind == 0 {
                    Message::PreVote(req)
                } else {
                    Message::Vote(req)
                }
            }
            1 | 3 => {
                let resp = VoteResponse {
                    term,
                    granted: r.u8() & 1 != 0,
                };
                if kind == 1 {
                    Message::PreVoteResponse(resp)
                } else {
                    Message::VoteResponse(resp)
                }
            }
            4 => {
                let prev_index = self.index(r);
                let prev_term = self.term(r);
                let commit = self.index(r);
                let floor = self.index(r);
                let round = u32::from(r.u8());
                let count = r.u8() % 4;
                src.first = prev_index.next();
                let mut t = prev_term;
                for _ in 0..count {
                    t = if FORGE_ANY_ENTRY_TERMS {
                        self.term(r)
                    } else {
                        // What a leader could send: non-decreasing, at most its term.
                        t.max(Term(1)).plus_small(r.u8() % 2).min(term)
                    };
                    let b = r.u8();
                    let kind = if b & 1 == 0 {
                        EntryKind::Normal
                    } else {
                        EntryKind::Empty
                    };
                    let data = r.bytes(usize::from(b >> 1) % 24).to_vec();
                    src.entries.push((t, kind, data));
                }
                Message::Append(Append {
                    term,
                    prev_index,
                    prev_term,
                    commit,
                    floor,
                    round,
                    entries: EntryCount(u32::from(count)),
                })
            }
            _ => Message::AppendResponse(AppendResponse {
                term,
                success: r.u8() & 1 != 0,
                index: self.index(r),
                hint_index: self.index(r),
                hint_term: self.term(r),
                round: u32::from(r.u8()),
                commit: self.index(r),
            }),
        };
        let mut buf = vec![0u8; 2048];
        match codec::encode(&hdr, &msg, &src, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                buf
            }
            // Saturated indices can name entries the source lacks: send raw bytes instead.
            Err(_) => buf[..8].to_vec(),
        }
    }
}
