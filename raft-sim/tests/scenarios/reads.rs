//! Linearizable reads (Raft thesis 6.4): ReadIndex confirmed by a heartbeat round sent after
//! the read began, batched per round; a new leader's first commit; reads on followers through
//! the leader; the opt-in leader lease; and what a read does when leadership is lost.

use crate::common::*;
use raftcore::output::ReadResult;
use raftcore::{Input, Message, Proposal, ReadIndexRequest, ReadIndexResponse, Role, StepError};

fn ready(upto: u64, index: u64) -> ReadResult {
    ReadResult::Ready {
        upto,
        index: i(index),
    }
}

fn failed(upto: u64) -> ReadResult {
    ReadResult::Failed {
        upto,
        leader_hint: None,
    }
}

fn is_ready(r: &ReadResult) -> bool {
    matches!(r, ReadResult::Ready { .. })
}

/// The heartbeat round an AppendEntries or its answer carries.
fn round_of(e: &Envelope) -> u32 {
    match e.msg {
        Message::Append(a) => a.round,
        Message::AppendResponse(r) => r.round,
        _ => panic!("not an append: {:?}", e.msg),
    }
}

/// Leader 1 of term 1 in a 3-node cluster (the paper's configuration), with `x=1` committed
/// at index 2 everywhere.
fn leader_with_a_write() -> Cluster {
    let mut c = Cluster::new(3);
    c.elect(1);
    assert_eq!(
        c.propose(1, b"x=1"),
        Proposal::Accepted {
            index: i(2),
            term: t(1)
        }
    );
    c.deliver_all();
    // Followers learn the commit index with the next heartbeat.
    c.heartbeat(1);
    for id in c.ids() {
        assert_eq!(c.commit(id), 2, "n{id}");
    }
    c
}

/// Three nodes with PreVote, CheckQuorum and lease reads; n1 leads and has committed `x=1`.
fn leasing_cluster() -> Cluster {
    let mut c = Cluster::with_config(3, |cfg| {
        cfg.pre_vote = true;
        cfg.check_quorum = true;
        cfg.lease_reads = true;
    });
    c.elect(1);
    c.propose(1, b"x=1");
    c.deliver_all();
    c
}

#[test]
fn leader_answers_a_read_only_after_a_majority_acknowledges_a_round_sent_after_the_read_began() {
    let mut c = leader_with_a_write();
    // A heartbeat round the leader sent before the read; both followers answer it, but the
    // answers are still on the wire when the read begins.
    c.ticks(1, 3);
    for hb in c.drain() {
        c.deliver(&hb);
    }
    let early_acks = c.drain();
    assert_eq!(early_acks.len(), 2, "{early_acks:?}");

    let out = c.step(1, Input::Read { id: 1 });
    assert!(reads(&out).is_empty(), "answered before any round: {out:?}");
    let round = appends(&out)
        .iter()
        .map(|(_, a)| a.round)
        .max()
        .expect("the read starts a heartbeat round");
    assert_eq!(
        appends(&out).len(),
        2,
        "a heartbeat to each follower: {out:?}"
    );
    assert!(early_acks.iter().all(|e| round_of(e) < round));

    // Answers to the earlier round come from both followers, a majority, yet confirm nothing
    // about leadership after the read began.
    for ack in &early_acks {
        let out = c.deliver(ack);
        assert!(reads(&out).is_empty(), "served on a stale round: {out:?}");
    }
    // The read's round: one follower plus the leader is a majority of three.
    let hbs = c.drain();
    let to_2 = hbs.iter().find(|e| e.to == n(2)).expect("heartbeat to n2");
    c.deliver(to_2);
    let ack = c.drain();
    assert_eq!(ack.len(), 1);
    assert_eq!(round_of(&ack[0]), round);
    let out = c.deliver(&ack[0]);
    assert_eq!(reads(&out), vec![ready(1, 2)], "served at the commit index");
    // The other follower's answer changes nothing.
    let to_3 = hbs.iter().find(|e| e.to == n(3)).expect("heartbeat to n3");
    c.deliver(to_3);
    c.deliver_all();
    assert_eq!(c.reads_of(1), vec![ready(1, 2)]);
}

