//! Client proposals and flow control: the answers a proposal gets (`Accepted`, `NotLeader`,
//! `Busy`, `TooLarge`), batching bounded by `max_frame_bytes`, the per-follower in-flight
//! window (messages and bytes), and the cap on what one step applies.

use crate::common::*;
use raftcore::{codec, ConfigError, Input, NewEntries, NewEntriesFrom, Proposal, Role, State};

fn accepted(p: Proposal) -> bool {
    matches!(p, Proposal::Accepted { .. })
}

#[test]
fn follower_answers_a_proposal_with_not_leader_and_the_leader_it_knows() {
    let mut c = Cluster::new(3);
    assert_eq!(
        c.propose(2, b"x"),
        Proposal::NotLeader { leader_hint: None }
    );
    c.tick_until_campaign(3);
    assert_eq!(
        c.propose(3, b"x"),
        Proposal::NotLeader { leader_hint: None }
    );
    c.drain();
    c.elect(1);
    c.heartbeat(1);
    let out = c.step(2, Input::Propose { data: b"x" });
    assert_eq!(
        proposal(&out),
        Some(Proposal::NotLeader {
            leader_hint: Some(n(1))
        })
    );
    assert!(
        persists(&out).is_empty() && sends(&out).is_empty(),
        "{out:?}"
    );
    assert_eq!(c.node(2).log_terms(), vec![1]);
}

#[test]
fn leader_answers_accepted_with_the_index_and_term_of_the_new_entry() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.deliver_all();
    let out = c.step(1, Input::Propose { data: b"hello" });
    assert_eq!(
        proposal(&out),
        Some(Proposal::Accepted {
            index: i(2),
            term: t(1)
        })
    );
    let p = persists(&out);
    assert_eq!(
        p[0].entries,
        Some(NewEntries {
            first: i(2),
            count: 1,
            from: NewEntriesFrom::Proposal { term: t(1) }
        })
    );
    c.deliver_all();
    c.heartbeat(1);
    for id in c.ids() {
        assert_eq!(c.node(id).applied_data(), vec![b"hello".to_vec()], "n{id}");
    }
}

#[test]
fn proposal_too_large_for_one_frame_is_answered_too_large() {
    let mut c = Cluster::with_config(3, |cfg| cfg.max_frame_bytes = 200);
    let max = c.node(1).cfg.max_payload() as usize;
    assert_eq!(max, 200 - 80 - 11);
    c.elect(1);
    let out = c.step(
        1,
        Input::Propose {
            data: &vec![7; max + 1],
        },
    );
    assert_eq!(proposal(&out), Some(Proposal::TooLarge));
    assert!(persists(&out).is_empty(), "{out:?}");
    // The largest payload that fits is accepted and travels in one frame (the harness
    // checks every frame against max_frame_bytes).
    assert!(accepted(c.propose(1, &vec![7; max])));
    c.deliver_all();
    c.heartbeat(1);
    assert_eq!(c.node(3).applied_data(), vec![vec![7; max]]);
}

/// The largest payload is what fits alone in a frame (the frame less the worst-case message
/// header and the entry record's overhead), and never more than an entry record's 16-bit
/// length field carries, whatever frame size is asked about.
#[test]
fn max_payload_fits_one_frame_and_never_exceeds_a_records_length_field() {
    let overhead = codec::MAX_HEADER_BYTES + codec::ENTRY_OVERHEAD;
    for frame in [0, overhead, overhead + 1, 1200, codec::MAX_FRAME_BYTES] {
        let expected = frame.saturating_sub(overhead);
        assert_eq!(codec::max_payload(frame), expected, "frame {frame}");
    }
    // A frame larger than the codec accepts: the record's length field is the bound.
    let record = u32::from(u16::MAX);
    for frame in [record + overhead, record + overhead + 1, u32::MAX] {
        assert_eq!(codec::max_payload(frame), record, "frame {frame}");
    }
}

#[test]
fn leader_answers_busy_at_max_uncommitted_and_accepts_again_once_entries_commit() {
    let mut c = Cluster::with_config(3, |cfg| cfg.max_uncommitted = 2);
    c.elect(1);
    c.heartbeat(1);
    c.isolate(1);
    assert!(accepted(c.propose(1, b"a")));
    assert!(accepted(c.propose(1, b"b")));
    assert_eq!(c.propose(1, b"c"), Proposal::Busy);
    assert_eq!(c.raft(1).stats().proposals_busy, 1);
    assert_eq!(
        c.raft(1).last_index(),
        i(3),
        "a Busy proposal is not appended"
    );
    c.heal();
    for _ in 0..3 {
        c.heartbeat(1);
    }
    assert_eq!(c.commit(1), 3);
    assert!(accepted(c.propose(1, b"c")));
}

