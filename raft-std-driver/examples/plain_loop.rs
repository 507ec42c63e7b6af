//! raft-core from a plain std loop: three nodes on 127.0.0.1, each a thread with a `UdpSocket`,
//! an in-memory `RingStore`, and nothing else. No driver type: `step` is all a host needs.
//!
//! Run: `cargo run -p raft-std-driver --example plain_loop`
//!
//! Each loop: wait for a datagram until the next 10 ms tick, step it in as `Input::Frame`, step
//! the tick when due, perform every output in order. Durability is `Inline` (the store is
//! memory, so every `Persist` is "durable" when performed); frames are not encrypted here (the
//! real driver seals them, see `raft_std_driver::node`).

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use raft_core::codec::{self, EntrySource};
use raft_core::{
    persist_entries, Config, EntryKind, Input, LogIndex, LogStore, NodeId, Output, Outputs,
    Proposal, RingStore, Role, State,
};

type Node = State<3, 256, 4>;
const IDS: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];
const TICK: Duration = Duration::from_millis(10);
const COMMANDS: [&str; 3] = ["set x = 1", "set y = 2", "set z = 3"];

/// Performs one step's outputs in order; returns the proposal answer, if any.
fn perform(
    me: NodeId,
    input: &Input<'_>,
    out: &Outputs<16>,
    store: &mut RingStore<'_, 256>,
    sock: &UdpSocket,
    addrs: &[SocketAddr; 3],
    applied: &mut Vec<String>,
) -> Option<Proposal> {
    let mut proposal = None;
    for o in out {
        match *o {
            // Memory store: appended = durable (Inline). A disk store would fsync here.
            Output::Persist(p) => persist_entries(store, &p, input).expect("store has room"),
            Output::Send { to, msg } => {
                let hdr = codec::Header {
                    cluster_id: 0,
                    from: me,
                    to,
                };
                let mut frame = [0u8; 1200];
                if let Ok(n) = codec::encode(&hdr, &msg, store, &mut frame) {
                    // UDP may drop anything; raft retries, so a send error is ignored too.
                    let _ = sock.send_to(&frame[..n], addrs[(to.0 - 1) as usize]);
                }
            }
            Output::Apply { first, last } => {
                for i in first.0..=last.0 {
                    let e = store
                        .entry(LogIndex(i))
                        .expect("committed entries are held");
                    if e.kind == EntryKind::Normal {
                        let cmd = String::from_utf8_lossy(e.data).into_owned();
                        println!("node {}: applied #{i}: {cmd}", me.0);
                        applied.push(cmd);
                    }
                }
            }
            Output::Proposal(p) => proposal = Some(p),
            Output::RoleChanged { role, term, leader } => {
                println!(
                    "node {}: {role} in term {} (leader {leader:?})",
                    me.0, term.0
                )
            }
            Output::Compact { upto } => store.compact_to(upto),
            // This example never snapshots: it stops long before the window fills.
            Output::CaptureWanted { .. } => {}
            // Answers to inputs this loop never gives (e.g. linearizable reads).
            #[allow(unreachable_patterns)] // Unreachable against a raft-core without them.
            _ => {}
        }
    }
    proposal
}

/// One node's whole event loop.
fn run(k: usize, sock: UdpSocket, addrs: [SocketAddr; 3], done: mpsc::Sender<Vec<String>>) {
    let me = IDS[k];
    let mut buf = vec![0u8; 64 * 1024];
    let mut cfg = Config::new(me, 7 + k as u64);
    cfg.log_bytes = RingStore::<256>::budget(buf.len(), cfg.max_payload());
    let mut store: RingStore<'_, 256> = RingStore::new(&mut buf, LogIndex(0));
    let mut node = Node::new(cfg, &IDS).expect("valid config");
    let mut out: Outputs<16> = Outputs::new();
    let mut applied = Vec::new();
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
        sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .expect("nonzero timeout");
        if let Ok((n, _from)) = sock.recv_from(&mut rx) {
            let input = Input::Frame(&rx[..n]);
            node.step(input, &mut out).expect("not halted");
            perform(me, &input, &out, &mut store, &sock, &addrs, &mut applied);
        }
        // 2. The tick, when due.
        if Instant::now() >= next_tick {
            next_tick += TICK;
            node.step(Input::Tick, &mut out).expect("not halted");
            perform(
                me,
                &Input::Tick,
                &out,
                &mut store,
                &sock,
                &addrs,
                &mut applied,
            );
        }
        // 3. The leader proposes the next command.
        if node.role() == Role::Leader && next_proposal < COMMANDS.len() {
            let input = Input::Propose {
                data: COMMANDS[next_proposal].as_bytes(),
            };
            node.step(input, &mut out).expect("not halted");
            let answer = perform(me, &input, &out, &mut store, &sock, &addrs, &mut applied);
            if let Some(Proposal::Accepted { index, .. }) = answer {
                println!(
                    "node {}: proposed #{}: {}",
                    me.0, index.0, COMMANDS[next_proposal]
                );
                next_proposal += 1;
            }
        }
        if applied.len() == COMMANDS.len() && !reported {
            reported = true;
            end = Instant::now() + Duration::from_millis(500);
        }
    }
    let _ = done.send(applied);
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