#[test]
fn reads_arriving_while_a_round_is_in_flight_wait_for_the_next_round_and_share_it() {
    let mut c = Cluster::new(3);
    c.elect(1);
    let out = c.step(1, Input::Read { id: 1 });
    assert_eq!(appends(&out).len(), 2, "read 1 starts a round: {out:?}");
    let first = c.drain();
    let first_round = round_of(&first[0]);

    // Two more reads while that round is in flight: no new round, no answer yet.
    for id in [2, 3] {
        let out = c.step(1, Input::Read { id });
        assert!(sends(&out).is_empty(), "read {id} sent something: {out:?}");
        assert!(reads(&out).is_empty(), "read {id} answered early: {out:?}");
    }

    // The first round completes: it answers read 1 only (2 and 3 began after it was sent),
    // and at once starts the round reads 2 and 3 share.
    for hb in &first {
        c.deliver(hb);
    }
    let acks = c.drain();
    let out = c.deliver(&acks[0]);
    assert_eq!(reads(&out), vec![ready(1, 1)]);
    let next: Vec<u32> = appends(&out).iter().map(|(_, a)| a.round).collect();
    assert_eq!(next, vec![first_round + 1, first_round + 1], "{out:?}");
    let out = c.deliver(&acks[1]);
    assert!(reads(&out).is_empty(), "{out:?}");

    c.deliver_all();
    // One answer covers both waiting reads: two rounds for three reads.
    assert_eq!(c.reads_of(1), vec![ready(1, 1), ready(3, 1)]);
}

#[test]
fn new_leader_answers_reads_only_after_committing_an_entry_of_its_term() {
    let mut c = leader_with_a_write();
    // n2 wins term 2, but the acknowledgements of its empty entry (index 3) are lost, so it
    // knows entries up to 2 are committed and nothing of its own term is.
    c.tick_until_campaign(2);
    let ack_to_2 = |e: &Envelope| e.to == n(2) && matches!(e.msg, Message::AppendResponse(_));
    c.deliver_all_dropping(ack_to_2);
    assert_eq!((c.role(2), c.term(2)), (Role::Leader, 2));
    assert_eq!(c.commit(2), 2);
    assert_eq!(c.raft(2).last_index(), i(3));

    let out = c.step(2, Input::Read { id: 1 });
    assert!(reads(&out).is_empty(), "{out:?}");
    // Heartbeat rounds go out and time passes: still no answer while index 3 is uncommitted.
    for _ in 0..3 {
        c.heartbeat_dropping(2, ack_to_2);
    }
    assert_eq!(c.commit(2), 2);
    assert_eq!(c.reads_of(2), vec![]);

    // Acknowledgements get through: index 3 commits, then a round sent after that confirms
    // the read, which is served at an index covering every entry committed before n2's term.
    c.heartbeat(2);
    assert_eq!(c.commit(2), 3);
    c.heartbeat(2);
    assert_eq!(c.reads_of(2), vec![ready(1, 3)]);
}

#[test]

fn reads_waiting_for_the_first_commit_are_confirmed_without_waiting_for_the_next_heartbeat() {
    let mut c = leader_with_a_write();
    c.tick_until_campaign(2);
    let ack_to_2 = |e: &Envelope| e.to == n(2) && matches!(e.msg, Message::AppendResponse(_));
    c.deliver_all_dropping(ack_to_2);
    c.read(2, 1);
    // Deliver n2's entry again and the acknowledgements: index 3 commits in the step that
    // handles the first acknowledgement, which starts the read's round.
    c.heartbeat(2);
    assert_eq!(c.commit(2), 3);
    // No tick since: the round must already have gone out and come back.
    assert_eq!(c.reads_of(2), vec![ready(1, 3)]);
}