/// `max_frame_bytes` may be anything up to the largest frame the codec accepts (a UDP
/// datagram's payload), that limit included; one byte more is refused.
#[test]
fn max_frame_bytes_may_be_the_codecs_largest_frame_but_not_more() {
    let voters = [n(1), n(2), n(3)];
    let mut cfg = paper_config(1);
    cfg.max_inflight_bytes = u32::MAX;
    cfg.max_frame_bytes = codec::MAX_FRAME_BYTES;
    assert!(Raft::new(cfg, &voters).is_ok());
    cfg.max_frame_bytes = codec::MAX_FRAME_BYTES + 1;
    assert_eq!(
        Raft::new(cfg, &voters).map(|_| ()),
        Err(ConfigError::FrameTooLarge)
    );
}

/// `log_bytes` must hold one entry of the largest payload plus the empty entries proposals
/// keep room for: a quarter of the log window, at least one. A node is built with exactly
/// that and refused one byte below it.
#[test]
fn log_bytes_must_hold_a_largest_entry_and_empty_entries_for_a_quarter_of_the_window() {
    let mut cfg = paper_config(1);
    cfg.max_frame_bytes = 200;
    let overhead = codec::ENTRY_OVERHEAD;
    let largest = cfg.max_payload() + overhead;
    // (window, empty entries kept free)
    for (window, reserve) in [(1, 1), (3, 1), (4, 1), (7, 1), (8, 2), (64, 16), (100, 25)] {
        assert_eq!(
            cfg.min_log_bytes(window),
            largest + reserve * overhead,
            "window {window}"
        );
    }
    // The harness's window of 64 entries keeps 16 free.
    let voters = [n(1), n(2), n(3)];
    let min = largest + 16 * overhead;
    cfg.log_bytes = min;
    assert!(Raft::new(cfg, &voters).is_ok(), "log_bytes {min}");
    cfg.log_bytes = min - 1;
    assert_eq!(
        Raft::new(cfg, &voters).map(|_| ()),
        Err(ConfigError::LogBytesTooSmall)
    );
}

/// The smallest log window a node is built with is four entries; three is refused.
#[test]
fn a_log_window_of_four_entries_is_the_smallest_accepted() {
    let voters = [n(1), n(2), n(3)];
    let cfg = paper_config(1);
    assert!(State::<PEERS, 4, INFLIGHT>::new(cfg, &voters).is_ok());
    assert_eq!(
        State::<PEERS, 3, INFLIGHT>::new(cfg, &voters).map(|_| ()),
        Err(ConfigError::LogWindowTooSmall)
    );
}

#[test]
fn leader_answers_busy_when_the_log_store_budget_is_full_until_compaction_frees_it() {
    let mut c = Cluster::with_config(3, |cfg| {
        cfg.max_frame_bytes = 200;
        // Two 111-byte records after the empty entry, plus the 16 empty entries (176 bytes)
        // proposals keep room for in a 64-entry window.
        cfg.log_bytes = 409;
    });
    c.elect(1);
    c.heartbeat(1);
    // Empty entry (11 bytes) + 100-byte payloads (111 bytes each).
    assert!(accepted(c.propose(1, &[1; 100])));
    assert!(accepted(c.propose(1, &[2; 100])));
    assert_eq!(c.propose(1, &[3; 100]), Proposal::Busy);
    c.deliver_all();
    c.heartbeat(1);
    assert_eq!(c.commit(1), 3);
    assert_eq!(
        c.propose(1, &[3; 100]),
        Proposal::Busy,
        "committed entries still take room"
    );
    // The state machine captures what it applied: the log may be compacted, room returns.
    let out = c.step(1, Input::Captured { index: i(3) });
    assert!(
        out.iter()
            .any(|o| matches!(o, raftcore::Output::Compact { upto } if *upto == i(3))),
        "{out:?}"
    );
    assert!(accepted(c.propose(1, &[3; 100])));
}

