//! Regression tests for bugs the fuzzers and the model checker found in the core (all fixed).

use raft_sim::{Cluster, SimConfig};
use raftcore::codec::{self, EntrySource, Header, WireEntries};
use raftcore::{
    outputs_needed, Append, Config, EntryCount, HardState, Input, LogIndex, Message, NodeId,
    Outputs, Role, State, Term, VoteRequest,
};

type Node = State<3, 8, 2>;

/// Found by the `single_node` fuzz target (the vote-stability check). A node that granted
/// its vote in term `u64::MAX` and then times out campaigns in `Term(u64::MAX).next()`, which
/// saturates to the same term, and overwrites its vote with its own: two votes in one term.
/// Only a forged or corrupted message can carry the node to `u64::MAX`, but the core should
/// refuse to campaign (or refuse such terms) rather than vote twice.
/// An AppendEntries frame from n2 to n1 in `term`: the first `count` entries of `source`
/// (after index 0) and the leader's `commit`; the frame and its length.
fn append_from_n2(
    term: Term,
    commit: LogIndex,
    count: u32,
    source: &impl EntrySource,
) -> ([u8; 256], usize) {
    let msg = Message::Append(Append {
        term,
        prev_index: LogIndex(0),
        prev_term: Term(0),
        commit,
        floor: LogIndex(0),
        round: 1,
        entries: EntryCount(count),
    });
    let hdr = Header {
        cluster_id: 0,
        from: NodeId(2),
        to: NodeId(1),
    };
    let mut frame = [0u8; 256];
    let n = codec::encode(&hdr, &msg, source, &mut frame).unwrap();
    (frame, n)
}

#[test]
fn a_node_never_votes_twice_in_one_term_even_at_the_largest_term() {
    let voters = [NodeId(1), NodeId(2), NodeId(3)];
    let mut cfg = Config::new(NodeId(2), 7);
    cfg.pre_vote = false;
    cfg.max_inflight_msgs = 2;
    let mut s = Node::new(cfg, &voters).unwrap();
    let mut out: Outputs<{ outputs_needed(3) }> = Outputs::new();
    let req = Message::<WireEntries<'_>>::Vote(VoteRequest {
        term: Term(u64::MAX),
        last_index: LogIndex(0),
        last_term: Term(0),
    });
    s.step(
        Input::Message {
            from: NodeId(1),
            msg: req,
        },
        &mut out,
    )
    .unwrap();
    let granted = HardState {
        term: Term(u64::MAX),
        vote: Some(NodeId(1)),
    };
    assert_eq!(s.hard_state(), granted);
    for _ in 0..4 * cfg.election_ticks {
        s.step(Input::Tick, &mut out).unwrap();
        if s.term() == Term(u64::MAX) {
            assert_eq!(s.hard_state(), granted, "role {:?}", s.role());
        }
    }
    assert_ne!(s.role(), Role::Leader);
}

/// Found by the `cluster` fuzz target (the liveness check after healing). When the log
/// store's byte budget (`Config::log_bytes`) fills before the entry window does, no
/// `CaptureWanted` is ever emitted (`maybe_compact` looks only at free window slots), so
/// nothing is captured, nothing is compacted, and followers reject every new entry
/// (`appends_truncated_full` climbs) forever: the cluster is wedged on a healthy network.
/// Expected: a full byte budget asks for a capture just as a full window does.
#[test]
fn a_full_byte_budget_asks_for_a_capture_and_never_wedges() {
    let sim = SimConfig {
        nodes: 3,
        max_frame_bytes: 128,
        max_inflight_msgs: 2,
        max_uncommitted: 4,
        max_apply: 1,
        // One maximum entry (37 bytes) and the empty entry, plus one 12-byte proposal:
        // three or four proposals fill it while the 8-slot window is half empty.
        log_bytes: 82,
        ..SimConfig::default()
    };
    let mut c: Cluster<5, 8, 2> = Cluster::new(sim, 1).unwrap();
    for write in 0..12 {
        if let Err(e) = c.heal_and_settle(100) {
            panic!("write {write}: {e}");
        }
    }
}