#[test]
fn follower_read_goes_through_the_leader_and_is_served_at_the_leaders_read_index() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.heartbeat(1);
    // n3 misses `x=1`: the leader commits index 2 with n2; n3 knows of index 1 only.
    c.cut.insert((1, 3));
    c.propose(1, b"x=1");
    c.deliver_all();
    c.heal();
    assert_eq!((c.commit(1), c.commit(3)), (2, 1));

    let out = c.step(3, Input::Read { id: 7 });
    assert!(reads(&out).is_empty(), "{out:?}");
    assert_eq!(read_index_reqs(&out), vec![(n(1), 1, 7)]);
    // Keep n3 from catching up meanwhile, to see which index it is told.
    c.deliver_all_dropping(|e| e.to == n(3) && e.is_append());
    assert_eq!(
        read_index_resps(&c.node(1).outputs),
        vec![(n(3), 7, 2, true)],
        "the leader answers after its own heartbeat round"
    );
    assert_eq!(c.reads_of(1), vec![], "not one of the leader's own reads");
    // The follower serves read 7 once it has applied the leader's commit index (2), not its
    // own (1): the driver waits for that.
    assert_eq!(c.reads_of(3), vec![ready(7, 2)]);
    assert_eq!(c.node(3).applied_index(), i(1));
    for _ in 0..3 {
        c.heartbeat(1);
    }
    assert_eq!(c.node(3).applied_index(), i(2));
    assert_eq!(c.node(3).applied_data(), vec![b"x=1".to_vec()]);
}