/// A new leader appends its empty entry only within its log store's byte budget: with no
/// room, it leads without it (and so commits nothing) until compaction makes some.
#[test]
fn a_new_leader_appends_its_empty_entry_only_within_its_log_store_budget() {
    let mut c = Cluster::with_config(3, |cfg| {
        cfg.max_frame_bytes = 200;
        cfg.log_bytes = 300;
    });
    // n2 holds 111 + 111 + 71 = 293 bytes from a leader n1 of term 1: 7 left, an empty
    // entry takes 11.
    let ents = Ents::new(&[(1, &[1; 100]), (1, &[2; 100]), (1, &[3; 60])]);
    c.recv(2, 1, append(1, 0, 0, 0, &ents));
    assert_eq!(c.raft(2).last_index(), i(3));
    // n3 got the same entries and heard that they are committed; n2 did not.
    c.recv(3, 1, append(1, 0, 0, 3, &ents));
    assert_eq!(c.commit(3), 3);
    c.crash(1);
    c.elect(2);
    assert_eq!((c.role(2), c.term(2)), (Role::Leader, 2));
    assert_eq!(c.raft(2).last_index(), i(3));
    assert_eq!(c.raft(2).last_term(), raftcore::Term(1));
    // Without an entry of its term it cannot count a commit, but it adopts the commit index
    // n3 reports (those entries are committed, and it holds them: Leader Completeness).
    c.heartbeat(2);
    assert_eq!(c.commit(2), 3);
}

/// The state machine is asked for a capture (`CaptureWanted`) only once the log is filling
/// (here: a quarter of the 64-entry window left free), not on every apply before that, and
/// once per applied index, not again on every step until it answers.
#[test]
fn the_state_machine_is_asked_for_a_capture_only_once_the_log_is_filling() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.heartbeat(1);
    let wanted = |out: &[raftcore::Output]| {
        out.iter().find_map(|o| match o {
            raftcore::Output::CaptureWanted { upto } => Some(*upto),
            _ => None,
        })
    };
    // The leader's window usage and the index named, at each of its steps that asked.
    let mut asked = Vec::new();
    for k in 0..100u8 {
        let out = c.step(1, Input::Propose { data: &[k] });
        if let Some(upto) = wanted(&out) {
            asked.push((c.raft(1).window_usage().0, upto));
        }
        if !out
            .iter()
            .any(|o| matches!(o, raftcore::Output::Proposal(p) if accepted(*p)))
        {
            break;
        }
        while let Some(env) = c.wire.pop_front() {
            if let (Some(upto), true) = (wanted(&c.deliver(&env)), env.to == n(1)) {
                asked.push((c.raft(1).window_usage().0, upto));
            }
        }
    }
    assert!(!asked.is_empty(), "never asked");
    assert!(
        asked.iter().all(|&(used, _)| used >= LOG - LOG / 4),
        "{asked:?}"
    );
    assert!(asked.windows(2).all(|w| w[0].1 < w[1].1), "{asked:?}");
    // Nothing new applied: not asked again.
    for _ in 0..5 {
        let out = c.step(1, Input::Tick);
        assert_eq!(wanted(&out), None, "{out:?}");
    }
}

/// A leader takes proposals while more than a quarter of its log window (16 of the harness's
/// 64 entries) is free and answers Busy from there, with bytes to spare: those slots stay for
/// the empty entries of later leaders, which append one each although the window holds no
/// more proposals.
#[test]
fn leader_answers_busy_once_only_a_quarter_of_its_log_window_is_free() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.heartbeat(1);
    let mut k = 0u8;
    while accepted(c.propose(1, &[k])) {
        c.deliver_all();
        k += 1;
        assert!(k < 100, "never busy");
    }
    let last = (LOG - LOG / 4) as u64;
    assert_eq!(c.raft(1).last_index(), i(last));
    assert_eq!(c.raft(1).window_usage(), (LOG - LOG / 4, LOG));
    assert_eq!(c.propose(1, &[k]), Proposal::Busy);
    c.heartbeat(1);
    assert_eq!(c.commit(2), last);
    c.crash(1);
    c.elect(2);
    assert_eq!(c.raft(2).last_index(), i(last + 1));
    assert_eq!(c.propose(2, b"x"), Proposal::Busy);
}

