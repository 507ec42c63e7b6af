//! The engine's [`StateMachine`](raftcore::engine::StateMachine) seam and the node's
//! [`Events`]: what a step hands the application, collected during the step and acted on by
//! the node right after it (answering clients needs the whole node, which the engine's seams
//! cannot borrow).
//!
//! - [`Applier`] applies each committed entry to the application's [`StateMachine`] and records
//!   what the entry's proposer is owed (the response bytes, the configuration for a membership
//!   change, a retry for an empty entry that replaced a proposal); the node takes the records
//!   after the step ([`Applier::take_applied`]) and answers whoever waits for those indices.
//! - [`Seen`] keeps the step's proposal answer and read results for the node, and publishes
//!   role changes to the [`NodeHandle`](super::NodeHandle)s at once.

use std::sync::Arc;

use raftcore::codec::EntryRef;
use raftcore::engine::Events;
use raftcore::{EntryKind, LogIndex, Membership, NodeId, Proposal, ReadResult, Role, Term};

use super::addresses::{decode_context, AddressBook};
use super::handle::{RoleEvent, Shared};
use super::NodeError;
use crate::machine::StateMachine;

/// What the proposer of an applied entry is owed.
pub(super) enum Outcome {
    /// A command's response bytes.
    Response(Vec<u8>),
    /// A membership change took effect (answered with the configuration).
    Membership,
    /// An empty entry (a new leader's): a proposal waiting for this index was replaced.
    Empty,
}

/// One applied entry, for the node to answer its proposer.
pub(super) struct Applied {
    pub(super) index: u64,
    pub(super) term: Term,
    pub(super) outcome: Outcome,
}

/// The application's state machine, seen by the engine, with the address book the
/// membership entries keep (see `addresses.rs`).
pub(super) struct Applier<M> {
    pub(super) sm: M,
    /// This node's id.
    id: u32,
    /// The configuration as of the last applied entry.
    pub(super) members: Membership,
    /// Member id -> address, updated as membership entries are applied.
    pub(super) book: AddressBook,
    /// The book or the configuration changed since the node last looked
    /// ([`Applier::take_book_change`]).
    book_changed: bool,
    /// Membership entries whose context carried no addresses this driver reads.
    pub(super) foreign_contexts: u64,
    /// Whether this node has been in an applied configuration (then, once one leaves it
    /// out, it was removed).
    was_member: bool,
    /// Entries applied since the node last took them.
    done: Vec<Applied>,
    /// Entries applied since the node started.
    pub(super) applied: u64,
    /// Their bytes in the log (payload and a 16-byte header each): what the snapshot interval
    /// is measured in.
    pub(super) log_bytes: u64,
}

/// Bytes an entry's header takes in the log, counted with its payload in
/// [`Applier::log_bytes`].
const ENTRY_HEADER_BYTES: u64 = 16;

impl<M: StateMachine> Applier<M> {
    /// Applies to `sm` for node `id`, whose configuration as of `sm`'s applied index is
    /// `members` and whose address book is `book`.
    pub(super) fn new(sm: M, id: u32, members: Membership, book: AddressBook) -> Applier<M> {
        Applier {
            sm,
            id,
            members,
            book,
            book_changed: true,
            foreign_contexts: 0,
            was_member: members.is_member(NodeId(id)),
            done: Vec::new(),
            applied: 0,
            log_bytes: 0,
        }
    }

    /// Whether the book or the configuration changed since the last call.
    pub(super) fn take_book_change(&mut self) -> bool {
        std::mem::take(&mut self.book_changed)
    }

    /// Whether this node was a member and the applied configuration no longer lists it.
    pub(super) fn removed(&self) -> bool {
        self.was_member && !self.members.is_member(NodeId(self.id))
    }

    /// A membership entry with payload `data` was applied: the configuration it puts in
    /// force, the addresses its context carries added, the members it drops removed.
    fn apply_membership(&mut self, data: &[u8]) {
        let Ok(next) = Membership::decode_entry(data, &self.members) else {
            // raft-core adopted it, so it decodes; nothing to learn otherwise.
            return;
        };
        let context = match Membership::decode_with_context(data) {
            Ok((_, ctx)) => ctx,
            Err(_) => &[], // the leave entry
        };
        match decode_context(context) {
            Some(addrs) => self.book.extend(addrs),
            None => self.foreign_contexts += 1,
        }
        for gone in self.members.members().filter(|&m| !next.is_member(m)) {
            if gone.0 != self.id {
                self.book.remove(&gone.0);
            }
        }
        self.members = next;
        self.was_member |= next.is_member(NodeId(self.id));
        self.book_changed = true;
    }