#[test]
fn deposed_leader_never_answers_a_read_with_stale_data() {
    let mut c = leader_with_a_write();
    // Answers to a round n1 sent before the partition, delivered late.
    c.ticks(1, 3);
    for hb in c.drain() {
        c.deliver(&hb);
    }
    let late_acks = c.drain();

    // n1 is cut off (no CheckQuorum in the paper's configuration: it still thinks it
    // leads); n2 wins term 2 with n3 and commits `x=2`.
    c.isolate(1);
    c.elect(2);
    let index = match c.propose(2, b"x=2") {
        Proposal::Accepted { index, .. } => index,
        p => panic!("{p:?}"),
    };
    c.deliver_all();
    assert_eq!(c.raft(2).commit(), index);
    assert!(c.node(2).applied_data().contains(&b"x=2".to_vec()));

    // A read on the deposed leader: its heartbeats are lost, the late answers are of an older
    // round, and time passes. It must never become Ready.
    assert_eq!(c.role(1), Role::Leader);
    assert_eq!(c.read(1, 1), vec![]);
    for ack in &late_acks {
        c.step(1, Input::Frame(&ack.frame));
    }
    for _ in 0..30 {
        c.tick(1);
        c.deliver_all();
    }
    assert!(!c.reads_of(1).iter().any(is_ready), "{:?}", c.reads_of(1));

    // The partition heals: n1's next heartbeat is refused with term 2, it steps down, and the
    // read fails.
    c.heal();
    c.heartbeat(1);
    assert_eq!((c.role(1), c.term(1)), (Role::Follower, 2));
    let answers = c.reads_of(1);
    assert!(
        matches!(answers[..], [ReadResult::Failed { upto: 1, .. }]),
        "{answers:?}"
    );

    // Retried once n1 follows n2, the read goes through n2 and covers `x=2`.
    c.heartbeat(2);
    assert_eq!(c.raft(1).leader(), Some(n(2)));
    c.read(1, 2);
    c.deliver_all();
    match c.reads_of(1).last() {
        Some(&ReadResult::Ready { upto: 2, index: at }) => assert!(at >= index, "{at}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn deposed_lease_holder_stops_answering_before_another_leader_can_be_elected() {
    let mut c = leasing_cluster();
    c.isolate(1);
    // Every node's clock runs at the same rate (the lease's assumption). n1 reads every tick.
    let mut ready_while_alone = 0;
    let mut new_leader = None;
    for id in 1..=60u64 {
        let answered = c.read(1, id);
        if answered.iter().any(is_ready) {
            assert!(
                new_leader.is_none(),
                "n1 answered read {id} from its lease after n{new_leader:?} was elected"
            );
            ready_while_alone += 1;
        }
        for node in 1..=3 {
            c.tick(node);
        }
        c.deliver_all();
        if new_leader.is_none() {
            new_leader = [2, 3].into_iter().find(|&k| c.role(k) == Role::Leader);
            if let Some(l) = new_leader {
                c.propose(l, b"x=2");
                c.deliver_all();
            }
        }
    }
    assert!(ready_while_alone > 0, "the lease answered nothing at all");
    assert!(new_leader.is_some(), "n2 and n3 elected nobody");
    assert_ne!(c.role(1), Role::Leader, "CheckQuorum deposes n1");
}

#[test]
fn lease_read_is_answered_at_once_while_the_lease_holds_and_falls_back_after_it_expires() {
    let mut c = Cluster::with_config(3, |cfg| {
        cfg.check_quorum = true;
        cfg.lease_reads = true;
    });
    c.elect(1);
    // election_ticks 10: the lease lasts while the newest acknowledged round was sent less
    // than 10 - 2 ticks ago. The election's round was sent at tick 0.
    let out = c.step(1, Input::Read { id: 1 });
    assert_eq!(reads(&out), vec![ready(1, 1)]);
    assert!(sends(&out).is_empty(), "no round for a lease read: {out:?}");
    // From here on nothing reaches the followers.
    for k in 1..=7 {
        c.tick(1);
        c.drain();
        assert_eq!(c.read(1, 1 + k), vec![ready(1 + k, 1)], "tick {k}");
    }
    c.tick(1);
    c.drain();
    // Tick 8: the lease ran out; the read waits for a round like any other.
    let out = c.step(1, Input::Read { id: 9 });
    assert!(reads(&out).is_empty(), "{out:?}");
    assert_eq!(appends(&out).len(), 2, "a heartbeat round: {out:?}");
    c.deliver_all();
    assert_eq!(c.reads_of(1).last(), Some(&ready(9, 1)));
    // That round renewed the lease.
    assert_eq!(c.read(1, 10), vec![ready(10, 1)]);
}

#[test]
fn lease_reads_need_check_quorum() {
    let mut c = Cluster::with_config(3, |cfg| {
        cfg.check_quorum = false;
        cfg.lease_reads = true;
    });
    c.elect(1);
    let out = c.step(1, Input::Read { id: 1 });
    assert!(reads(&out).is_empty(), "answered from a lease: {out:?}");
    assert_eq!(appends(&out).len(), 2);
    c.deliver_all();
    assert_eq!(c.reads_of(1), vec![ready(1, 1)]);
}

/// A ReadIndex request of an older term (its follower missed an election) is refused at
/// once, with the newer term: the follower's read fails (to be retried) and it learns the
/// term.
#[test]
fn a_read_index_request_of_a_stale_term_is_refused_with_the_newer_term() {
    let mut c = leader_with_a_write();
    let term = c.term(1);
    let out = c.recv(
        1,
        2,
        Message::ReadIndex(ReadIndexRequest {
            term: t(term - 1),
            id: 7,
        }),
    );
    let answer = ReadIndexResponse {
        term: t(term),
        id: 7,
        index: i(0),
        ok: false,
    };
    assert_eq!(
        sends(&out),
        vec![(n(2), Message::ReadIndexResponse(answer))]
    );
    assert_eq!(c.role(1), Role::Leader);
}

/// A leader that steps down fails every read it holds for a follower: each follower is told
/// once, with its own newest read id.
#[test]
fn a_deposed_leader_fails_each_followers_pending_reads_once() {
    let mut c = leader_with_a_write();
    c.read(2, 5);
    c.read(3, 7);
    let asks = c.take(|e| e.to == n(1));
    assert_eq!(asks.len(), 2);
    for e in &asks {
        c.deliver(e);
    }
    // The confirming round is lost; a higher term deposes n1.
    c.drain();
    let out = c.recv(1, 2, append_resp(5, false, 0, 0));
    assert_eq!(c.role(1), Role::Follower);
    let mut failed = read_index_resps(&out);
    failed.sort();
    assert_eq!(failed, vec![(n(2), 5, 0, false), (n(3), 7, 0, false)]);
}

/// A read index is taken only from the leader this node follows; one from anyone else is
/// ignored and counted.
#[test]
fn a_read_index_answer_from_anyone_but_the_leader_is_ignored_and_counted() {
    let mut c = leader_with_a_write();
    c.read(2, 5);
    c.drain();
    let ignored = c.raft(2).stats().ignored_unexpected;
    let answer = ReadIndexResponse {
        term: t(1),
        id: 5,
        index: i(2),
        ok: true,
    };
    let out = c.recv(2, 3, Message::ReadIndexResponse(answer));
    assert!(reads(&out).is_empty(), "{out:?}");
    assert_eq!(c.raft(2).stats().ignored_unexpected, ignored + 1);
}

#[test]
fn read_on_a_node_without_a_leader_fails_with_no_hint() {
    let mut c = Cluster::new(3);
    // A follower that never heard of a leader.
    let out = c.step(2, Input::Read { id: 1 });
    assert_eq!(reads(&out), vec![failed(1)]);
    assert!(sends(&out).is_empty(), "{out:?}");
    // A candidate.
    c.tick_until_campaign(1);
    assert_eq!(c.role(1), Role::Candidate);
    let out = c.step(1, Input::Read { id: 1 });
    assert_eq!(reads(&out), vec![failed(1)]);
    assert!(sends(&out).is_empty(), "{out:?}");
}

#[test]
fn read_ids_must_increase() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.read(1, 5);
    c.read(2, 5);
    for id in [1, 2] {
        let raft = c.node_mut(id).raft.as_mut().expect("up");
        let before = view(raft);
        let mut out = Out::new();
        for rid in [5, 4, 0] {
            assert_eq!(
                raft.step(Input::Read { id: rid }, &mut out),
                Err(StepError::ReadIdNotIncreasing),
                "n{id} read {rid}"
            );
            assert!(out.is_empty(), "{out:?}");
        }
        assert_eq!(view(raft), before, "n{id}: a refused read changed nothing");
    }
    // Gaps are fine.
    c.read(1, 100);
    c.read(2, 6);
    c.deliver_all();
    assert_eq!(c.reads_of(1), vec![ready(5, 1), ready(100, 1)]);
    // n2's reads 5 and 6 reached the leader while its own read 5 was in flight: they share
    // the next round, and one answer covers both.
    assert_eq!(c.reads_of(2), vec![ready(6, 1)]);
}

#[test]
fn pending_reads_fail_when_the_leader_steps_down() {
    // CheckQuorum: the leader loses its followers and steps down in its own term.
    let mut c = Cluster::with_config(3, |cfg| cfg.check_quorum = true);
    c.elect(1);
    // A follower's read reaches the leader and rides on a round that gets no answers...
    let out = c.step(3, Input::Read { id: 1 });
    assert_eq!(read_index_reqs(&out), vec![(n(1), 1, 1)]);
    let req = c.drain();
    c.deliver(&req[0]);
    c.drain();
    // ...and a read of the leader's own waits behind it.
    assert_eq!(c.read(1, 10), vec![]);
    let mut out = Vec::new();
    for _ in 0..25 {
        out = c.tick(1);
        if c.role(1) != Role::Leader {
            break;
        }
        c.drain();
    }
    assert_eq!((c.role(1), c.term(1)), (Role::Follower, 1));
    let own = reads(&out);
    assert!(
        matches!(own[..], [ReadResult::Failed { upto: 10, .. }]),
        "{out:?}"
    );
    assert_eq!(read_index_resps(&out), vec![(n(3), 1, 0, false)]);
    c.deliver_all();
    assert_eq!(c.reads_of(3), vec![failed(1)]);

    // A higher term deposes a leader the same way.
    let mut c = Cluster::new(3);
    c.elect(1);
    assert_eq!(c.read(1, 1), vec![]);
    c.drain();
    let out = c.recv(1, 2, vote_req(5, 0, 0));
    assert_eq!((c.role(1), c.term(1)), (Role::Follower, 5));
    assert!(
        matches!(reads(&out)[..], [ReadResult::Failed { upto: 1, .. }]),
        "{out:?}"
    );
}

#[test]

fn deposed_leader_does_not_name_itself_as_the_leader_hint_of_failed_reads() {
    // Deposed by a higher term with no leader known yet: no hint.
    let mut c = Cluster::new(3);
    c.elect(1);
    c.read(1, 1);
    c.drain();
    let out = c.recv(1, 2, vote_req(5, 0, 0));
    assert_eq!(reads(&out), vec![failed(1)]);

    // Deposed by the new leader's AppendEntries: that leader is the hint.
    let mut c = Cluster::new(3);
    c.elect(1);
    c.read(1, 1);
    c.drain();
    let out = c.recv(1, 2, append(2, 1, 1, 1, &Ents::none()));
    assert_eq!(c.raft(1).leader(), Some(n(2)));
    assert_eq!(
        reads(&out),
        vec![ReadResult::Failed {
            upto: 1,
            leader_hint: Some(n(2))
        }]
    );
}

#[test]
fn follower_read_fails_when_its_leader_is_deposed_by_a_higher_term() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.step(3, Input::Read { id: 1 });
    let req = c.drain();
    c.deliver(&req[0]);
    c.drain();
    // n2 campaigns in term 5 (its log is behind, so n1 refuses the vote but adopts the term).
    let out = c.recv(1, 2, vote_req(5, 0, 0));
    assert_eq!(read_index_resps(&out), vec![(n(3), 1, 0, false)]);
    c.deliver_all_dropping(|e| e.to != n(3));
    // The refusal is sent in n1's old term, so n3 (still in term 1, following n1) takes it.
    assert_eq!(c.reads_of(3), vec![failed(1)]);
}

