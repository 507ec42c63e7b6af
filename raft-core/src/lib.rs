//! raft-core: a deterministic, `no_std`, allocation-free Raft.
//!
//! The whole protocol is one value, [`State`], advanced by one function: give it an
//! [`Input`] (a tick, a received frame, a proposal, a storage report) and it fills a bounded
//! list of [`Output`]s (persist this, send that, apply those) for the driver to perform in
//! order. There is no I/O, no clock, no heap and no hidden state, so the same core runs in
//! firmware, in a host's event loop and in a fuzzer, and the same seed and inputs give the
//! same outputs, bit for bit.
//!
//! - [`Engine`] drives a `State` through the driver's seams (log storage, snapshots,
//!   transport, state machine) and performs every step's outputs in the contract's order:
//!   what a driver is built on ([`engine`]).
//! - [`State::step`] is the in-place form the engine uses; [`step`] is the by-value
//!   `step(state, input) -> (state, outputs)` form, a thin wrapper over it.
//! - [`output`] states the contract the engine obeys (ordering, durability, bounds).
//! - [`codec`] turns messages into framed datagrams and back; it reads entry payloads from
//!   the driver's log store ([`LogStore`]; [`RingStore`] is a no_std one over a byte array).
//!
//! # Example: three nodes commit an entry
//!
//! A driver gives the [`Engine`] a log store (here raft-core's [`RingStore`] over a byte
//! array), a transport and a state machine, then loops: tick, deliver frames, propose.
//!
//! ```
//! use raftcore::codec::{EntryRef, EntrySource};
//! use raftcore::engine::{Outgoing, StateMachine, Transport};
//! use raftcore::{Config, Engine, Input, LogIndex, NodeId, RingStore, Role, State, StoreError};
//!
//! struct Wire(Vec<(NodeId, Vec<u8>)>); // frames in flight (a real one sends datagrams)
//! impl Transport for Wire {
//!     type Error = StoreError;
//!     fn send<L: EntrySource + ?Sized>(&mut self, m: Outgoing<'_, L>) -> Result<(), StoreError> {
//!         let mut frame = [0u8; 1200];
//!         let n = m.encode(&mut frame).expect("fits max_frame_bytes");
//!         Ok(self.0.push((m.to(), frame[..n].to_vec())))
//!     }
//! }
//! struct Applied(Vec<Vec<u8>>); // the state machine: every command applied, in order
//! impl StateMachine for Applied {
//!     type Error = StoreError;
//!     fn apply(&mut self, _: LogIndex, e: EntryRef<'_>) -> Result<(), StoreError> {
//!         Ok(if !e.data.is_empty() { self.0.push(e.data.to_vec()) })
//!     }
//! }
//! const IDS: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];
//! let mut bufs = [[0u8; 4096]; 3]; // each node's log store
//! let mut nodes: Vec<_> = bufs.iter_mut().zip(IDS).map(|(buf, id)| {
//!     let mut cfg = Config::new(id, 42); // 42: the seed of the election jitter
//!     cfg.log_bytes = RingStore::<16>::budget(buf.len(), cfg.max_payload());
//!     let state: State<3, 16, 4> = State::new(cfg, &IDS).unwrap(); // 3 voters, 16 entries
//!     Engine::new(state, RingStore::<16>::new(buf, LogIndex(0)), Wire(vec![]), Applied(vec![]))
//! }).collect();
//! // The loop: a tick for every node, then every frame delivered.
//! for round in 0..40 {
//!     for n in nodes.iter_mut() { n.step(Input::Tick, &mut ()).unwrap() }
//!     if round == 20 {
//!         let leader = nodes.iter_mut().find(|n| n.state().role() == Role::Leader).unwrap();
//!         leader.step(Input::Propose { data: b"x=1" }, &mut ()).unwrap();
//!     }
//!     while let Some((to, f)) = nodes.iter_mut().find_map(|n| n.transport_mut().0.pop()) {
//!         nodes[to.0 as usize - 1].step(Input::Frame(&f), &mut ()).unwrap();
//!     }
//! }
//! assert!(nodes.iter().all(|n| n.machine().0 == [b"x=1"]));
//! ```
//!
//! # Linearizable reads
//!
//! A client's read goes in as [`Input::Read`]` { id }` (ids increase per node) and comes back
//! through [`Events::read`](engine::Events::read) as a [`ReadResult`]:
//! `Ready { upto, index }` lets the driver serve every read with an id up to `upto` once its
//! state machine has applied `index`; `Failed` means retry (at `leader_hint` if known). A leader
//! answers once a majority acknowledged a heartbeat round sent *after* the read began
//! (ReadIndex; reads arriving meanwhile share the next round, and a new leader first commits an
//! entry of its own term). A follower asks the leader and answers with the leader's read index.
//! With [`Config::lease_reads`] (and CheckQuorum) a leader answers at once while its lease
//! holds; its clock-drift assumption is documented there.
//!
//! ```
//! # use raftcore::codec::{EntryRef, EntrySource};
//! # use raftcore::engine::{Events, NoSnapshots, Outgoing, Snapshots, StateMachine, Transport};
//! # use raftcore::output::ReadResult;
//! # use raftcore::{Config, Engine, Input, LogIndex, NodeId, Proposal, RingStore, Role, State,
//! #                 StoreError};
//! # // The first example's seams, an `Events` that keeps the answers, and a loop.
//! # struct Wire(Vec<(NodeId, Vec<u8>)>);
//! # impl Transport for Wire {
//! #     type Error = StoreError;
//! #     fn send<L>(&mut self, m: Outgoing<'_, L>) -> Result<(), StoreError>
//! #     where L: EntrySource + ?Sized {
//! #         let mut frame = [0u8; 1200];
//! #         let n = m.encode(&mut frame).expect("fits max_frame_bytes");
//! #         Ok(self.0.push((m.to(), frame[..n].to_vec())))
//! #     }
//! # }
//! # struct Applied(Vec<Vec<u8>>);
//! # impl StateMachine for Applied {
//! #     type Error = StoreError;
//! #     fn apply(&mut self, _: LogIndex, e: EntryRef<'_>) -> Result<(), StoreError> {
//! #         Ok(if !e.data.is_empty() { self.0.push(e.data.to_vec()) })
//! #     }
//! # }
//! # #[derive(Default)]
//! # struct Seen { proposals: Vec<Proposal>, reads: Vec<ReadResult> }
//! # impl Events for Seen {
//! #     fn proposal(&mut self, p: Proposal) { self.proposals.push(p) }
//! #     fn read(&mut self, r: ReadResult) { self.reads.push(r) }
//! # }
//! # type Log = RingStore<'static, 16>;
//! # type Node<const P: usize, N> = Engine<State<P, 16, 4>, Log, Wire, Applied, N>;
//! # struct Net<const P: usize, N = NoSnapshots<StoreError>> {
//! #     nodes: Vec<Node<P, N>>,
//! #     seen: Vec<Seen>,
//! #     down: Vec<bool>,
//! # }
//! # impl<const P: usize, N: Snapshots<Applied, Error = StoreError>> Net<P, N> {
//! #     /// Nodes 1 to `P`, `voters` the initial configuration.
//! #     fn new(voters: &[NodeId], frame_bytes: u32, snapshots: impl Fn() -> N) -> Self {
//! #         let nodes = (0..P).map(|k| {
//! #             let id = NodeId(k as u32 + 1);
//! #             let mut cfg = Config::new(id, 7 + k as u64);
//! #             cfg.max_frame_bytes = frame_bytes;
//! #             cfg.max_inflight_bytes = 4 * frame_bytes;
//! #             cfg.log_bytes = RingStore::<16>::budget(1024, cfg.max_payload());
//! #             let log = RingStore::new(vec![0; 1024].leak(), LogIndex(0));
//! #             let state = State::new(cfg, voters).unwrap();
//! #             Engine::with_snapshots(state, log, snapshots(), Wire(vec![]), Applied(vec![]))
//! #         });
//! #         let seen = (0..P).map(|_| Seen::default()).collect();
//! #         Net { nodes: nodes.collect(), seen, down: vec![false; P] }
//! #     }
//! #     /// Node 1 campaigns until it leads.
//! #     fn elect(&mut self) {
//! #         while self.nodes[0].state().role() != Role::Leader {
//! #             self.step(0, Input::Tick);
//! #             self.deliver();
//! #         }
//! #     }
//! #     fn step(&mut self, k: usize, input: Input<'_>) {
//! #         self.nodes[k].step(input, &mut self.seen[k]).unwrap();
//! #     }
//! #     /// The answer to node `k`'s last proposal or membership change.
//! #     fn answer(&self, k: usize) -> Option<Proposal> {
//! #         self.seen[k].proposals.last().copied()
//! #     }
//! #     /// Delivers every frame, oldest first (dropping those from or to a node that is down).
//! #     fn deliver(&mut self) {
//! #         let next = |nodes: &mut Vec<Node<P, N>>| {
//! #             nodes.iter_mut().enumerate().find_map(|(k, n)| {
//! #                 let wire = &mut n.transport_mut().0;
//! #                 (!wire.is_empty()).then(|| (k, wire.remove(0)))
//! #             })
//! #         };
//! #         while let Some((from, (to, frame))) = next(&mut self.nodes) {
//! #             let to = (to.0 - 1) as usize;
//! #             if !self.down[from] && !self.down[to] {
//! #                 self.step(to, Input::Frame(&frame));
//! #             }
//! #         }
//! #     }
//! #     /// A heartbeat round from node 1, delivered.
//! #     fn heartbeat(&mut self) {
//! #         for _ in 0..3 {
//! #             self.step(0, Input::Tick);
//! #         }
//! #         self.deliver();
//! #     }
//! # }
//! # let ids = [NodeId(1), NodeId(2), NodeId(3)];
//! # let mut net = Net::<3>::new(&ids, 256, NoSnapshots::new);
//! # net.elect();
//! // `net.nodes` are three engines over the seams of the example above; `net.seen[k]` is what
//! // node k's `Events` kept (answers to proposals and reads). Node 1 (`nodes[0]`) leads and has
//! // committed a write.
//! net.step(0, Input::Propose { data: b"x=1" });
//! net.deliver();
//! let commit = net.nodes[0].state().commit();
//!
//! // A read on the leader is not answered at once: a heartbeat round goes out first.
//! net.step(0, Input::Read { id: 1 });
//! assert!(net.seen[0].reads.is_empty());
//! // A majority acknowledged that round: serve read 1 once `commit` is applied (it is).
//! net.deliver();
//! assert_eq!(net.seen[0].reads, [ReadResult::Ready { upto: 1, index: commit }]);
//! assert!(net.nodes[0].state().applied() >= commit);
//!
//! // A read on a follower goes through the leader and is served at the leader's index.
//! net.step(2, Input::Read { id: 1 });
//! net.deliver();
//! assert_eq!(net.seen[2].reads, [ReadResult::Ready { upto: 1, index: commit }]);
//! ```
//!
//! # Leadership transfer
//!
//! [`Input::TransferLeader`]` { to }` on the leader hands leadership to the voter `to`: the
//! leader catches it up, then sends it TimeoutNow; `to` campaigns at once (no PreVote) with a
//! TransferVote that voters grant even inside the leader lease. Meanwhile the leader answers
//! proposals `Busy`, and it gives up after an election timeout. Requests naming itself, a
//! non-member, or sent to a follower are ignored. The application sees the usual role changes
//! ([`Events::role_changed`](engine::Events::role_changed)).
//!
//! ```
//! # use raftcore::codec::{EntryRef, EntrySource};
//! # use raftcore::engine::{Events, NoSnapshots, Outgoing, Snapshots, StateMachine, Transport};
//! # use raftcore::output::ReadResult;
//! # use raftcore::{Config, Engine, Input, LogIndex, NodeId, Proposal, RingStore, Role, State,
//! #                 StoreError};
//! # // The first example's seams, an `Events` that keeps the answers, and a loop.
//! # struct Wire(Vec<(NodeId, Vec<u8>)>);
//! # impl Transport for Wire {
//! #     type Error = StoreError;
//! #     fn send<L>(&mut self, m: Outgoing<'_, L>) -> Result<(), StoreError>
//! #     where L: EntrySource + ?Sized {
//! #         let mut frame = [0u8; 1200];
//! #         let n = m.encode(&mut frame).expect("fits max_frame_bytes");
//! #         Ok(self.0.push((m.to(), frame[..n].to_vec())))
//! #     }
//! # }
//! # struct Applied(Vec<Vec<u8>>);
//! # impl StateMachine for Applied {
//! #     type Error = StoreError;
//! #     fn apply(&mut self, _: LogIndex, e: EntryRef<'_>) -> Result<(), StoreError> {
//! #         Ok(if !e.data.is_empty() { self.0.push(e.data.to_vec()) })
//! #     }
//! # }
//! # #[derive(Default)]
//! # struct Seen { proposals: Vec<Proposal>, reads: Vec<ReadResult> }
//! # impl Events for Seen {
//! #     fn proposal(&mut self, p: Proposal) { self.proposals.push(p) }
//! #     fn read(&mut self, r: ReadResult) { self.reads.push(r) }
//! # }
//! # type Log = RingStore<'static, 16>;
//! # type Node<const P: usize, N> = Engine<State<P, 16, 4>, Log, Wire, Applied, N>;
//! # struct Net<const P: usize, N = NoSnapshots<StoreError>> {
//! #     nodes: Vec<Node<P, N>>,
//! #     seen: Vec<Seen>,
//! #     down: Vec<bool>,
//! # }
//! # impl<const P: usize, N: Snapshots<Applied, Error = StoreError>> Net<P, N> {
//! #     /// Nodes 1 to `P`, `voters` the initial configuration.
//! #     fn new(voters: &[NodeId], frame_bytes: u32, snapshots: impl Fn() -> N) -> Self {
//! #         let nodes = (0..P).map(|k| {
//! #             let id = NodeId(k as u32 + 1);
//! #             let mut cfg = Config::new(id, 7 + k as u64);
//! #             cfg.max_frame_bytes = frame_bytes;
//! #             cfg.max_inflight_bytes = 4 * frame_bytes;
//! #             cfg.log_bytes = RingStore::<16>::budget(1024, cfg.max_payload());
//! #             let log = RingStore::new(vec![0; 1024].leak(), LogIndex(0));
//! #             let state = State::new(cfg, voters).unwrap();
//! #             Engine::with_snapshots(state, log, snapshots(), Wire(vec![]), Applied(vec![]))
//! #         });
//! #         let seen = (0..P).map(|_| Seen::default()).collect();
//! #         Net { nodes: nodes.collect(), seen, down: vec![false; P] }
//! #     }
//! #     /// Node 1 campaigns until it leads.
//! #     fn elect(&mut self) {
//! #         while self.nodes[0].state().role() != Role::Leader {
//! #             self.step(0, Input::Tick);
//! #             self.deliver();
//! #         }
//! #     }
//! #     fn step(&mut self, k: usize, input: Input<'_>) {
//! #         self.nodes[k].step(input, &mut self.seen[k]).unwrap();
//! #     }
//! #     /// The answer to node `k`'s last proposal or membership change.
//! #     fn answer(&self, k: usize) -> Option<Proposal> {
//! #         self.seen[k].proposals.last().copied()
//! #     }
//! #     /// Delivers every frame, oldest first (dropping those from or to a node that is down).
//! #     fn deliver(&mut self) {
//! #         let next = |nodes: &mut Vec<Node<P, N>>| {
//! #             nodes.iter_mut().enumerate().find_map(|(k, n)| {
//! #                 let wire = &mut n.transport_mut().0;
//! #                 (!wire.is_empty()).then(|| (k, wire.remove(0)))
//! #             })
//! #         };
//! #         while let Some((from, (to, frame))) = next(&mut self.nodes) {
//! #             let to = (to.0 - 1) as usize;
//! #             if !self.down[from] && !self.down[to] {
//! #                 self.step(to, Input::Frame(&frame));
//! #             }
//! #         }
//! #     }
//! #     /// A heartbeat round from node 1, delivered.
//! #     fn heartbeat(&mut self) {
//! #         for _ in 0..3 {
//! #             self.step(0, Input::Tick);
//! #         }
//! #         self.deliver();
//! #     }
//! # }
//! # let ids = [NodeId(1), NodeId(2), NodeId(3)];
//! # let mut net = Net::<3>::new(&ids, 256, NoSnapshots::new);
//! # net.elect();
//! // Node 1 (`nodes[0]`) leads; node 2 holds its whole log.
//! net.step(0, Input::TransferLeader { to: NodeId(2) });
//! // Until node 2 takes over, node 1 refuses new entries.
//! net.step(0, Input::Propose { data: b"x=1" });
//! assert_eq!(net.answer(0), Some(Proposal::Busy));
//!
//! // TimeoutNow reaches node 2, which wins the next term at once.
//! net.deliver();
//! assert_eq!(net.nodes[1].state().role(), Role::Leader);
//! assert_eq!(net.nodes[0].state().role(), Role::Follower);
//! net.step(0, Input::Propose { data: b"x=1" });
//! assert_eq!(net.answer(0), Some(Proposal::NotLeader { leader_hint: Some(NodeId(2)) }));
//! net.step(1, Input::Propose { data: b"x=1" });
//! assert!(matches!(net.answer(1), Some(Proposal::Accepted { .. })));
//! ```
//!
//! # Membership change
//!
//! [`Input::ChangeMembership`]` { data }` on the leader changes the cluster to the whole new
//! configuration `data` ([`Membership::encode`]), one voter at a time: a node joins as a
//! learner, is promoted once it caught up, and any member (the leader too) can be removed.
//! Any larger change (replace a node, three voters to five) goes in one step by joint
//! consensus: propose [`Membership::joint`]`(current, next, auto_leave)`; every decision then
//! needs a majority of both configurations until the cluster leaves the joint one, by itself
//! with `auto_leave` or when [`LEAVE_JOINT`] (or `next`) is proposed.
//! The answer comes back as a proposal's ([`Events::proposal`](engine::Events::proposal)); the
//! change is done when it is applied. The engine stores the entry like any other, hands it to
//! the state machine (which skips [`EntryKind::Membership`] entries) and tracks the
//! configuration as of the applied index for the snapshots it captures
//! ([`Engine::applied_membership`], [`SnapshotMeta::members`]). The two ways, their limits
//! and the pitfalls handled: [`membership`].
//!
//! ```
//! # use raftcore::codec::{EntryRef, EntrySource};
//! # use raftcore::engine::{Events, NoSnapshots, Outgoing, Snapshots, StateMachine, Transport};
//! # use raftcore::output::ReadResult;
//! # use raftcore::{Config, Engine, Input, LogIndex, NodeId, Proposal, RingStore, Role, State,
//! #                 StoreError};
//! # // The first example's seams, an `Events` that keeps the answers, and a loop.
//! # struct Wire(Vec<(NodeId, Vec<u8>)>);
//! # impl Transport for Wire {
//! #     type Error = StoreError;
//! #     fn send<L>(&mut self, m: Outgoing<'_, L>) -> Result<(), StoreError>
//! #     where L: EntrySource + ?Sized {
//! #         let mut frame = [0u8; 1200];
//! #         let n = m.encode(&mut frame).expect("fits max_frame_bytes");
//! #         Ok(self.0.push((m.to(), frame[..n].to_vec())))
//! #     }
//! # }
//! # struct Applied(Vec<Vec<u8>>);
//! # impl StateMachine for Applied {
//! #     type Error = StoreError;
//! #     fn apply(&mut self, _: LogIndex, e: EntryRef<'_>) -> Result<(), StoreError> {
//! #         Ok(if !e.data.is_empty() { self.0.push(e.data.to_vec()) })
//! #     }
//! # }
//! # #[derive(Default)]
//! # struct Seen { proposals: Vec<Proposal>, reads: Vec<ReadResult> }
//! # impl Events for Seen {
//! #     fn proposal(&mut self, p: Proposal) { self.proposals.push(p) }
//! #     fn read(&mut self, r: ReadResult) { self.reads.push(r) }
//! # }
//! # type Log = RingStore<'static, 16>;
//! # type Node<const P: usize, N> = Engine<State<P, 16, 4>, Log, Wire, Applied, N>;
//! # struct Net<const P: usize, N = NoSnapshots<StoreError>> {
//! #     nodes: Vec<Node<P, N>>,
//! #     seen: Vec<Seen>,
//! #     down: Vec<bool>,
//! # }
//! # impl<const P: usize, N: Snapshots<Applied, Error = StoreError>> Net<P, N> {
//! #     /// Nodes 1 to `P`, `voters` the initial configuration.
//! #     fn new(voters: &[NodeId], frame_bytes: u32, snapshots: impl Fn() -> N) -> Self {
//! #         let nodes = (0..P).map(|k| {
//! #             let id = NodeId(k as u32 + 1);
//! #             let mut cfg = Config::new(id, 7 + k as u64);
//! #             cfg.max_frame_bytes = frame_bytes;
//! #             cfg.max_inflight_bytes = 4 * frame_bytes;
//! #             cfg.log_bytes = RingStore::<16>::budget(1024, cfg.max_payload());
//! #             let log = RingStore::new(vec![0; 1024].leak(), LogIndex(0));
//! #             let state = State::new(cfg, voters).unwrap();
//! #             Engine::with_snapshots(state, log, snapshots(), Wire(vec![]), Applied(vec![]))
//! #         });
//! #         let seen = (0..P).map(|_| Seen::default()).collect();
//! #         Net { nodes: nodes.collect(), seen, down: vec![false; P] }
//! #     }
//! #     /// Node 1 campaigns until it leads.
//! #     fn elect(&mut self) {
//! #         while self.nodes[0].state().role() != Role::Leader {
//! #             self.step(0, Input::Tick);
//! #             self.deliver();
//! #         }
//! #     }
//! #     fn step(&mut self, k: usize, input: Input<'_>) {
//! #         self.nodes[k].step(input, &mut self.seen[k]).unwrap();
//! #     }
//! #     /// The answer to node `k`'s last proposal or membership change.
//! #     fn answer(&self, k: usize) -> Option<Proposal> {
//! #         self.seen[k].proposals.last().copied()
//! #     }
//! #     /// Delivers every frame, oldest first (dropping those from or to a node that is down).
//! #     fn deliver(&mut self) {
//! #         let next = |nodes: &mut Vec<Node<P, N>>| {
//! #             nodes.iter_mut().enumerate().find_map(|(k, n)| {
//! #                 let wire = &mut n.transport_mut().0;
//! #                 (!wire.is_empty()).then(|| (k, wire.remove(0)))
//! #             })
//! #         };
//! #         while let Some((from, (to, frame))) = next(&mut self.nodes) {
//! #             let to = (to.0 - 1) as usize;
//! #             if !self.down[from] && !self.down[to] {
//! #                 self.step(to, Input::Frame(&frame));
//! #             }
//! #         }
//! #     }
//! #     /// A heartbeat round from node 1, delivered.
//! #     fn heartbeat(&mut self) {
//! #         for _ in 0..3 {
//! #             self.step(0, Input::Tick);
//! #         }
//! #         self.deliver();
//! #     }
//! # }
//! # use raftcore::{MembershipRefusal, MEMBERSHIP_BYTES};
//! # let ids = [NodeId(1), NodeId(2), NodeId(3), NodeId(4)];
//! # // Nodes 1 to 3 are the initial voters; node 4 waits outside the cluster.
//! # let mut net = Net::<4>::new(&ids[..3], 256, NoSnapshots::new);
//! # net.elect();
//! // Node 1 (`nodes[0]`) leads nodes 1 to 3. Add node 4 as a learner.
//! let mut buf = [0u8; MEMBERSHIP_BYTES];
//! let current = *net.nodes[0].state().membership();
//! let next = current.with_learner(NodeId(4)).unwrap();
//! net.step(0, Input::ChangeMembership { data: next.encode(&mut buf) });
//! assert!(matches!(net.answer(0), Some(Proposal::Accepted { .. })));
//!
//! // Voters are added only by promoting a caught-up learner, one at a time.
//! let promoted = next.with_voter(NodeId(4)).unwrap();
//! net.step(0, Input::ChangeMembership { data: promoted.encode(&mut buf) });
//! // Node 4 has not caught up yet.
//! assert_eq!(net.answer(0), Some(Proposal::Refused(MembershipRefusal::NotCaughtUp)));
//! net.deliver();
//! net.heartbeat();
//! // Node 4 learned the log and the change.
//! assert_eq!(net.nodes[3].state().membership(), &next);
//! net.step(0, Input::ChangeMembership { data: promoted.encode(&mut buf) });
//! assert!(matches!(net.answer(0), Some(Proposal::Accepted { .. })));
//! net.deliver();
//! assert_eq!(net.nodes[0].state().membership().voter_count(), 4);
//!
//! // Removing two voters at once is refused; removing the leader itself is fine: it leads
//! // until the change commits, then hands over and steps down.
//! let two = promoted.without(NodeId(2)).without(NodeId(3));
//! net.step(0, Input::ChangeMembership { data: two.encode(&mut buf) });
//! assert_eq!(net.answer(0), Some(Proposal::Refused(MembershipRefusal::MoreThanOneVoter)));
//! let without_leader = promoted.without(NodeId(1));
//! net.step(0, Input::ChangeMembership { data: without_leader.encode(&mut buf) });
//! assert!(matches!(net.answer(0), Some(Proposal::Accepted { .. })));
//! net.deliver();
//! net.heartbeat();
//! assert_eq!(net.nodes[0].state().role(), Role::Follower);
//! let leaders = net.nodes.iter().filter(|n| n.state().role() == Role::Leader).count();
//! assert_eq!(leaders, 1);
//! assert_eq!(net.nodes[1].state().membership(), &without_leader);
//! // Node 2 applied the change too (a snapshot it captured now would name it).
//! assert_eq!(net.nodes[1].applied_membership(), &without_leader);
//! ```
//!
//! # Snapshots
//!
//! A driver with snapshots gives the engine a [`Snapshots`](engine::Snapshots) store: it
//! captures the state machine into a durable snapshot and reads it back in chunks (the leader
//! side), and writes received chunks and installs a complete snapshot (the follower side).
//! [`Engine::capture`] captures at the applied index and reports
//! [`Input::SnapshotSaved`]` { meta }` ([`SnapshotMeta`]: index, term, length, checksum); the
//! core may then compact the log past followers that lag and streams those followers the
//! snapshot instead, every chunk one frame, under the in-flight window. A follower's engine
//! writes each chunk as it arrives and, once all arrived, has the store verify, make durable
//! and load the snapshot, starts the log store after it and reports
//! [`Input::SnapshotInstalled`]` { meta, ok }`. Only then does
//! the core rebase the follower's log; `ok: false` restarts the transfer.
//!
//! ```
//! use raftcore::engine::{ChunkAt, Snapshots};
//! use raftcore::{LogIndex, SnapshotMeta, SnapshotPoint, StoreError};
//!
//! /// One node's snapshot files: the one it holds (captured or installed) and the one coming in.
//! #[derive(Default)]
//! struct Files {
//!     held: Option<(SnapshotMeta, Vec<u8>)>,
//!     incoming: Vec<u8>,
//! }
//!
//! /// The driver's checksum (FNV-1a); the core only carries it.
//! fn checksum(bytes: &[u8]) -> u32 {
//!     bytes.iter().fold(0x811c_9dc5, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
//! }
//!
//! /// `Applied` is the state machine of the first example: every command applied, in order.
//! impl Snapshots<Applied> for Files {
//!     type Error = StoreError;
//!
//!     // The leader side: capture the state machine (its commands, concatenated)...
//!     fn capture(
//!         &mut self,
//!         machine: &Applied,
//!         at: SnapshotPoint,
//!     ) -> Result<Option<SnapshotMeta>, StoreError> {
//!         let bytes = machine.0.concat();
//!         let meta = at.meta(bytes.len() as u64, checksum(&bytes));
//!         self.held = Some((meta, bytes));
//!         Ok(Some(meta))
//!     }
//!
//!     // ...and serve the chunks the core names.
//!     fn read_chunk(&mut self, at: ChunkAt<'_>, len: u32) -> Result<Option<&[u8]>, StoreError> {
//!         let start = at.offset as usize;
//!         let held = self.held.as_ref().filter(|(m, _)| m == at.meta);
//!         Ok(held.and_then(|(_, bytes)| bytes.get(start..start + len as usize)))
//!     }
//!
//!     // The follower side: write each chunk where it goes...
//!     fn write_chunk(&mut self, at: ChunkAt<'_>, data: &[u8]) -> Result<(), StoreError> {
//!         if at.offset == 0 {
//!             self.incoming.clear(); // a new snapshot: drop any partial one
//!         }
//!         assert_eq!(at.offset, self.incoming.len() as u64); // in order, here
//!         self.incoming.extend_from_slice(data);
//!         Ok(())
//!     }
//!
//!     // ...then verify, keep and load the whole snapshot.
//!     fn install(&mut self, meta: &SnapshotMeta, m: &mut Applied) -> Result<bool, StoreError> {
//!         let bytes = core::mem::take(&mut self.incoming);
//!         if bytes.len() as u64 != meta.len || checksum(&bytes) != meta.checksum {
//!             return Ok(false);
//!         }
//!         m.0 = vec![bytes.clone()];
//!         self.held = Some((*meta, bytes));
//!         Ok(true)
//!     }
//! }
//! # use raftcore::codec::{EntryRef, EntrySource};
//! # use raftcore::engine::{Events, NoSnapshots, Outgoing, StateMachine, Transport};
//! # use raftcore::output::ReadResult;
//! # use raftcore::{Config, Engine, Input, NodeId, Proposal, RingStore, Role, State};
//! # // The first example's seams, an `Events` that keeps the answers, and a loop.
//! # struct Wire(Vec<(NodeId, Vec<u8>)>);
//! # impl Transport for Wire {
//! #     type Error = StoreError;
//! #     fn send<L>(&mut self, m: Outgoing<'_, L>) -> Result<(), StoreError>
//! #     where L: EntrySource + ?Sized {
//! #         let mut frame = [0u8; 1200];
//! #         let n = m.encode(&mut frame).expect("fits max_frame_bytes");
//! #         Ok(self.0.push((m.to(), frame[..n].to_vec())))
//! #     }
//! # }
//! # struct Applied(Vec<Vec<u8>>);
//! # impl StateMachine for Applied {
//! #     type Error = StoreError;
//! #     fn apply(&mut self, _: LogIndex, e: EntryRef<'_>) -> Result<(), StoreError> {
//! #         Ok(if !e.data.is_empty() { self.0.push(e.data.to_vec()) })
//! #     }
//! # }
//! # #[derive(Default)]
//! # struct Seen { proposals: Vec<Proposal>, reads: Vec<ReadResult> }
//! # impl Events for Seen {
//! #     fn proposal(&mut self, p: Proposal) { self.proposals.push(p) }
//! #     fn read(&mut self, r: ReadResult) { self.reads.push(r) }
//! # }
//! # type Log = RingStore<'static, 16>;
//! # type Node<const P: usize, N> = Engine<State<P, 16, 4>, Log, Wire, Applied, N>;
//! # struct Net<const P: usize, N = NoSnapshots<StoreError>> {
//! #     nodes: Vec<Node<P, N>>,
//! #     seen: Vec<Seen>,
//! #     down: Vec<bool>,
//! # }
//! # impl<const P: usize, N: Snapshots<Applied, Error = StoreError>> Net<P, N> {
//! #     /// Nodes 1 to `P`, `voters` the initial configuration.
//! #     fn new(voters: &[NodeId], frame_bytes: u32, snapshots: impl Fn() -> N) -> Self {
//! #         let nodes = (0..P).map(|k| {
//! #             let id = NodeId(k as u32 + 1);
//! #             let mut cfg = Config::new(id, 7 + k as u64);
//! #             cfg.max_frame_bytes = frame_bytes;
//! #             cfg.max_inflight_bytes = 4 * frame_bytes;
//! #             cfg.log_bytes = RingStore::<16>::budget(1024, cfg.max_payload());
//! #             let log = RingStore::new(vec![0; 1024].leak(), LogIndex(0));
//! #             let state = State::new(cfg, voters).unwrap();
//! #             Engine::with_snapshots(state, log, snapshots(), Wire(vec![]), Applied(vec![]))
//! #         });
//! #         let seen = (0..P).map(|_| Seen::default()).collect();
//! #         Net { nodes: nodes.collect(), seen, down: vec![false; P] }
//! #     }
//! #     /// Node 1 campaigns until it leads.
//! #     fn elect(&mut self) {
//! #         while self.nodes[0].state().role() != Role::Leader {
//! #             self.step(0, Input::Tick);
//! #             self.deliver();
//! #         }
//! #     }
//! #     fn step(&mut self, k: usize, input: Input<'_>) {
//! #         self.nodes[k].step(input, &mut self.seen[k]).unwrap();
//! #     }
//! #     /// The answer to node `k`'s last proposal or membership change.
//! #     fn answer(&self, k: usize) -> Option<Proposal> {
//! #         self.seen[k].proposals.last().copied()
//! #     }
//! #     /// Delivers every frame, oldest first (dropping those from or to a node that is down).
//! #     fn deliver(&mut self) {
//! #         let next = |nodes: &mut Vec<Node<P, N>>| {
//! #             nodes.iter_mut().enumerate().find_map(|(k, n)| {
//! #                 let wire = &mut n.transport_mut().0;
//! #                 (!wire.is_empty()).then(|| (k, wire.remove(0)))
//! #             })
//! #         };
//! #         while let Some((from, (to, frame))) = next(&mut self.nodes) {
//! #             let to = (to.0 - 1) as usize;
//! #             if !self.down[from] && !self.down[to] {
//! #                 self.step(to, Input::Frame(&frame));
//! #             }
//! #         }
//! #     }
//! #     /// A heartbeat round from node 1, delivered.
//! #     fn heartbeat(&mut self) {
//! #         for _ in 0..3 {
//! #             self.step(0, Input::Tick);
//! #         }
//! #         self.deliver();
//! #     }
//! # }
//! # let ids = [NodeId(1), NodeId(2), NodeId(3)];
//! # let mut net = Net::<3, Files>::new(&ids, 128, Files::default); // chunks of at most 48 bytes
//! # net.down[2] = true;
//! # net.elect();
//! // `net.nodes` are engines with `Files`. Node 1 (`nodes[0]`) leads; node 3 is down. Six
//! // writes commit on nodes 1 and 2.
//! for k in 1..=6 {
//!     let cmd = format!("set key{k} = value{k};");
//!     net.step(0, Input::Propose { data: cmd.as_bytes() });
//!     net.deliver();
//! }
//! // The leader's empty entry, then six writes.
//! assert_eq!(net.nodes[0].state().applied(), LogIndex(7));
//!
//! // The leader captures its state machine: the log is compacted past node 3.
//! let meta = net.nodes[0].capture(&mut net.seen[0]).unwrap().expect("captured");
//! assert_eq!(net.nodes[0].state().first_index(), LogIndex(8));
//! assert_eq!(meta.len, 108); // three chunks of at most 48 bytes
//!
//! // Node 3 comes up with an empty log. The next heartbeat finds the entries it needs
//! // compacted, and the snapshot streams to it in chunks of one frame each.
//! net.down[2] = false;
//! net.heartbeat();
//! assert_eq!(net.nodes[2].snapshots().held.as_ref().map(|s| s.0), Some(meta));
//! assert_eq!(net.nodes[2].machine().0.concat(), net.nodes[0].machine().0.concat());
//! assert_eq!(net.nodes[2].state().first_index(), LogIndex(8));
//! assert_eq!(net.nodes[2].state().applied(), LogIndex(7));
//!
//! // Replication resumes after the snapshot: node 3 applies the next write as usual.
//! net.step(0, Input::Propose { data: b"set key7 = value7;" });
//! net.deliver();
//! net.heartbeat();
//! assert_eq!(net.nodes[2].machine().0.last().unwrap(), b"set key7 = value7;");
//! assert_eq!(net.nodes[2].machine().0.concat(), net.nodes[0].machine().0.concat());
//! ```
//!
//! # Limits, and what happens when each is hit
//!
//! Every bounded structure is named, and exhausting one never panics, never drops a committed
//! entry and never wedges the cluster:
//!
//! | limit | where | when hit |
//! |---|---|---|
//! | frame bytes | `Config::max_frame_bytes` | an AppendEntries carries fewer entries; a proposal that could not fit alone is answered `TooLarge` |
//! | messages in flight per follower | `Config::max_inflight_msgs` (at most `INFLIGHT`) | the leader waits for acknowledgements; a window that makes no progress for a heartbeat falls back to probing |
//! | bytes in flight per follower | `Config::max_inflight_bytes` | as above |
//! | uncommitted entries | `Config::max_uncommitted` | proposals get `Busy` (a new leader's empty entry is exempt) |
//! | log window | `LOG` entries of metadata | proposals get `Busy` once fewer than `LOG / 4` slots are free (kept for future leaders' empty entries); a follower accepts the prefix of an append that fits; `CaptureWanted` asks the driver for a capture so the window can slide |
//! | log store bytes | `Config::log_bytes` | as the log window |
//! | entries applied per step | `Config::max_apply` | the rest come out in later `Apply` outputs, on any step |
//! | outputs per step | [`outputs_needed`]`(PEERS)` | cannot be hit: a proven bound, checked at compile time |
//! | persists in flight | 4 (`Durability::Deferred`) | newer persists merge into the newest; nothing blocks |
//! | members (voters and learners) | `PEERS`, at most [`MAX_MEMBERS`] (8) | a membership change beyond it is `Refused(TooMany)`; a node outside a configuration that fills every position does not track the extra members (`Stats::members_untracked`; it never needs them) |
//! | membership changes in flight | one, and one voter per change | `Busy` until the pending change commits; `Refused(MoreThanOneVoter)` |
//! | snapshot chunk | `codec::max_chunk_bytes(max_frame_bytes, members)` | chunks are cut to it: the frame less 84 header bytes and the encoded membership (2 bytes and up to 5 per member) |
//!
//! Compaction needs the state machine to be captured (`Input::Captured`) and, without
//! snapshots, every voter to hold the entries (the leader's minimum match index, sent to
//! followers as `floor`); a voter that stays down keeps the window from sliding, and the
//! leader then answers `Busy` until it returns. With a snapshot to send
//! (`Input::SnapshotSaved`) the log compacts past such a voter, which later gets the snapshot.
//!
//! One bound remains: every leader appends an empty entry, so if more consecutive leaders than
//! the slots proposals keep free (`LOG / 4`, and their bytes) all fail to commit anything, the
//! window fills with uncommitted entries and the next leader cannot append its own; pick `LOG`
//! well above `max_uncommitted` for clusters that may see long runs of failed elections.
//!
//! # Memory
//!
//! For `State<3, 32, 4>` (3 voters, a 32-entry window, 4 appends in flight), printed by
//! `cargo test -p raftcore --test footprint -- --nocapture`:
//!
//! | what | bytes |
//! |---|---|
//! | `size_of::<State<3, 32, 4>>()` | 2,200 (of which the log window: 32 x 16) |
//! | `size_of::<Output>()` | 104 |
//! | `Outputs<12>` (= `outputs_needed(3)`) | 1,256 |
//! | copied by one by-value `step` (state in; state and outputs out) | 5,648 |
//! | the [`Engine`]'s output list beside the `State` | 2,296 by default (`Outputs<22>`, any cluster); 1,256 with `OUT = outputs_needed(3)` ([`Engine::with_outputs`]) |
//! | RAM per log entry | 16 bytes of metadata in `State`, plus in a `RingStore` 4 bytes of index and an 11-byte record header beside the payload |
//!
//! Hot loops (and the engine) use the in-place `State::step`, which copies nothing.
//!
//! A firmware may keep the window out of `State` ([`State::new_in`] with storage it lends, a
//! `static` array of [`LogSlot::EMPTY`] slots) and restart a node where it lies
//! ([`Engine::restart_in_place`] with [`State::restore_in_place`]), so that a reboot holds one
//! `State`-sized temporary rather than returning a second `State` through its stack. The
//! example firmware does both (`raft-embedded-example`: `State<3, 32, 2, Window>`, 1,552 bytes
//! on thumbv7em).
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