/// Found by the `single_node` fuzz target (restore after a crash). The core accepts an
/// AppendEntries whose entries' terms go down or exceed the message's term (no leader sends
/// one; only a forged or corrupted frame from a member can), appends them, and the driver
/// persists them. After a crash, `State::restore` refuses that durable log (`BadRestore`:
/// "terms that go down"), so the node can never restart. Expected: the core drops such an
/// append (counted in `Stats`) so its log always stays restorable.
#[test]
fn an_append_with_decreasing_entry_terms_never_makes_the_log_unrestorable() {
    use raftcore::codec::EntryRef;
    use raftcore::EntryKind;
    struct Two;
    impl EntrySource for Two {
        fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
            let term = Term(if index.0 == 1 { 2 } else { 1 });
            Some(EntryRef {
                term,
                kind: EntryKind::Normal,
                data: b"x",
            })
        }
    }
    let voters = [NodeId(1), NodeId(2), NodeId(3)];
    let mut cfg = Config::new(NodeId(1), 7);
    cfg.max_inflight_msgs = 2;
    let mut s = Node::new(cfg, &voters).unwrap();
    let (frame, n) = append_from_n2(Term(2), LogIndex(0), 2, &Two);
    let mut out: Outputs<{ outputs_needed(3) }> = Outputs::new();
    s.step(Input::Frame(&frame[..n]), &mut out).unwrap();
    let terms: Vec<_> = (1..=s.last_index().0)
        .map(|i| s.term_at(LogIndex(i)).unwrap().0)
        .collect();
    assert!(
        terms.windows(2).all(|w| w[0] <= w[1]),
        "log terms {terms:?}"
    );
}

/// Found by the `single_node` fuzz target (a driver error must change nothing). A step that
/// returns a driver error (`CaptureBeyondApplied`, `UnknownPersistSeq`) still runs the
/// end-of-step work, so with an `Apply` pending (commit ahead of applied by more than
/// `max_apply`) it advances `applied` and emits the `Apply`. The by-value `step` returns
/// only the error, so that `Apply` is lost: the state machine never sees the entry, and the
/// core never hands it out again. Expected (as `step` documents): a driver error leaves the
/// state unchanged apart from counters.
#[test]
fn a_driver_error_changes_nothing_and_loses_no_apply() {
    use raftcore::codec::EntryRef;
    use raftcore::{EntryKind, StepError};
    struct Three;
    impl EntrySource for Three {
        fn entry(&self, _index: LogIndex) -> Option<EntryRef<'_>> {
            Some(EntryRef {
                term: Term(1),
                kind: EntryKind::Normal,
                data: b"x",
            })
        }
    }
    let voters = [NodeId(1), NodeId(2), NodeId(3)];
    let mut cfg = Config::new(NodeId(1), 7);
    cfg.max_inflight_msgs = 2;
    cfg.max_apply = 1;
    let s = Node::new(cfg, &voters).unwrap();
    let (frame, n) = append_from_n2(Term(1), LogIndex(3), 3, &Three);
    let (s, r) = raftcore::step::<3, 8, 2, _, { outputs_needed(3) }>(s, Input::Frame(&frame[..n]));
    assert!(r.unwrap().contains(&raftcore::Output::Apply {
        first: LogIndex(1),
        last: LogIndex(1)
    }));
    assert_eq!((s.commit(), s.applied()), (LogIndex(3), LogIndex(1)));
    // A driver mistake: a capture beyond the applied index.
    let (s, r) = raftcore::step::<3, 8, 2, _, { outputs_needed(3) }>(
        s,
        Input::Captured { index: LogIndex(5) },
    );
    assert_eq!(r, Err(StepError::CaptureBeyondApplied));
    assert_eq!(
        s.applied(),
        LogIndex(1),
        "entry 2 was handed out in an Apply nobody received"
    );
}

