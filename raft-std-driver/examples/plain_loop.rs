//! raft-core from a plain std loop: three nodes on 127.0.0.1, each a thread with a `UdpSocket`,
//! an in-memory `RingStore`, and nothing else. No driver type: a `raftcore::Engine` over three
//! small seams (the store, a UDP transport, a state machine) is all a host needs.
//!
//! Run: `cargo run -p raft-std-driver --example plain_loop`
//!
//! Each loop: wait for a datagram until the next 10 ms tick, step it in as `Input::Frame`, step
//! the tick when due; the engine performs every output in order. Durability is `Inline` (the
//! store is memory, so every `Persist` is "durable" when performed); frames are not encrypted
//! here (the real driver seals them, see `raft_std_driver::node`).

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use raftcore::codec::{EntryRef, EntrySource};
use raftcore::engine::{Events, Outgoing, StateMachine, Transport};
use raftcore::{
    Config, Engine, EntryKind, Input, LogIndex, NodeId, Proposal, RingStore, Role, State,
    StoreError, Term,
};

type Node = State<3, 256, 4>;
const IDS: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];
const TICK: Duration = Duration::from_millis(10);
const COMMANDS: [&str; 3] = ["set x = 1", "set y = 2", "set z = 3"];

/// The transport: one UDP socket, the peers' addresses by id.
struct Udp {
    sock: UdpSocket,
    addrs: [SocketAddr; 3],
}

impl Transport for Udp {
    // The seams share the store's error type; nothing here fails the node.
    type Error = StoreError;

    fn send<L: EntrySource + ?Sized>(&mut self, msg: Outgoing<'_, L>) -> Result<(), StoreError> {
        let mut frame = [0u8; 1200];
        if let Ok(n) = msg.encode(&mut frame) {
            // UDP may drop anything; raft retries, so a send error is ignored too.
            let _ = self
                .sock
                .send_to(&frame[..n], self.addrs[(msg.to().0 - 1) as usize]);
        }
        Ok(())
    }
}

/// The state machine: the commands applied, in order.
struct Applied {
    me: NodeId,
    commands: Vec<String>,
}

impl StateMachine for Applied {
    type Error = StoreError;

    fn apply(&mut self, index: LogIndex, e: EntryRef<'_>) -> Result<(), StoreError> {
        if e.kind == EntryKind::Normal {
            let cmd = String::from_utf8_lossy(e.data).into_owned();
            println!("node {}: applied #{}: {cmd}", self.me.0, index.0);
            self.commands.push(cmd);
        }
        Ok(())
    }
}

/// What the loop sees of a step: the answer to its proposal, and role changes (printed).
struct Seen {
    me: NodeId,
    proposal: Option<Proposal>,
}

impl Events for Seen {
    fn proposal(&mut self, p: Proposal) {
        self.proposal = Some(p);
    }

    fn role_changed(&mut self, role: Role, term: Term, leader: Option<NodeId>) {
        println!(
            "node {}: {role} in term {} (leader {leader:?})",
            self.me.0, term.0
        );
    }
}

/// One node's whole event loop.
fn run(k: usize, sock: UdpSocket, addrs: [SocketAddr; 3], done: mpsc::Sender<Vec<String>>) {
    let me = IDS[k];
    let mut buf = vec![0u8; 64 * 1024];
    let mut cfg = Config::new(me, 7 + k as u64);
    cfg.log_bytes = RingStore::<256>::budget(buf.len(), cfg.max_payload());
    let store: RingStore<'_, 256> = RingStore::new(&mut buf, LogIndex(0));
    let state = Node::new(cfg, &IDS).expect("valid config");
    let machine = Applied {
        me,
        commands: Vec::new(),
    };
    // This example never snapshots (`Engine::new` takes none): it stops long before the log
    // window fills.
    let mut node = Engine::new(state, store, Udp { sock, addrs }, machine);
    let mut seen = Seen { me, proposal: None };
    let mut next_proposal = 0;
    let mut next_tick = Instant::now() + TICK;
    let mut rx = [0u8; 2048];
    // Run until this node applied every command, then linger a little so that the others can
    // finish too (or give up after 20 s).
    let mut end = Instant::now() + Duration::from_secs(20);
    let mut reported = false;
    while Instant::now() < end {
        // 1. A datagram, or the tick's deadline.
        let wait = next_tick.saturating_duration_since(Instant::now());
        let sock = &node.transport().sock;
        sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .expect("nonzero timeout");
        if let Ok((n, _from)) = sock.recv_from(&mut rx) {
            node.step(Input::Frame(&rx[..n]), &mut seen)
                .expect("memory store and UDP never fail");
        }
        // 2. The tick, when due.
        if Instant::now() >= next_tick {
            next_tick += TICK;
            node.step(Input::Tick, &mut seen).expect("not halted");
        }
        // 3. The leader proposes the next command.
        if node.state().role() == Role::Leader && next_proposal < COMMANDS.len() {
            let data = COMMANDS[next_proposal].as_bytes();
            seen.proposal = None;
            node.step(Input::Propose { data }, &mut seen)
                .expect("not halted");
            if let Some(Proposal::Accepted { index, .. }) = seen.proposal {
                println!(
                    "node {}: proposed #{}: {}",
                    me.0, index.0, COMMANDS[next_proposal]
                );
                next_proposal += 1;
            }
        }
        if node.machine().commands.len() == COMMANDS.len() && !reported {
            reported = true;
            end = Instant::now() + Duration::from_millis(500);
        }
    }
    let (_, _, _, _, machine) = node.into_parts();
    let _ = done.send(machine.commands);
}

fn main() {
    let socks: Vec<UdpSocket> = (0..3)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let addrs: [SocketAddr; 3] =
        std::array::from_fn(|k| socks[k].local_addr().expect("bound socket"));
    let (tx, rx) = mpsc::channel();
    let threads: Vec<_> = socks
        .into_iter()
        .enumerate()
        .map(|(k, sock)| {
            let tx = tx.clone();
            std::thread::spawn(move || run(k, sock, addrs, tx))
        })
        .collect();
    let results: Vec<Vec<String>> = (0..3).filter_map(|_| rx.recv().ok()).collect();
    for t in threads {
        t.join().expect("node thread");
    }
    let ok = results.len() == 3 && results.iter().all(|r| r == &COMMANDS);
    println!(
        "{}",
        if ok {
            "all three nodes applied the same commands"
        } else {
            "FAILED"
        }
    );
    std::process::exit(if ok { 0 } else { 1 });
}