#[test]
fn leader_batches_entries_into_appends_bounded_by_max_frame_bytes() {
    // Room for exactly three 40-byte entries (51-byte records) after the worst-case header.
    let frame = raftcore::codec::MAX_HEADER_BYTES + 3 * 51;
    let mut c = Cluster::with_config(3, |cfg| cfg.max_frame_bytes = frame);
    c.crash(3);
    c.elect(1);
    for k in 0..9u8 {
        assert!(accepted(c.propose(1, &[k; 40])));
        c.deliver_all();
    }
    assert_eq!(c.commit(1), 10);
    c.restart(3);
    c.ticks(1, c.node(1).cfg.heartbeat_ticks);
    let mut batches = Vec::new();
    while let Some(env) = c.wire.pop_front() {
        if let raftcore::Message::Append(a) = env.msg {
            if env.to == n(3) && a.entries.0 > 0 {
                batches.push((a.prev_index.0, a.entries.0));
                assert!(env.frame.len() <= frame as usize);
            }
        }
        c.deliver(&env);
    }
    // The empty entry (11 bytes) and two commands; then three commands per frame.
    assert_eq!(batches, vec![(0, 3), (3, 3), (6, 3), (9, 1)]);
    assert_eq!(c.node(3).log_terms(), vec![1; 10]);
}