/// Found by the `frame_roundtrip` fuzz target in its first second. `codec::decode` accepts
/// overlong postcard varints: `[1, 0, 0x81, 0x00, 0, 0, 5, 1, 1]` (version 1, cluster 0,
/// `from` = 1 written as `0x81 0x00`, to 0, a heartbeat response) decodes, and re-encodes to
/// 8 bytes, not 9. Several byte strings thus name one frame (malleable frames; harmless
/// under the AEAD, but a replay or dedup check over frame bytes would be fooled). Expected:
/// decoding rejects a non-canonical frame (`CodecError::Malformed`).
#[test]

fn decode_accepts_only_the_canonical_encoding() {
    let frame = [1u8, 0, 0x81, 0x00, 0, 0, 5, 1, 1];
    if let Ok((h, m)) = codec::decode(&frame) {
        let mut buf = [0u8; 64];
        let n = codec::encode_wire(&h, &m, &mut buf).unwrap();
        assert_eq!(&buf[..n], &frame[..], "decoded {h:?} {m:?}");
    }
}

/// Found by the `cluster` fuzz target (liveness after healing) with `log_bytes` 59, the
/// least `Config` allows (one 37-byte entry plus the empty entry). Leaders of term 2 left
/// three uncommitted entries (57 bytes) on every node. The leader of term 6 must append its
/// empty entry before anything can commit (entries of earlier terms commit only under one of
/// the current term), but the byte budget has no 11 bytes left; nothing is committed, so
/// nothing is captured or compacted, and the cluster is wedged forever on a healed network:
/// "n2: leader t6 log=i1..=i3 (last term t2) commit=i0". A proposal reserves a window slot
/// for a future leader's empty entry (`has_room(len, 1)`) but not its bytes. Expected: a
/// proposal also keeps `ENTRY_OVERHEAD` bytes free, so a new leader can always append and
/// commit its empty entry (DESIGN.md: "a new leader can always append and commit its empty
/// entry").
#[test]

fn a_new_leader_always_has_bytes_for_its_empty_entry() {
    use raft_sim::fuzz::ClusterCase;
    use raft_sim::{Action::*, SimConfig};
    use raftcore::Durability;
    #[rustfmt::skip] // One schedule, read left to right.
    let actions = vec![
        Tick(4), Tick(7), Tick(7), Tick(7), Tick(3), Fsync(0), Tick(0), Tick(6), Tick(6),
        Tick(0), Tick(3), Tick(4), Tick(7), Tick(7), Tick(7), Tick(3), Fsync(0), Tick(0),
        Tick(6), Tick(6), Tick(1), Tick(4), Deliver(20), Capture(6), Tick(4), Deliver(20),
        Capture(6), Deliver(83), Tick(6), Deliver(55), Propose(5), Propose(0), Deliver(83),
        Deliver(169), Propose(3), Propose(1), Propose(1), Capture(6), Deliver(1), Tick(5),
        Tick(5), Propose(4), Tick(5), Tick(4), Tick(7), Tick(7), Deliver(55), Capture(6),
        Tick(5), Tick(5), Capture(6),
    ];
    let case = ClusterCase {
        sim: SimConfig {
            initial_voters: 0,
            nodes: 3,
            durability: Durability::Inline,
            max_frame_bytes: 128,
            max_inflight_msgs: 2,
            max_uncommitted: 3,
            max_apply: 1,
            log_bytes: 70,
            pre_vote: false,
            check_quorum: true,
            election_ticks: 3,
            heartbeat_ticks: 2,
            large_proposals: false,
            lease_reads: false,
            wide_changes: false,
            joint_changes: false,
            leader_cuts: false,
        },
        seed: 2988,
        actions,
    };
    if let Err(e) = case.run() {
        panic!("{e}");
    }
}