#[test]

fn a_leader_handing_over_does_not_answer_reads_from_its_lease() {
    let mut c = leasing_cluster();
    // n1 hands over to n2, then is cut off before it hears of the election (its copy of the
    // TransferVote is lost): n2 wins term 2 at once with n3, inside n1's lease, and commits
    // `x=2`.
    let out = c.transfer(1, 2);
    assert_eq!(timeouts_now(&out), vec![(n(2), 1)]);
    c.isolate(1);
    c.cut.remove(&(1, 2));
    c.deliver_all();
    assert_eq!((c.role(2), c.term(2)), (Role::Leader, 2));
    let index = match c.propose(2, b"x=2") {
        Proposal::Accepted { index, .. } => index,
        p => panic!("{p:?}"),
    };
    c.deliver_all();
    assert_eq!(c.raft(2).commit(), index);
    // No time has passed on any clock: n1's lease is formally valid, but the followers'
    // promise it rests on was waived by the TransferVote. A read must not be served at the
    // old commit index.
    assert_eq!(c.role(1), Role::Leader);
    let answered = c.read(1, 1);
    assert!(
        !answered.iter().any(|r| matches!(r,
            ReadResult::Ready { index: at, .. } if *at < index)),
        "stale read on n1: {answered:?} (x=2 committed at {index})"
    );
}

