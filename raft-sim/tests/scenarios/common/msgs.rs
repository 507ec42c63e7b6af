//! Hand-built messages and helpers to look at a step's outputs.

use raftcore::codec::{self, EntryRef, WireEntries};
use raftcore::output::ReadResult;
use raftcore::{
    Append, AppendResponse, EntryCount, EntryKind, LogIndex, Message, NodeId, Output, Persist,
    Proposal, ReadIndexResponse, Role, Term, VoteRequest, VoteResponse,
};

use super::{i, payload, t};

// ----- Messages built by hand -----

pub fn vote_req(term: u64, last_index: u64, last_term: u64) -> Message<WireEntries<'static>> {
    Message::Vote(VoteRequest {
        term: t(term),
        last_index: i(last_index),
        last_term: t(last_term),
    })
}

pub fn pre_vote_req(term: u64, last_index: u64, last_term: u64) -> Message<WireEntries<'static>> {
    Message::PreVote(VoteRequest {
        term: t(term),
        last_index: i(last_index),
        last_term: t(last_term),
    })
}

/// The RequestVote a candidate sends after TimeoutNow (leadership transfer).
pub fn transfer_vote_req(
    term: u64,
    last_index: u64,
    last_term: u64,
) -> Message<WireEntries<'static>> {
    Message::TransferVote(VoteRequest {
        term: t(term),
        last_index: i(last_index),
        last_term: t(last_term),
    })
}

/// A leader of `term` hands its leadership over.
pub fn timeout_now(term: u64) -> Message<WireEntries<'static>> {
    Message::TimeoutNow { term: t(term) }
}

pub fn vote_resp(term: u64, granted: bool) -> Message<WireEntries<'static>> {
    Message::VoteResponse(VoteResponse {
        term: t(term),
        granted,
    })
}

pub fn pre_vote_resp(term: u64, granted: bool) -> Message<WireEntries<'static>> {
    Message::PreVoteResponse(VoteResponse {
        term: t(term),
        granted,
    })
}

/// A successful or failed AppendEntries answer without hints, echoing `round`.
pub fn append_resp(
    term: u64,
    success: bool,
    index: u64,
    round: u32,
) -> Message<WireEntries<'static>> {
    Message::AppendResponse(AppendResponse {
        term: t(term),
        success,
        index: i(index),
        hint_index: LogIndex::ZERO,
        hint_term: Term(0),
        round,
        commit: LogIndex::ZERO,
    })
}

/// Entry records for a hand-built AppendEntries.
pub struct Ents {
    bytes: Vec<u8>,
    count: u32,
}

impl Ents {
    /// Entries with explicit terms and payloads.
    pub fn new(entries: &[(u64, &[u8])]) -> Ents {
        let mut bytes = Vec::new();
        for (term, data) in entries {
            let mut rec = vec![0u8; codec::ENTRY_OVERHEAD as usize + data.len()];
            let e = EntryRef {
                term: t(*term),
                kind: EntryKind::Normal,
                data,
            };
            codec::write_record(&mut rec, &e).expect("record fits");
            bytes.extend_from_slice(&rec);
        }
        Ents {
            bytes,
            count: entries.len() as u32,
        }
    }

    /// Entries of `terms` starting at index `first`, with the harness payloads.
    pub fn terms(first: u64, terms: &[u64]) -> Ents {
        let data: Vec<(u64, Vec<u8>)> = terms
            .iter()
            .enumerate()
            .map(|(k, &term)| (term, payload(first + k as u64, term)))
            .collect();
        let refs: Vec<(u64, &[u8])> = data.iter().map(|(tm, d)| (*tm, d.as_slice())).collect();
        Ents::new(&refs)
    }

    pub fn none() -> Ents {
        Ents::new(&[])
    }

    pub fn wire(&self) -> WireEntries<'_> {
        WireEntries::parse(self.count, &self.bytes).expect("valid records")
    }
}