    /// A snapshot was installed: its configuration and (if it has one) its book replace ours.
    pub(super) fn installed(&mut self, members: Membership, book: Option<AddressBook>) {
        if let Some(book) = book {
            let own = self.book.get(&self.id).copied();
            self.book = book;
            if let Some(own) = own {
                self.book.entry(self.id).or_insert(own);
            }
        }
        self.members = members;
        self.was_member |= members.is_member(NodeId(self.id));
        self.book_changed = true;
    }

    /// Moves the entries applied since the last call into `into` (which should be empty; both
    /// buffers keep their capacity, so a steady loop does not allocate here).
    pub(super) fn take_applied(&mut self, into: &mut Vec<Applied>) {
        std::mem::swap(&mut self.done, into);
    }
}

impl<M: StateMachine> raftcore::engine::StateMachine for Applier<M> {
    type Error = NodeError;

    fn apply(&mut self, index: LogIndex, entry: EntryRef<'_>) -> Result<(), NodeError> {
        let outcome = match entry.kind {
            EntryKind::Normal => Outcome::Response(self.sm.apply(index.0, entry.data)),
            // The engine tracks the configuration as of the applied index itself.
            EntryKind::Membership => {
                self.apply_membership(entry.data);
                self.sm.advance(index.0);
                Outcome::Membership
            }
            EntryKind::Empty => {
                self.sm.advance(index.0);
                Outcome::Empty
            }
        };
        self.applied += 1;
        self.log_bytes += entry.data.len() as u64 + ENTRY_HEADER_BYTES;
        self.done.push(Applied {
            index: index.0,
            term: entry.term,
            outcome,
        });
        Ok(())
    }
}

/// The application events of the engine's steps.
pub(super) struct Seen {
    id: u32,
    shared: Arc<Shared>,
    /// The answer to the step's `Propose` or `ChangeMembership`.
    pub(super) proposal: Option<Proposal>,
    /// Read results, in order, for [`Node::on_read`](super::Node).
    pub(super) reads: Vec<ReadResult>,
    /// Times this node became leader.
    pub(super) became_leader: u64,
}

impl Seen {
    pub(super) fn new(id: u32, shared: Arc<Shared>) -> Seen {
        Seen {
            id,
            shared,
            proposal: None,
            reads: Vec::new(),
            became_leader: 0,
        }
    }
}

impl Events for Seen {
    fn proposal(&mut self, result: Proposal) {
        self.proposal = Some(result);
    }

    fn read(&mut self, result: ReadResult) {
        self.reads.push(result);
    }

    fn role_changed(&mut self, role: Role, term: Term, leader: Option<NodeId>) {
        tracing::info!(id = self.id, %role, term = term.0, leader = leader.map(|l| l.0),
            "role changed");
        if role == Role::Leader {
            self.became_leader += 1;
        }
        self.shared.publish(RoleEvent { role, term, leader });
    }
}

#[cfg(test)]
mod tests {
    use raftcore::engine::StateMachine as _;

    use super::*;
    use crate::kv::{Command, KvStore, Request, Response};

    fn put(seq: u64, k: &str, v: &str) -> Vec<u8> {
        Request {
            client: 7,
            seq,
            command: Command::Put {
                key: k.into(),
                value: v.into(),
            },
        }
        .encode()
    }