#[test]
fn reads_beyond_the_pending_batch_cap_fail_at_once_and_succeed_when_retried() {
    let mut c = Cluster::new(5);
    c.elect(1);
    c.heartbeat(1);
    // The leader's own read rides on a round; four followers' reads wait for the next one.
    assert_eq!(c.read(1, 1), vec![]);
    let round = c.drain();
    for f in 2..=5 {
        c.step(f, Input::Read { id: 1 });
    }
    let requests = c.drain();
    let mut refused = Vec::new();
    for req in &requests {
        refused.extend(read_index_resps(&c.deliver(req)));
    }
    // The leader holds a bounded number of batches: the one that does not fit is refused
    // at once instead of queueing without bound.
    assert_eq!(refused, vec![(n(5), 1, 0, false)]);
    assert!(c.raft(1).stats().reads_failed_busy >= 1);
    c.deliver_all();
    assert_eq!(c.reads_of(5), vec![failed(1)]);
    // Everything else completes, and the refused read succeeds when retried.
    c.wire.extend(round);
    c.deliver_all();
    for f in 2..=4 {
        assert_eq!(c.reads_of(f), vec![ready(1, 1)], "n{f}");
    }
    c.read(5, 2);
    c.deliver_all();
    assert_eq!(c.reads_of(5), vec![failed(1), ready(2, 1)]);
}

