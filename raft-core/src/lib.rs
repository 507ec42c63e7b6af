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
//! use raft_core::codec::{EntryRef, EntrySource};
//! use raft_core::engine::{Outgoing, StateMachine, Transport};
//! use raft_core::{Config, Engine, Input, LogIndex, NodeId, RingStore, Role, State, StoreError};
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
//! as an [`Output::Read`]: `ReadResult::Ready { upto, index }` lets the driver serve every read
//! with an id up to `upto` once its state machine has applied `index`; `Failed` means retry
//! (at `leader_hint` if known). A leader answers once a majority acknowledged a heartbeat
//! round sent *after* the read began (ReadIndex; reads arriving meanwhile share the next
//! round, and a new leader first commits an entry of its own term). A follower asks the
//! leader and answers with the leader's read index. With [`Config::lease_reads`] (and
//! CheckQuorum) a leader answers at once while its lease holds; its clock-drift assumption is
//! documented there.
//!
//! ```
//! # use raft_core::codec::{self, Header};
//! # use raft_core::output::ReadResult;
//! # use raft_core::{persist_entries, Config, Input, LogIndex, NodeId, Output, Outputs,
//! #                 RingStore, Role, State};
//! # const IDS: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];
//! # // A minimal driver: three nodes, their log stores, and frames in flight.
//! # struct Net<'a> {
//! #     nodes: [State<3, 16, 4>; 3],
//! #     stores: [RingStore<'a, 16>; 3],
//! #     wire: Vec<(usize, Vec<u8>)>,
//! #     outputs: [Vec<Output>; 3],
//! #     applied: [LogIndex; 3],
//! # }
//! # impl Net<'_> {
//! #     fn step(&mut self, k: usize, input: Input<'_>) {
//! #         let mut out: Outputs<12> = Outputs::new();
//! #         self.nodes[k].step(input, &mut out).unwrap();
//! #         for o in &out {
//! #             match o {
//! #                 Output::Persist(p) => persist_entries(&mut self.stores[k], p, &input).unwrap(),
//! #                 Output::Send { to, msg } => {
//! #                     let hdr = Header { cluster_id: 0, from: IDS[k], to: *to };
//! #                     let mut frame = [0u8; 256];
//! #                     let n = codec::encode(&hdr, msg, &self.stores[k], &mut frame).unwrap();
//! #                     self.wire.push(((to.0 - 1) as usize, frame[..n].to_vec()));
//! #                 }
//! #                 Output::Apply { last, .. } => self.applied[k] = *last,
//! #                 _ => {}
//! #             }
//! #             self.outputs[k].push(*o);
//! #         }
//! #     }
//! #     fn deliver(&mut self) {
//! #         while !self.wire.is_empty() {
//! #             let (to, frame) = self.wire.remove(0);
//! #             self.step(to, Input::Frame(&frame));
//! #         }
//! #     }
//! #     fn reads(&self, k: usize) -> Vec<ReadResult> {
//! #         self.outputs[k].iter().filter_map(|o| match o {
//! #             Output::Read(r) => Some(*r),
//! #             _ => None,
//! #         }).collect()
//! #     }
//! # }
//! # let mut bufs = [[0u8; 1024]; 3];
//! # let [b1, b2, b3] = &mut bufs;
//! # let mut net = Net {
//! #     nodes: core::array::from_fn(|k| {
//! #         let mut cfg = Config::new(IDS[k], 7 + k as u64);
//! #         cfg.max_frame_bytes = 256;
//! #         cfg.max_inflight_bytes = 1024;
//! #         cfg.log_bytes = RingStore::<16>::budget(1024, cfg.max_payload());
//! #         State::new(cfg, &IDS).unwrap()
//! #     }),
//! #     stores: [b1, b2, b3].map(|b| RingStore::new(b, LogIndex(0))),
//! #     wire: Vec::new(),
//! #     outputs: Default::default(),
//! #     applied: [LogIndex(0); 3],
//! # };
//! # while net.nodes[0].role() != Role::Leader {
//! #     net.step(0, Input::Tick);
//! #     net.deliver();
//! # }
//! // `net` performs each step's outputs and delivers frames (as the example above does).
//! // Node 1 (`nodes[0]`) leads and has committed a write.
//! net.step(0, Input::Propose { data: b"x=1" });
//! net.deliver();
//! let commit = net.nodes[0].commit();
//!
//! // A read on the leader is not answered at once: a heartbeat round goes out first.
//! net.step(0, Input::Read { id: 1 });
//! assert!(net.reads(0).is_empty());
//! // A majority acknowledged that round: serve read 1 once `commit` is applied (it is).
//! net.deliver();
//! assert_eq!(net.reads(0), [ReadResult::Ready { upto: 1, index: commit }]);
//! assert!(net.applied[0] >= commit);
//!
//! // A read on a follower goes through the leader and is served at the leader's index.
//! net.step(2, Input::Read { id: 1 });
//! net.deliver();
//! assert_eq!(net.reads(2), [ReadResult::Ready { upto: 1, index: commit }]);
//! ```
//!
//! # Leadership transfer
//!
//! [`Input::TransferLeader`]` { to }` on the leader hands leadership to the voter `to`: the
//! leader catches it up, then sends it TimeoutNow; `to` campaigns at once (no PreVote) with a
//! TransferVote that voters grant even inside the leader lease. Meanwhile the leader answers
//! proposals `Busy`, and it gives up after an election timeout. Requests naming itself, a
//! non-member, or sent to a follower are ignored. The driver sees the usual
//! `RoleChanged` outputs.
//!
//! ```
//! # use raft_core::codec::{self, Header};
//! # use raft_core::{persist_entries, Config, Input, LogIndex, NodeId, Output, Outputs,
//! #                 Proposal, RingStore, Role, State};
//! # const IDS: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];
//! # struct Net<'a> {
//! #     nodes: [State<3, 16, 4>; 3],
//! #     stores: [RingStore<'a, 16>; 3],
//! #     wire: Vec<(usize, Vec<u8>)>,
//! #     outputs: [Vec<Output>; 3],
//! # }
//! # impl Net<'_> {
//! #     fn step(&mut self, k: usize, input: Input<'_>) {
//! #         let mut out: Outputs<12> = Outputs::new();
//! #         self.nodes[k].step(input, &mut out).unwrap();
//! #         for o in &out {
//! #             match o {
//! #                 Output::Persist(p) => persist_entries(&mut self.stores[k], p, &input).unwrap(),
//! #                 Output::Send { to, msg } => {
//! #                     let hdr = Header { cluster_id: 0, from: IDS[k], to: *to };
//! #                     let mut frame = [0u8; 256];
//! #                     let n = codec::encode(&hdr, msg, &self.stores[k], &mut frame).unwrap();
//! #                     self.wire.push(((to.0 - 1) as usize, frame[..n].to_vec()));
//! #                 }
//! #                 _ => {}
//! #             }
//! #             self.outputs[k].push(*o);
//! #         }
//! #     }
//! #     fn deliver(&mut self) {
//! #         while !self.wire.is_empty() {
//! #             let (to, frame) = self.wire.remove(0);
//! #             self.step(to, Input::Frame(&frame));
//! #         }
//! #     }
//! #     fn propose(&mut self, k: usize, data: &[u8]) -> Proposal {
//! #         self.step(k, Input::Propose { data });
//! #         self.outputs[k].iter().rev().find_map(|o| match o {
//! #             Output::Proposal(p) => Some(*p),
//! #             _ => None,
//! #         }).unwrap()
//! #     }
//! # }
//! # let mut bufs = [[0u8; 1024]; 3];
//! # let [b1, b2, b3] = &mut bufs;
//! # let mut net = Net {
//! #     nodes: core::array::from_fn(|k| {
//! #         let mut cfg = Config::new(IDS[k], 7 + k as u64);
//! #         cfg.max_frame_bytes = 256;
//! #         cfg.max_inflight_bytes = 1024;
//! #         cfg.log_bytes = RingStore::<16>::budget(1024, cfg.max_payload());
//! #         State::new(cfg, &IDS).unwrap()
//! #     }),
//! #     stores: [b1, b2, b3].map(|b| RingStore::new(b, LogIndex(0))),
//! #     wire: Vec::new(),
//! #     outputs: Default::default(),
//! # };
//! # while net.nodes[0].role() != Role::Leader {
//! #     net.step(0, Input::Tick);
//! #     net.deliver();
//! # }
//! // Node 1 (`nodes[0]`) leads; node 2 holds its whole log.
//! net.step(0, Input::TransferLeader { to: NodeId(2) });
//! // Until node 2 takes over, node 1 refuses new entries.
//! assert_eq!(net.propose(0, b"x=1"), Proposal::Busy);
//!
//! // TimeoutNow reaches node 2, which wins the next term at once.
//! net.deliver();
//! assert_eq!(net.nodes[1].role(), Role::Leader);
//! assert_eq!(net.nodes[0].role(), Role::Follower);
//! assert_eq!(
//!     net.propose(0, b"x=1"),
//!     Proposal::NotLeader { leader_hint: Some(NodeId(2)) }
//! );
//! assert!(matches!(net.propose(1, b"x=1"), Proposal::Accepted { .. }));
//! ```
//!
//! # Membership change
//!
//! [`Input::ChangeMembership`]` { data }` on the leader changes the cluster to the whole new
//! configuration `data` ([`Membership::encode`]), one voter at a time: a node joins as a
//! learner, is promoted once it caught up, and any member (the leader too) can be removed.
//! The answer is an [`Output::Proposal`]; the change is done when `Apply` covers its index.
//! The driver stores the entry like any other (`persist_entries` does) and skips
//! [`EntryKind::Membership`] entries in its state machine, keeping the last one it applied
//! to name in the snapshots it saves ([`SnapshotMeta::members`]). Why one at a time and the
//! pitfalls handled: [`membership`].
//!
//! ```
//! # use raft_core::codec::{self, Header};
//! # use raft_core::{persist_entries, Config, Input, LogIndex, Membership, MembershipRefusal,
//! #                 NodeId, Output, Outputs, Proposal, RingStore, Role, State,
//! #                 MEMBERSHIP_BYTES};
//! # const IDS: [NodeId; 4] = [NodeId(1), NodeId(2), NodeId(3), NodeId(4)];
//! # struct Net<'a> {
//! #     nodes: [State<4, 16, 4>; 4],
//! #     stores: [RingStore<'a, 16>; 4],
//! #     wire: Vec<(usize, Vec<u8>)>,
//! #     answers: [Option<Proposal>; 4],
//! # }
//! # impl Net<'_> {
//! #     fn step(&mut self, k: usize, input: Input<'_>) {
//! #         let mut out: Outputs<14> = Outputs::new();
//! #         self.nodes[k].step(input, &mut out).unwrap();
//! #         for o in &out {
//! #             match o {
//! #                 Output::Persist(p) => persist_entries(&mut self.stores[k], p, &input).unwrap(),
//! #                 Output::Send { to, msg } => {
//! #                     let hdr = Header { cluster_id: 0, from: IDS[k], to: *to };
//! #                     let mut frame = [0u8; 256];
//! #                     let n = codec::encode(&hdr, msg, &self.stores[k], &mut frame).unwrap();
//! #                     self.wire.push(((to.0 - 1) as usize, frame[..n].to_vec()));
//! #                 }
//! #                 Output::Proposal(p) => self.answers[k] = Some(*p),
//! #                 _ => {}
//! #             }
//! #         }
//! #     }
//! #     fn deliver(&mut self) {
//! #         while !self.wire.is_empty() {
//! #             let (to, frame) = self.wire.remove(0);
//! #             self.step(to, Input::Frame(&frame));
//! #         }
//! #     }
//! #     fn heartbeat(&mut self) {
//! #         for _ in 0..3 {
//! #             self.step(0, Input::Tick);
//! #         }
//! #         self.deliver();
//! #     }
//! # }
//! # let mut bufs = [[0u8; 1024]; 4];
//! # let [b1, b2, b3, b4] = &mut bufs;
//! # let mut net = Net {
//! #     nodes: core::array::from_fn(|k| {
//! #         let mut cfg = Config::new(IDS[k], 7 + k as u64);
//! #         cfg.max_frame_bytes = 256;
//! #         cfg.max_inflight_bytes = 1024;
//! #         cfg.log_bytes = RingStore::<16>::budget(1024, cfg.max_payload());
//! #         // Nodes 1 to 3 are the initial voters; node 4 waits outside the cluster.
//! #         State::new(cfg, &IDS[..3]).unwrap()
//! #     }),
//! #     stores: [b1, b2, b3, b4].map(|b| RingStore::new(b, LogIndex(0))),
//! #     wire: Vec::new(),
//! #     answers: [None; 4],
//! # };
//! # while net.nodes[0].role() != Role::Leader {
//! #     net.step(0, Input::Tick);
//! #     net.deliver();
//! # }
//! // Node 1 (`nodes[0]`) leads nodes 1 to 3. Add node 4 as a learner.
//! let mut buf = [0u8; MEMBERSHIP_BYTES];
//! let current = *net.nodes[0].membership();
//! let next = current.with_learner(NodeId(4)).unwrap();
//! net.step(0, Input::ChangeMembership { data: next.encode(&mut buf) });
//! assert!(matches!(net.answers[0], Some(Proposal::Accepted { .. })));
//!
//! // Voters are added only by promoting a caught-up learner, one at a time.
//! let promoted = next.with_voter(NodeId(4)).unwrap();
//! net.step(0, Input::ChangeMembership { data: promoted.encode(&mut buf) });
//! // Node 4 has not caught up yet.
//! assert_eq!(net.answers[0], Some(Proposal::Refused(MembershipRefusal::NotCaughtUp)));
//! net.deliver();
//! net.heartbeat();
//! assert_eq!(net.nodes[3].membership(), &next); // node 4 learned the log and the change
//! net.step(0, Input::ChangeMembership { data: promoted.encode(&mut buf) });
//! assert!(matches!(net.answers[0], Some(Proposal::Accepted { .. })));
//! net.deliver();
//! assert_eq!(net.nodes[0].membership().voter_count(), 4);
//!
//! // Removing two voters at once is refused; removing the leader itself is fine: it leads
//! // until the change commits, then hands over and steps down.
//! let two = promoted.without(NodeId(2)).without(NodeId(3));
//! net.step(0, Input::ChangeMembership { data: two.encode(&mut buf) });
//! assert_eq!(
//!     net.answers[0],
//!     Some(Proposal::Refused(MembershipRefusal::MoreThanOneVoter))
//! );
//! let without_leader = promoted.without(NodeId(1));
//! net.step(0, Input::ChangeMembership { data: without_leader.encode(&mut buf) });
//! assert!(matches!(net.answers[0], Some(Proposal::Accepted { .. })));
//! net.deliver();
//! net.heartbeat();
//! assert_eq!(net.nodes[0].role(), Role::Follower);
//! let leaders = net.nodes.iter().filter(|n| n.role() == Role::Leader).count();
//! assert_eq!(leaders, 1);
//! assert_eq!(net.nodes[1].membership(), &without_leader);
//! ```
//!
//! # Snapshots
//!
//! A driver that captures its state machine into a durable snapshot file reports
//! [`Input::SnapshotSaved`]` { meta }` ([`SnapshotMeta`]: index, term, length, checksum); the
//! core may then compact the log past followers that lag ([`Output::Compact`]) and streams
//! those followers the snapshot instead. The leader's driver only serves the bytes the
//! chunk descriptors name, through [`codec::EntrySource::snapshot_chunk`]; every chunk fits
//! one frame and chunks stream under the in-flight window. A follower's driver writes each
//! [`Output::SnapshotChunk`] (the bytes come with the step's input, in order) and, on
//! [`Output::InstallSnapshot`], verifies, makes durable and loads the snapshot, resets its log
//! store to start after it, and reports [`Input::SnapshotInstalled`]` { meta, ok }`. Only then
//! does the core rebase the follower's log; `ok: false` restarts the transfer.
//!
//! ```
//! use raft_core::codec::{self, EntryRef, EntrySource, Header};
//! use raft_core::{persist_entries, Config, Input, LogIndex, LogStore, NodeId, Output, Outputs,
//!                 RingStore, Role, SnapshotMeta, State};
//!
//! const IDS: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];
//!
//! /// One node's storage: its log store, its state machine (here every applied command,
//! /// concatenated), its snapshot file and the snapshot it is receiving.
//! struct Disk<'a> {
//!     log: RingStore<'a, 16>,
//!     machine: Vec<u8>,
//!     applied: LogIndex,
//!     snapshot: Option<(SnapshotMeta, Vec<u8>)>,
//!     incoming: Vec<u8>,
//! }
//!
//! /// The encoder reads entries from the log store and snapshot chunks from the file.
//! impl EntrySource for Disk<'_> {
//!     fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
//!         self.log.entry(index)
//!     }
//!     fn snapshot_chunk(&self, meta: &SnapshotMeta, offset: u64, len: u32) -> Option<&[u8]> {
//!         let (m, bytes) = self.snapshot.as_ref()?;
//!         let at = offset as usize;
//!         if m == meta { bytes.get(at..at + len as usize) } else { None }
//!     }
//! }
//!
//! /// The driver's checksum (FNV-1a); the core only carries it.
//! fn checksum(bytes: &[u8]) -> u32 {
//!     bytes.iter().fold(0x811c_9dc5, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
//! }
//!
//! # struct Net<'a> {
//! #     nodes: [State<3, 16, 4>; 3],
//! #     disks: [Disk<'a>; 3],
//! #     wire: Vec<(usize, usize, Vec<u8>)>,
//! #     down: [bool; 3],
//! # }
//! impl Net<'_> {
//!     /// Steps node `k` and performs its outputs in order.
//!     fn step(&mut self, k: usize, input: Input<'_>) {
//!         let mut out: Outputs<12> = Outputs::new();
//!         self.nodes[k].step(input, &mut out).unwrap();
//!         let disk = &mut self.disks[k];
//!         let mut installed = None;
//!         for o in &out {
//!             match *o {
//!                 // The leader side: chunks are encoded from the snapshot file.
//!                 Output::Send { to, msg } => {
//!                     let hdr = Header { cluster_id: 0, from: IDS[k], to };
//!                     let mut frame = [0u8; 128];
//!                     let n = codec::encode(&hdr, &msg, &*disk, &mut frame).unwrap();
//!                     self.wire.push((k, (to.0 - 1) as usize, frame[..n].to_vec()));
//!                 }
//!                 // The follower side: write each chunk where it goes...
//!                 Output::SnapshotChunk { offset, len, .. } => {
//!                     let data = input.snapshot_data().unwrap();
//!                     if offset == 0 {
//!                         disk.incoming.clear(); // a new snapshot: drop any partial one
//!                     }
//!                     assert_eq!(offset, disk.incoming.len() as u64);
//!                     assert_eq!(data.len(), len as usize);
//!                     disk.incoming.extend_from_slice(data);
//!                 }
//!                 // ...then verify, keep and load the whole snapshot, and start the log
//!                 // store after it.
//!                 Output::InstallSnapshot { meta } => {
//!                     let bytes = core::mem::take(&mut disk.incoming);
//!                     let ok = bytes.len() as u64 == meta.len
//!                         && checksum(&bytes) == meta.checksum;
//!                     if ok {
//!                         disk.machine = bytes.clone();
//!                         disk.applied = meta.index;
//!                         disk.snapshot = Some((meta, bytes));
//!                         disk.log.compact_to(meta.index);
//!                     }
//!                     installed = Some(Input::SnapshotInstalled { meta, ok });
//!                 }
//!                 Output::Persist(p) => persist_entries(&mut disk.log, &p, &input).unwrap(),
//!                 Output::Apply { first, last } => {
//!                     for i in first.0..=last.0 {
//!                         let e = disk.log.entry(LogIndex(i)).unwrap();
//!                         disk.machine.extend_from_slice(e.data);
//!                     }
//!                     disk.applied = last;
//!                 }
//!                 Output::Compact { upto } => disk.log.compact_to(upto),
//!                 _ => {}
//!             }
//!         }
//!         if let Some(report) = installed {
//!             self.step(k, report);
//!         }
//!     }
//!
//!     /// Node `k` captures its state machine into its snapshot file and tells the core.
//!     fn save_snapshot(&mut self, k: usize) -> SnapshotMeta {
//!         let disk = &mut self.disks[k];
//!         let bytes = disk.machine.clone();
//!         let meta = SnapshotMeta {
//!             index: disk.applied,
//!             term: self.nodes[k].term_at(disk.applied).unwrap(),
//!             len: bytes.len() as u64,
//!             checksum: checksum(&bytes),
//!             // The membership as of `applied`. This example never changes it; a driver that
//!             // does tracks the last `Membership` entry it applied.
//!             members: *self.nodes[k].membership(),
//!         };
//!         disk.snapshot = Some((meta, bytes));
//!         self.step(k, Input::SnapshotSaved { meta });
//!         meta
//!     }
//! #
//! #     fn deliver(&mut self) {
//! #         while !self.wire.is_empty() {
//! #             let (from, to, frame) = self.wire.remove(0);
//! #             if !self.down[from] && !self.down[to] {
//! #                 self.step(to, Input::Frame(&frame));
//! #             }
//! #         }
//! #     }
//! #     fn heartbeat(&mut self) {
//! #         for _ in 0..3 {
//! #             self.step(0, Input::Tick);
//! #         }
//! #         self.deliver();
//! #     }
//! }
//! # let mut bufs = [[0u8; 1024]; 3];
//! # let [b1, b2, b3] = &mut bufs;
//! # let mut net = Net {
//! #     nodes: core::array::from_fn(|k| {
//! #         let mut cfg = Config::new(IDS[k], 7 + k as u64);
//! #         cfg.max_frame_bytes = 128; // chunks of at most 48 bytes
//! #         cfg.max_inflight_bytes = 512;
//! #         cfg.log_bytes = RingStore::<16>::budget(1024, cfg.max_payload());
//! #         State::new(cfg, &IDS).unwrap()
//! #     }),
//! #     disks: [b1, b2, b3].map(|b| Disk {
//! #         log: RingStore::new(b, LogIndex(0)),
//! #         machine: Vec::new(),
//! #         applied: LogIndex(0),
//! #         snapshot: None,
//! #         incoming: Vec::new(),
//! #     }),
//! #     wire: Vec::new(),
//! #     down: [false, false, true],
//! # };
//! # while net.nodes[0].role() != Role::Leader {
//! #     net.step(0, Input::Tick);
//! #     net.deliver();
//! # }
//! // Node 1 (`nodes[0]`) leads; node 3 is down. Six writes commit on nodes 1 and 2.
//! for k in 1..=6 {
//!     let cmd = format!("set key{k} = value{k};");
//!     net.step(0, Input::Propose { data: cmd.as_bytes() });
//!     net.deliver();
//! }
//! assert_eq!(net.disks[0].applied, LogIndex(7)); // the leader's empty entry, six writes
//!
//! // The leader captures its state machine: the log is compacted past node 3.
//! let meta = net.save_snapshot(0);
//! assert_eq!(net.nodes[0].first_index(), LogIndex(8));
//! assert_eq!(meta.len, 108); // three chunks of at most 48 bytes
//!
//! // Node 3 comes up with an empty log. The next heartbeat finds the entries it needs
//! // compacted, and the snapshot streams to it in chunks of one frame each.
//! net.down[2] = false;
//! net.heartbeat();
//! assert_eq!(net.disks[2].snapshot.as_ref().map(|s| s.0), Some(meta));
//! assert_eq!(net.disks[2].machine, net.disks[0].machine);
//! assert_eq!(net.nodes[2].first_index(), LogIndex(8));
//! assert_eq!(net.nodes[2].applied(), LogIndex(7));
//!
//! // Replication resumes after the snapshot: node 3 applies the next write as usual.
//! net.step(0, Input::Propose { data: b"set key7 = value7;" });
//! net.deliver();
//! net.heartbeat();
//! assert!(net.disks[2].machine.ends_with(b"set key7 = value7;"));
//! assert_eq!(net.disks[2].machine, net.disks[0].machine);
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
//! `cargo test -p raft-core --test footprint -- --nocapture`:
//!
//! | what | bytes |
//! |---|---|
//! | `size_of::<State<3, 32, 4>>()` | 2,192 (of which the log window: 32 x 16) |
//! | `size_of::<Output>()` | 104 |
//! | `Outputs<12>` (= `outputs_needed(3)`) | 1,256 |
//! | copied by one by-value `step` (state in; state and outputs out) | 5,648 |
//! | RAM per log entry | 16 bytes of metadata in `State`, plus in a `RingStore` 4 bytes of index and an 11-byte record header beside the payload |
//!
//! Hot loops use the in-place `State::step`, which copies nothing.
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
mod input;
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
pub use input::Input;
pub use log::store::{persist_entries, LogStore, RingStore, StoreError};
pub use log::window::{LogSlot, WindowStorage};
pub use membership::{MemberKind, Membership, MembershipRefusal, MAX_MEMBERS, MEMBERSHIP_BYTES};
pub use message::{
    Append, AppendResponse, EntryCount, Message, ReadIndexRequest, ReadIndexResponse,
    SnapshotChunk, SnapshotMeta, SnapshotResponse, VoteRequest, VoteResponse,
};
pub use output::{
    outputs_needed, NewEntries, NewEntriesFrom, Output, Outputs, Persist, Proposal, ReadResult,
};
pub use state::{step, Restored, State};
pub use stats::Stats;
pub use tracker::ProgressState;
pub use types::{EntryKind, HardState, LogIndex, NodeId, Role, Term};