    fn entry(term: u64, kind: EntryKind, data: &[u8]) -> EntryRef<'_> {
        EntryRef {
            term: Term(term),
            kind,
            data,
        }
    }

    #[test]
    fn membership_entries_keep_the_address_book_and_tell_a_removed_node() {
        use raftcore::MEMBERSHIP_BYTES;
        let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
        let ids = |v: &[u32]| v.iter().map(|&i| NodeId(i)).collect::<Vec<_>>();
        let three = Membership::new(&ids(&[1, 2, 3]), &[]).unwrap();
        let book: AddressBook = [(1, addr(1)), (2, addr(2)), (3, addr(3))].into();
        let mut a = Applier::new(KvStore::default(), 1, three, book);
        assert!(a.take_book_change() && !a.take_book_change());
        let payload = |m: Membership, ctx: &[(u32, std::net::SocketAddr)]| {
            let mut buf = [0; MEMBERSHIP_BYTES];
            let mut data = m.encode(&mut buf).to_vec();
            if !ctx.is_empty() {
                data.extend(super::super::addresses::encode_context(ctx));
            }
            data
        };
        // A learner added with its address: every node learns it.
        let with4 = three.with_learner(NodeId(4)).unwrap();
        let data = payload(with4, &[(4, addr(4))]);
        a.apply(LogIndex(1), entry(1, EntryKind::Membership, &data))
            .unwrap();
        assert_eq!(a.book.get(&4), Some(&addr(4)));
        assert!(a.take_book_change());
        // Replace 1 by 4 jointly: 1 stays (outgoing) until the leave entry drops it.
        let next = with4.with_voter(NodeId(4)).unwrap().without(NodeId(1));
        let joint = with4.joint(&next, false).unwrap();
        let data = payload(joint, &[]);
        a.apply(LogIndex(2), entry(1, EntryKind::Membership, &data))
            .unwrap();
        assert!(a.book.contains_key(&1) && !a.removed());
        a.apply(
            LogIndex(3),
            entry(1, EntryKind::Membership, raftcore::LEAVE_JOINT),
        )
        .unwrap();
        assert_eq!(a.members, next);
        // This is node 1: its own address stays, and it knows it was removed.
        assert!(a.removed());
        assert_eq!(a.book.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        // Another node's view of the same entries drops node 1's address.
        let mut b = Applier::new(KvStore::default(), 2, three, [(1, addr(1))].into());
        for (i, data) in [payload(with4, &[(4, addr(4))]), payload(joint, &[]), vec![]]
            .iter()
            .enumerate()
        {
            b.apply(
                LogIndex(i as u64 + 1),
                entry(1, EntryKind::Membership, data),
            )
            .unwrap();
        }
        assert_eq!(b.book.keys().copied().collect::<Vec<_>>(), vec![4]);
        assert!(!b.removed());
        // A context this driver cannot read is counted, the configuration still applied.
        let mut foreign = payload(three, &[]);
        foreign.extend_from_slice(&[9, 9]);
        b.apply(LogIndex(4), entry(2, EntryKind::Membership, &foreign))
            .unwrap();
        assert_eq!((b.foreign_contexts, b.members), (1, three));
    }

    #[test]
    fn every_applied_entry_is_recorded_with_what_its_proposer_is_owed() {
        let members = Membership::new(&[NodeId(1)], &[]).unwrap();
        let mut a = Applier::new(KvStore::default(), 1, members, AddressBook::new());
        let cmd = put(1, "k", "v");
        a.apply(LogIndex(1), entry(1, EntryKind::Empty, &[]))
            .unwrap();
        a.apply(LogIndex(2), entry(1, EntryKind::Normal, &cmd))
            .unwrap();
        a.apply(LogIndex(3), entry(2, EntryKind::Membership, &[]))
            .unwrap();
        assert_eq!(a.sm.applied_index(), 3);
        assert_eq!(a.sm.get(b"k"), Some(&b"v"[..]));
        let mut done = Vec::new();
        a.take_applied(&mut done);
        let seen: Vec<(u64, Term, &str)> = done
            .iter()
            .map(|d| {
                let what = match &d.outcome {
                    Outcome::Response(r) if *r == Response::Written.encode() => "written",
                    Outcome::Response(_) => "other response",
                    Outcome::Membership => "membership",
                    Outcome::Empty => "empty",
                };
                (d.index, d.term, what)
            })
            .collect();
        assert_eq!(
            seen,
            [
                (1, Term(1), "empty"),
                (2, Term(1), "written"),
                (3, Term(2), "membership")
            ]
        );
        // Taken once: the next take starts empty (and reuses the buffer given back).
        done.clear();
        a.take_applied(&mut done);
        assert!(done.is_empty());
        assert_eq!(a.applied, 3);
    }
}