#[test]
fn single_node_leader_answers_a_read_in_the_same_step() {
    let mut c = Cluster::new(1);
    c.tick_until_campaign(1);
    assert_eq!(c.role(1), Role::Leader);
    let out = c.step(1, Input::Read { id: 1 });
    assert_eq!(reads(&out), vec![ready(1, 1)]);
    assert!(sends(&out).is_empty());
}

/// With lease reads, a restarted node may be inside a leader's lease it cannot remember: it
/// refuses (pre)votes for its whole first election timeout, ticks meanwhile included, as a
/// follower that hears its leader does.
#[test]
fn a_restarted_node_refuses_votes_through_its_first_election_timeout() {
    let mut c = leasing_cluster();
    c.heartbeat(1);
    c.crash_restart(2);
    assert_eq!(c.raft(2).leader(), None);
    let election = c.node(2).cfg.election_ticks;
    assert!(c.ticks_to_timeout(2) > election - 1);
    c.ticks(2, election - 1);
    c.drain();
    let (term, last) = (c.term(2), c.raft(2).last_index().0);
    let last_term = c.raft(2).last_term().0;
    let hs = c.raft(2).hard_state();
    let ignored = c.raft(2).stats().ignored_in_lease;
    for msg in [
        pre_vote_req(term + 1, last, last_term),
        vote_req(term + 1, last, last_term),
    ] {
        let out = c.recv(2, 3, msg);
        assert!(vote_resps(&out).is_empty(), "{msg:?}: {out:?}");
        assert_eq!(c.raft(2).hard_state(), hs);
    }
    assert_eq!(c.raft(2).stats().ignored_in_lease, ignored + 2);
}

#[test]

fn lease_reads_stay_linearizable_when_a_follower_restarts_inside_the_lease() {
    let mut c = leasing_cluster();
    c.heartbeat(1);
    // n3 loses n1 (but not n2); every clock runs at the same rate, n1 keeps its lease
    // through n2's acknowledgements, and n2 refuses n3's PreVotes while it hears from n1.
    c.cut.insert((1, 3));
    c.cut.insert((3, 1));
    let mut ticks = 0;
    loop {
        ticks += 1;
        assert!(ticks < 200, "n3 never got ready to campaign");
        for id in 1..=3 {
            c.tick(id);
        }
        c.deliver_all();
        assert_eq!(c.role(1), Role::Leader);
        if c.ticks_to_timeout(3) == 1 && ticks > 20 {
            break;
        }
    }
    // n2 crashes and restarts (durable state intact) just before n3's timer fires; n3's
    // campaign reaches it before n1's next heartbeat. No clock moves meanwhile.
    c.crash_restart(2);
    c.tick(3);
    c.deliver_all();
    // The restarted n2 refuses (pre)votes for its first election timeout: it may be inside
    // n1's lease. So n3 cannot win, and n1's lease read stays linearizable.
    assert_ne!(
        c.role(3),
        Role::Leader,
        "n2 voted for n3 right after restarting"
    );
    assert_eq!(c.role(1), Role::Leader);
    let commit = c.raft(1).commit();
    let answered = c.read(1, 1);
    assert!(
        answered
            .iter()
            .all(|r| !matches!(r, ReadResult::Ready { index, .. } if *index < commit)),
        "{answered:?}"
    );
}