// Module dependency order (each uses only modules above it; `use crate::` lines never form a
// cycle):
//   types, error, fmt, rng, stats, quorum, membership
//   record (the entry record and a message's borrowed entries)
//   message (the wire types; nothing of the codec)
//   codec (frame: header and limits; fast: the hot heads; mod: encode and decode)
//   config, input, output, log
//   tracker (positions, votes, progress)   role_state (RoleState, Leading)
//   node (State's fields, Ctx, the primitives every role uses)
//   role/* (the protocol rules, as `impl State` blocks over node's types)
//   state (construction, step and dispatch, the read-only view)
//   engine
mod fmt;

pub mod codec;
mod config;
pub mod engine;
mod error;
mod feature;
mod input;
// Test-only bug injection (`inject` feature): hidden, and compiled to nothing without it.
#[cfg(feature = "inject")]
#[doc(hidden)]
pub mod inject;
#[cfg(not(feature = "inject"))]
mod inject;
mod log;
pub mod membership;
mod message;
mod node;
pub mod output;
mod quorum;
mod record;
mod rng;
mod role;
mod role_state;
mod state;
mod stats;
mod tracker;
mod types;

pub use config::{Config, Durability};
pub use engine::{Engine, EngineError};
pub use error::{ConfigError, StepError};
pub use feature::Feature;
pub use input::Input;
pub use log::store::{persist_entries, LogStore, RingStore, StoreError};
pub use log::window::{LogSlot, WindowStorage};
pub use membership::{
    MemberKind, Membership, MembershipRefusal, LEAVE_JOINT, MAX_MEMBERS, MEMBERSHIP_BYTES,
};
pub use message::{
    Append, AppendResponse, EntryCount, Message, ReadIndexRequest, ReadIndexResponse,
    SnapshotChunk, SnapshotMeta, SnapshotPoint, SnapshotResponse, VoteRequest, VoteResponse,
};
pub use output::{
    outputs_needed, NewEntries, NewEntriesFrom, Output, Outputs, Persist, Proposal, ReadResult,
};
pub use rng::Rng;
pub use state::{step, Restored, State};
pub use stats::Stats;
pub use tracker::ProgressState;
pub use types::{EntryKind, HardState, LogIndex, NodeId, Role, Term};