#[test]
fn leader_pipelines_at_most_max_inflight_msgs_appends_to_a_follower() {
    // Frames of one 1-byte entry (a 12-byte record): every proposal fills a frame, so each
    // goes out at once until the window is full.
    let mut c = Cluster::with_config(3, |cfg| {
        cfg.max_inflight_msgs = 3;
        cfg.max_frame_bytes = 92;
        cfg.max_inflight_bytes = 1000;
    });
    c.elect(1);
    c.heartbeat(1);
    for k in 0..5u8 {
        assert!(accepted(c.propose(1, &[k])));
    }
    let to2 = c.take(|e| e.to == n(2));
    let prevs: Vec<u64> = to2
        .iter()
        .map(|e| match e.msg {
            raftcore::Message::Append(a) => {
                assert_eq!(a.entries.0, 1);
                a.prev_index.0
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        prevs,
        vec![1, 2, 3],
        "three in flight, then the leader waits"
    );
    // One acknowledgement frees one slot: the next frame goes out.
    c.deliver(&to2[0]);
    let ack = c.take(|e| e.from == n(2));
    let out = c.deliver(&ack[0]);
    let a = appends(&out);
    let to_n2: Vec<_> = a.iter().filter(|x| x.0 == n(2)).collect();
    assert_eq!(to_n2.len(), 1, "{out:?}");
    assert_eq!((to_n2[0].1.prev_index, to_n2[0].1.entries.0), (i(4), 1));
}

#[test]
fn proposals_arriving_while_a_message_is_in_flight_batch_into_the_next_append() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.heartbeat(1);
    // The first proposal goes out at once; the next four wait for its acknowledgement
    // (less than a frame of them), then travel together.
    for k in 0..5u8 {
        assert!(accepted(c.propose(1, &[k])));
    }
    let to2 = c.take(|e| e.to == n(2) && e.is_append());
    assert_eq!(to2.len(), 1);
    c.deliver(&to2[0]);
    let ack = c.take(|e| e.from == n(2));
    let out = c.deliver(&ack[0]);
    let a = appends(&out);
    let to_n2: Vec<_> = a.iter().filter(|x| x.0 == n(2)).collect();
    assert_eq!(
        (to_n2[0].1.prev_index, to_n2[0].1.entries.0),
        (i(2), 4),
        "{out:?}"
    );
}

#[test]
fn leader_stops_sending_when_max_inflight_bytes_are_in_flight() {
    // 100-byte payloads are 111-byte records; 191 bytes in flight allow two messages.
    let mut c = Cluster::with_config(3, |cfg| {
        cfg.max_frame_bytes = 191;
        cfg.max_inflight_bytes = 191;
    });
    c.elect(1);
    c.heartbeat(1);
    for k in 0..4u8 {
        assert!(accepted(c.propose(1, &[k; 100])));
    }
    let to2 = c.take(|e| e.to == n(2) && e.is_append());
    assert_eq!(
        to2.len(),
        2,
        "{:?}",
        to2.iter().map(|e| e.msg).collect::<Vec<_>>()
    );
    // Everything still arrives once the window drains.
    for e in &to2 {
        c.deliver(e);
    }
    c.deliver_all();
    c.heartbeat(1);
    assert_eq!(c.node(2).log_terms(), vec![1; 5]);
    assert_eq!(c.commit(2), 5);
}

#[test]
fn leader_stops_sending_when_exactly_max_inflight_bytes_are_in_flight() {
    // 100-byte payloads are 111-byte records; two fill a window of 222 bytes exactly.
    let mut c = Cluster::with_config(3, |cfg| {
        cfg.max_frame_bytes = 200;
        cfg.max_inflight_bytes = 222;
    });
    c.elect(1);
    c.heartbeat(1);
    for k in 0..4u8 {
        assert!(accepted(c.propose(1, &[k; 100])));
    }
    let to2 = c.take(|e| e.to == n(2) && e.is_append());
    let counts: Vec<u32> = to2
        .iter()
        .map(|e| match e.msg {
            raftcore::Message::Append(a) => a.entries.0,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(counts, vec![1, 1], "222 bytes in flight: the leader waits");
    // An acknowledgement frees the window: the rest follows.
    for e in &to2 {
        c.deliver(e);
    }
    c.deliver_all();
    c.heartbeat(1);
    assert_eq!(c.node(2).log_terms(), vec![1; 5]);
}

#[test]
fn apply_is_split_into_chunks_of_max_apply_entries_across_steps() {
    let logs = [(1, vec![1; 5]), (1, vec![1; 5]), (1, vec![1; 5])];
    let mut c = Cluster::with_logs(&logs, |cfg| cfg.max_apply = 2);
    let none = Ents::none();
    let out = c.recv(2, 1, append(1, 5, 1, 5, &none));
    assert_eq!(c.commit(2), 5);
    assert_eq!(applies(&out), vec![(1, 2)]);
    // The rest comes out on the next steps, whatever they are.
    assert_eq!(applies(&c.tick(2)), vec![(3, 4)]);
    assert_eq!(applies(&c.tick(2)), vec![(5, 5)]);
    assert!(applies(&c.tick(2)).is_empty());
    assert_eq!(c.role(2), Role::Follower);
}

/// Proposals arriving while an append to a follower is in flight wait for its
/// acknowledgement (Nagle-style batching) until they fill a frame; then they go at once.
#[test]
fn proposals_behind_an_append_in_flight_go_out_once_they_fill_a_frame() {
    // Room for exactly three 40-byte entries (51-byte records) after the worst-case header.
    let frame = raftcore::codec::MAX_HEADER_BYTES + 3 * 51;
    let mut c = Cluster::with_config(3, |cfg| cfg.max_frame_bytes = frame);
    c.elect(1);
    c.heartbeat(1);
    // The entries each proposal's step sends to n2.
    let mut sent = Vec::new();
    for k in 0..4u8 {
        let out = c.step(1, Input::Propose { data: &[k; 40] });
        let to_n2: Vec<u32> = appends(&out)
            .iter()
            .filter(|(to, _)| *to == n(2))
            .map(|(_, a)| a.entries.0)
            .collect();
        sent.push(to_n2);
    }
    // The first at once (nothing in flight); the next three wait until they fill a frame.
    assert_eq!(sent, vec![vec![1], vec![], vec![], vec![3]]);
}

/// A new commit index goes at once only to followers with nothing in flight; one whose
/// append is still in flight learns it from the message its acknowledgement triggers, not
/// from an extra heartbeat in the commit's step.
#[test]
fn a_commit_is_sent_at_once_only_to_followers_with_nothing_in_flight() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.heartbeat(1);
    c.step(1, Input::Propose { data: b"x" });
    // n2 acknowledges; n3's append stays in flight.
    let to_n3 = c.take(|e| e.to == n(3));
    assert_eq!(to_n3.len(), 1);
    let to_n2 = c.take(|e| e.to == n(2));
    for env in &to_n2 {
        c.deliver(env);
    }
    let acks = c.take(|e| e.to == n(1));
    let mut commit_step = Vec::new();
    for env in &acks {
        commit_step.extend(c.deliver(env));
    }
    let index = c.raft(1).last_index();
    assert_eq!(
        c.raft(1).commit(),
        index,
        "committed with n2's acknowledgement"
    );
    let sent: Vec<_> = appends(&commit_step).iter().map(|(to, _)| *to).collect();
    assert_eq!(sent, vec![n(2)], "the commit goes to n2 only");
    // n3 learns it through its acknowledgement.
    for env in &to_n3 {
        c.deliver(env);
    }
    c.deliver_all();
    assert_eq!(c.raft(3).commit(), index);
}
