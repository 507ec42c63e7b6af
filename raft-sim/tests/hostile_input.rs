//! No panic is reachable from a received message. Two halves:
//!
//! 1. A cluster whose nodes receive, besides their normal traffic, a hostile frame every other
//!    step for 100,000 steps (random bytes, truncated frames, frames from unknown nodes, of
//!    another cluster, misaddressed), with the five safety properties checked after every step.
//! 2. A single node fed 100,000 random inputs, including well-formed frames that claim to come
//!    from a member with arbitrary terms, indices and entries. A forged member message is
//!    outside Raft's fault model (the transport authenticates peers), so cluster-wide safety
//!    cannot be asked of it; the node must still never panic, never return a driver error,
//!    never overflow its outputs, keep its term monotonic, its commit within its log and its
//!    applied index within its commit, and put `Persist` first.

use raft_sim::{Action, Cluster, MemStore, SimConfig, SimRng};
use raftcore::codec::{self, EntryRef, Header};
use raftcore::{
    Append, AppendResponse, Config, EntryCount, EntryKind, Input, LogIndex, LogStore, Message,
    NodeId, Output, Outputs, State, Term, VoteRequest, VoteResponse,
};

#[test]
fn cluster_survives_100k_steps_of_hostile_frames_with_safety_checked() {
    let seed = 0x0405_711E;
    let mut c: Cluster<5, 16, 4> = Cluster::new(SimConfig::default(), seed).expect("config");
    let mut rng = SimRng::new(seed);
    let drops = |c: &Cluster<5, 16, 4>, k: usize| {
        c.nodes[k].state().map(|s| {
            let st = s.stats();
            st.dropped_malformed
                + st.dropped_unknown_peer
                + st.dropped_wrong_cluster
                + st.dropped_misaddressed
        })
    };
    let mut counted = 0;
    for step in 0..100_000usize {
        let a = if step % 2 == 0 {
            Action::Garbage(rng.in_range(0, 3) as u8, rng.next_u64())
        } else {
            c.random_action(&mut rng, true)
        };
        let before = match a {
            Action::Garbage(k, _) => drops(&c, k as usize),
            _ => None,
        };
        if let Err(e) = c.act(a) {
            panic!("seed {seed:#x} step {step} ({a:?}): {e}");
        }
        if let (Action::Garbage(k, _), Some(before)) = (a, before) {
            // Every hostile frame that reaches a live node is dropped and counted, once.
            assert_eq!(
                drops(&c, k as usize),
                Some(before + 1),
                "step {step}: {a:?} not counted"
            );
            counted += 1;
        }
    }
    assert!(
        counted > 20_000,
        "hostile frames reached live nodes: {counted}"
    );
    println!(
        "{counted} hostile frames counted, {} node steps checked",
        c.checker().steps
    );
    c.heal_and_settle(400).expect("the cluster recovers");
}

fn random_message(rng: &mut SimRng) -> Message<EntryCount> {
    let term = Term(u64::from(rng.in_range(0, 8)));
    let idx = |rng: &mut SimRng| LogIndex(u64::from(rng.in_range(0, 12)));
    match rng.in_range(0, 6) {
        0 => Message::PreVote(VoteRequest {
            term,
            last_index: idx(rng),
            last_term: Term(u64::from(rng.in_range(0, 8))),
        }),
        1 => Message::Vote(VoteRequest {
            term,
            last_index: idx(rng),
            last_term: Term(u64::from(rng.in_range(0, 8))),
        }),
        2 => Message::PreVoteResponse(VoteResponse {
            term,
            granted: rng.in_range(0, 2) == 0,
        }),
        3 => Message::VoteResponse(VoteResponse {
            term,
            granted: rng.in_range(0, 2) == 0,
        }),
        4 => Message::Append(Append {
            term,
            prev_index: idx(rng),
            prev_term: Term(u64::from(rng.in_range(0, 8))),
            commit: idx(rng),
            floor: idx(rng),
            round: rng.in_range(0, 5),
            entries: EntryCount(rng.in_range(0, 4)),
        }),
        _ => Message::AppendResponse(AppendResponse {
            term,
            success: rng.in_range(0, 2) == 0,
            index: idx(rng),
            hint_index: idx(rng),
            hint_term: Term(u64::from(rng.in_range(0, 8))),
            round: rng.in_range(0, 5),
            commit: idx(rng),
        }),
    }
}

#[test]
fn single_node_survives_100k_forged_and_random_inputs() {
    let seed = 0x00F0_46ED;
    let voters = [NodeId(1), NodeId(2), NodeId(3)];
    let mut cfg = Config::new(NodeId(1), seed);
    cfg.max_frame_bytes = 200;
    cfg.max_inflight_msgs = 2;
    cfg.max_inflight_bytes = 800;
    cfg.max_uncommitted = 4;
    let mut node: State<3, 8, 2> = State::new(cfg, &voters).expect("config");
    let mut rng = SimRng::new(seed);
    let mut out: Outputs<16> = Outputs::new();
    // Entries a forged Append carries: random terms and payloads.
    let mut src = MemStore::default();
    let mut buf = [0u8; 400];
    let mut last_term = Term(0);
    for step in 0..100_000u32 {
        let choice = rng.in_range(0, 10);
        let frame: Vec<u8>;
        let input = match choice {
            0..=1 => Input::Tick,
            2 => Input::Propose { data: b"cmd" },
            3 => Input::Persisted {
                seq: u64::from(rng.in_range(0, 3)),
            },
            4 => {
                frame = (0..rng.in_range(0, 40))
                    .map(|_| rng.next_u64() as u8)
                    .collect();
                Input::Frame(&frame)
            }
            _ => {
                let msg = random_message(&mut rng);
                if let Message::Append(a) = &msg {
                    src = MemStore::default();
                    let _ = src.append(
                        a.prev_index.next(),
                        EntryRef {
                            term: Term(0),
                            kind: EntryKind::Empty,
                            data: &[],
                        },
                    );
                    src.truncate_from(LogIndex(0));
                    for k in 0..u64::from(a.entries.0) {
                        let t = Term(u64::from(rng.in_range(0, 8)));
                        let e = EntryRef {
                            term: t,
                            kind: EntryKind::Normal,
                            data: b"forged",
                        };
                        let _ = src.append(a.prev_index.next().plus(k), e);
                    }
                }
                let hdr = Header {
                    cluster_id: 0,
                    from: NodeId(rng.in_range(1, 4)),
                    to: NodeId(1),
                };
                match codec::encode(&hdr, &msg, &src, &mut buf) {
                    Ok(n) => frame = buf[..n].to_vec(),
                    Err(_) => frame = Vec::new(),
                }
                Input::Frame(&frame)
            }
        };
        let r = node.step(input, &mut out);
        // Persisted with an unknown sequence number is the one documented driver error.
        if let Err(e) = r {
            assert!(
                matches!(input, Input::Persisted { .. }),
                "step {step}: {e} on {input:?}"
            );
        }
        assert_eq!(node.stats().output_overflow, 0, "step {step}");
        assert!(node.term() >= last_term, "step {step}: term went back");
        last_term = node.term();
        assert!(
            node.commit() <= node.last_index(),
            "step {step}: commit beyond log"
        );
        assert!(
            node.applied() <= node.commit(),
            "step {step}: applied beyond commit"
        );
        if let Some(k) = out.iter().position(|o| matches!(o, Output::Persist(_))) {
            assert_eq!(k, 0, "step {step}: Persist comes first");
        }
    }
    assert!(node.stats().dropped_malformed > 1000);
}