/// An AppendEntries from a leader of `term` (floor 0, round 0).
pub fn append(
    term: u64,
    prev_index: u64,
    prev_term: u64,
    commit: u64,
    ents: &Ents,
) -> Message<WireEntries<'_>> {
    Message::Append(Append {
        term: t(term),
        prev_index: i(prev_index),
        prev_term: t(prev_term),
        commit: i(commit),
        floor: LogIndex::ZERO,
        round: 0,
        entries: ents.wire(),
    })
}

/// What an AppendEntries descriptor looks like, for exact comparisons.
pub fn append_desc(
    term: u64,
    prev_index: u64,
    prev_term: u64,
    commit: u64,
    count: u32,
    round: u32,
) -> Message<EntryCount> {
    Message::Append(Append {
        term: t(term),
        prev_index: i(prev_index),
        prev_term: t(prev_term),
        commit: i(commit),
        floor: LogIndex::ZERO,
        round,
        entries: EntryCount(count),
    })
}

// ----- Looking at outputs -----

pub fn sends(out: &[Output]) -> Vec<(NodeId, Message<EntryCount>)> {
    pick!(out, Output::Send { to, msg } => (to, msg))
}

pub fn persists(out: &[Output]) -> Vec<Persist> {
    pick!(out, Output::Persist(p) => p)
}

pub fn proposal(out: &[Output]) -> Option<Proposal> {
    out.iter().find_map(|o| match o {
        Output::Proposal(p) => Some(*p),
        _ => None,
    })
}

pub fn applies(out: &[Output]) -> Vec<(u64, u64)> {
    pick!(out, Output::Apply { first, last } => (first.0, last.0))
}

pub fn role_changes(out: &[Output]) -> Vec<(Role, Term, Option<NodeId>)> {
    pick!(out, Output::RoleChanged { role, term, leader } => (role, term, leader))
}

/// The position of the first output matching `pred`.
pub fn position(out: &[Output], pred: impl Fn(&Output) -> bool) -> Option<usize> {
    out.iter().position(pred)
}

/// The AppendEntries descriptors in `out`.
pub fn appends(out: &[Output]) -> Vec<(NodeId, Append<EntryCount>)> {
    pick!(out, Output::Send { to, msg: Message::Append(a) } => (to, a))
}

/// The AppendEntries answers in `out`.
pub fn append_resps(out: &[Output]) -> Vec<(NodeId, AppendResponse)> {
    pick!(out, Output::Send { to, msg: Message::AppendResponse(r) } => (to, r))
}

/// The vote answers in `out` (PreVote and real).
pub fn vote_resps(out: &[Output]) -> Vec<(NodeId, VoteResponse)> {
    pick!(out, Output::Send {
        to,
        msg: Message::VoteResponse(r) | Message::PreVoteResponse(r),
    } => (to, r))
}

/// The read answers in `out` (`Output::Read`).
pub fn reads(out: &[Output]) -> Vec<ReadResult> {
    pick!(out, Output::Read(r) => r)
}

/// The read-index requests a follower sent in `out`: (to, term, read id).
pub fn read_index_reqs(out: &[Output]) -> Vec<(NodeId, u64, u64)> {
    pick!(out, Output::Send { to, msg: Message::ReadIndex(r) } => (to, r.term.0, r.id))
}

/// The read-index answers a leader sent in `out`: (to, read id, read index, ok).
pub fn read_index_resps(out: &[Output]) -> Vec<(NodeId, u64, u64, bool)> {
    let answer = |to, r: ReadIndexResponse| (to, r.id, r.index.0, r.ok);
    pick!(out, Output::Send { to, msg: Message::ReadIndexResponse(r) } => answer(to, r))
}

/// The TimeoutNow messages in `out`: (to, term).
pub fn timeouts_now(out: &[Output]) -> Vec<(NodeId, u64)> {
    pick!(out, Output::Send { to, msg: Message::TimeoutNow { term } } => (to, term.0))
}
