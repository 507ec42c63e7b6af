//! Persistent state (Figure 2: "updated on stable storage before responding to RPCs"),
//! crashes and restarts (section 5.5), both `Durability` modes, and apply exactly once.

use crate::common::*;
use raftcore::{Durability, HardState, Input, Message, Output, Outputs, Role, StepError};

fn deferred(count: u32) -> Cluster {
    let mut c = Cluster::with_config(count, |cfg| cfg.durability = Durability::Deferred);
    c.auto_fsync = false;
    c
}

fn grants_to(c: &Cluster, to: u32) -> usize {
    c.wire
        .iter()
        .filter(|e| e.to == n(to) && matches!(e.msg, Message::VoteResponse(r) if r.granted))
        .count()
}

fn first(out: &[Output], pred: impl Fn(&Output) -> bool) -> usize {
    position(out, pred).unwrap_or_else(|| panic!("not in {out:?}"))
}

#[test]
fn votes_and_terms_are_persisted_before_the_messages_that_depend_on_them() {
    let mut c = Cluster::new(3);
    // A candidate: term and self-vote come before its vote requests.
    let out = c.tick_until_campaign(1);
    let hs = HardState {
        term: t(1),
        vote: Some(n(1)),
    };
    assert_eq!(out[0], Output::Persist(persists(&out)[0]));
    assert_eq!(persists(&out)[0].hard_state, Some(hs));
    assert!(sends(&out).len() == 2);
    // A voter: the vote comes before the grant.
    let out = c.recv(2, 1, vote_req(1, 0, 0));
    let p = first(&out, |o| matches!(o, Output::Persist(_)));
    let s = first(&out, |o| matches!(o, Output::Send { .. }));
    assert!(p < s, "{out:?}");
    assert_eq!(persists(&out)[0].hard_state, Some(hs));
    // A newer term learnt from a refused request is persisted before the refusal.
    let out = c.recv(3, 2, vote_req(2, 0, 0));
    let out2 = c.recv(3, 1, vote_req(2, 0, 0));
    assert_eq!(
        persists(&out)[0].hard_state,
        Some(HardState {
            term: t(2),
            vote: Some(n(2))
        })
    );
    assert!(
        persists(&out2).is_empty(),
        "nothing new to persist: {out2:?}"
    );
    assert!(!vote_resps(&out2)[0].1.granted);
}

#[test]
fn deferred_vote_grant_waits_until_its_persist_is_reported_durable() {
    let mut c = deferred(3);
    let out = c.recv(2, 1, vote_req(1, 0, 0));
    assert_eq!(persists(&out).len(), 1);
    assert!(
        vote_resps(&out).is_empty(),
        "grant sent before durable: {out:?}"
    );
    assert_eq!(c.node(2).durable_hs, HardState::default());
    let out = c.fsync(2);
    assert_eq!(
        vote_resps(&out),
        vec![(
            n(1),
            raftcore::VoteResponse {
                term: t(1),
                granted: true
            }
        )]
    );
}

#[test]
fn deferred_append_acknowledgement_waits_until_its_entries_are_durable() {
    let mut c = deferred(3);
    let ents = Ents::terms(1, &[1, 1]);
    let out = c.recv(2, 1, append(1, 0, 0, 0, &ents));
    assert!(append_resps(&out).is_empty(), "ack before durable: {out:?}");
    let out = c.fsync(2);
    let r = append_resps(&out);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].1.success, r[0].1.index), (true, i(2)));
}

#[test]
fn deferred_candidate_counts_its_own_vote_only_once_durable() {
    let mut c = deferred(3);
    c.tick_until_campaign(1);
    let reqs = c.take(|e| e.to == n(2));
    c.deliver(&reqs[0]);
    c.fsync(2);
    let grant = c.take(|e| e.from == n(2));
    c.deliver(&grant[0]);
    assert_eq!(
        c.role(1),
        Role::Candidate,
        "n2's grant alone is not a majority"
    );
    let out = c.fsync(1);
    assert_eq!(c.role(1), Role::Leader);
    assert_eq!(role_changes(&out), vec![(Role::Leader, t(1), Some(n(1)))]);
}

#[test]
fn deferred_leader_counts_its_own_log_toward_a_quorum_only_once_durable() {
    let mut c = deferred(3);
    c.auto_fsync = true;
    c.elect(1);
    c.heartbeat(1);
    c.auto_fsync = false;
    c.cut.insert((1, 3));
    c.propose(1, b"x");
    let to2 = c.take(|e| e.to == n(2));
    c.deliver(&to2[0]);
    c.fsync(2);
    let ack = c.take(|e| e.from == n(2));
    let out = c.deliver(&ack[0]);
    assert_eq!(c.raft(1).match_index(n(2)), Some(i(2)));
    assert_eq!(
        c.commit(1),
        1,
        "one durable copy of index 2 is not a majority"
    );
    assert!(applies(&out).is_empty());
    let out = c.fsync(1);
    assert_eq!(c.commit(1), 2);
    assert_eq!(applies(&out), vec![(2, 2)]);
}

#[test]
fn deferred_apply_never_passes_the_durable_index() {
    let mut c = deferred(3);
    let ents = Ents::terms(1, &[1, 1]);
    let out = c.recv(2, 1, append(1, 0, 0, 2, &ents));
    assert_eq!(c.commit(2), 2);
    assert!(applies(&out).is_empty(), "applied before durable: {out:?}");
    let out = c.fsync(2);
    assert_eq!(applies(&out), vec![(1, 2)]);
}

#[test]
fn restarted_node_never_votes_twice_in_one_term() {
    // raftos' voted_for bug: the vote must survive a crash between voting and sending.
    let mut c = Cluster::new(3);
    let out = c.step_and_crash_after(
        2,
        Input::Message {
            from: n(1),
            msg: vote_req(1, 0, 0),
        },
        1,
    );
    assert!(matches!(out[0], Output::Persist(_)), "{out:?}");
    assert!(!c.up(2));
    assert_eq!(grants_to(&c, 1), 0, "the grant never left");
    c.restart(2);
    assert_eq!(
        c.raft(2).hard_state(),
        HardState {
            term: t(1),
            vote: Some(n(1))
        }
    );
    let out = c.recv(2, 3, vote_req(1, 0, 0));
    assert!(!vote_resps(&out)[0].1.granted, "a second vote in term 1");
    let out = c.recv(2, 1, vote_req(1, 0, 0));
    assert!(vote_resps(&out)[0].1.granted, "the same vote, re-sent");
}

#[test]
fn restarted_node_never_votes_twice_in_one_term_with_deferred_persistence() {
    // Crash after the grant left: the vote was durable first, and survives.
    let mut c = deferred(3);
    c.recv(2, 1, vote_req(1, 0, 0));
    c.fsync(2);
    assert_eq!(grants_to(&c, 1), 1);
    c.crash_restart(2);
    let out = c.recv(2, 3, vote_req(1, 0, 0));
    assert!(!vote_resps(&out)[0].1.granted);
    // Crash before the vote was durable: it is lost, but so is the grant, which never left.
    let mut c = deferred(3);
    c.recv(2, 1, vote_req(1, 0, 0));
    c.crash_restart(2);
    assert_eq!(grants_to(&c, 1), 0);
    assert_eq!(c.raft(2).hard_state(), HardState::default());
    let out = c.recv(2, 3, vote_req(1, 0, 0));
    assert_eq!(vote_resps(&out), vec![], "held until durable");
    c.fsync(2);
    assert_eq!(grants_to(&c, 3), 1);
    assert_eq!(grants_to(&c, 1), 0, "n1 never got a vote from n2 in term 1");
}

#[test]
fn restarted_node_keeps_its_term_and_log() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.propose(1, b"a");
    c.deliver_all();
    c.elect(2);
    c.heartbeat(2);
    let (term, log) = (c.term(3), c.node(3).log_terms());
    assert_eq!((term, log.clone()), (2, vec![1, 1, 2]));
    c.crash_restart(3);
    assert_eq!(c.term(3), 2);
    assert_eq!(c.raft(3).last_index(), i(3));
    assert_eq!(c.node(3).log_terms(), log);
    // A leader of term 1 is stale to the restarted node.
    let none = Ents::none();
    let out = c.recv(3, 1, append(1, 3, 2, 3, &none));
    assert_eq!(append_resps(&out)[0].1.term, t(2));
}

fn apply_exactly_once_across_restarts(durability: Durability, machine_is_durable: bool) {
    let mut c = Cluster::with_config(3, |cfg| cfg.durability = durability);
    for id in c.ids() {
        c.node_mut(id).machine_is_durable = machine_is_durable;
    }
    c.elect(1);
    for k in 0..3u8 {
        c.propose(1, &[k]);
        c.deliver_all();
    }
    c.heartbeat(1);
    assert_eq!(c.node(2).applied_index(), i(4));
    c.crash(2);
    for k in 3..5u8 {
        c.propose(1, &[k]);
        c.deliver_all();
    }
    c.restart(2);
    assert_eq!(
        c.raft(2).applied(),
        if machine_is_durable { i(4) } else { i(0) }
    );
    c.heartbeat(1);
    c.heartbeat(1);
    // The leader restarts too; the new leader's empty entry is applied once as well.
    c.crash_restart(1);
    c.elect(3);
    c.heartbeat(3);
    let want: Vec<Vec<u8>> = (0..5u8).map(|k| vec![k]).collect();
    for id in c.ids() {
        let indices: Vec<u64> = c.node(id).applied.iter().map(|a| a.0 .0).collect();
        assert_eq!(
            indices,
            (1..=7).collect::<Vec<u64>>(),
            "n{id} {durability:?}"
        );
        assert_eq!(c.node(id).applied_data(), want, "n{id} {durability:?}");
    }
}

#[test]
fn apply_is_exactly_once_and_in_order_across_a_restart_inline() {
    apply_exactly_once_across_restarts(Durability::Inline, true);
}

#[test]
fn apply_is_exactly_once_and_in_order_across_a_restart_deferred() {
    apply_exactly_once_across_restarts(Durability::Deferred, true);
}

#[test]
fn restarted_node_with_a_volatile_state_machine_applies_everything_again_once_in_order() {
    apply_exactly_once_across_restarts(Durability::Inline, false);
    apply_exactly_once_across_restarts(Durability::Deferred, false);
}

#[test]
fn deferred_leader_crash_before_durable_loses_only_entries_nobody_acknowledged() {
    let mut c = deferred(3);
    c.auto_fsync = true;
    c.elect(1);
    c.heartbeat(1);
    c.auto_fsync = false;
    assert!(matches!(
        c.propose(1, b"lost"),
        raftcore::Proposal::Accepted { .. }
    ));
    // The appends reach the followers, whose writes are not durable either.
    let msgs = c.drain();
    for m in &msgs {
        c.deliver(m);
    }
    assert!(c
        .wire
        .iter()
        .all(|e| !matches!(e.msg, Message::AppendResponse(r) if r.success && r.index == i(2))));
    for id in c.ids() {
        c.crash_restart(id);
        assert_eq!(c.raft(id).last_index(), i(1), "n{id}");
    }
    c.auto_fsync = true;
    c.drain();
    c.elect(2);
    c.heartbeat(2);
    for id in c.ids() {
        assert!(c.node(id).applied_data().is_empty(), "n{id}");
        let r = c.raft(id);
        assert_eq!(
            (r.last_index(), r.term_at(i(2))),
            (i(2), Some(t(2))),
            "n{id}"
        );
    }
}

#[test]
fn storage_failure_stops_the_node_until_it_is_restored_from_durable_state() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.heartbeat(1);
    let out = c.step(2, Input::StorageFailed);
    assert!(out.is_empty(), "{out:?}");
    let mut o: Outputs<OUT> = Outputs::new();
    let r = c.node_mut(2).raft.as_mut().unwrap();
    assert!(r.is_halted());
    assert_eq!(r.step(Input::Tick, &mut o), Err(StepError::Halted));
    let none = Ents::none();
    let msg = append(1, 1, 1, 1, &none);
    assert_eq!(
        r.step(Input::Message { from: n(1), msg }, &mut o),
        Err(StepError::Halted)
    );
    assert!(o.is_empty());
    c.crash_restart(2);
    c.heartbeat(1);
    assert_eq!((c.role(2), c.commit(2)), (Role::Follower, 1));
}

#[test]
fn persisted_naming_a_sequence_number_never_issued_is_a_driver_error() {
    let mut c = deferred(3);
    c.recv(2, 1, vote_req(1, 0, 0));
    let mut o: Outputs<OUT> = Outputs::new();
    let r = c.node_mut(2).raft.as_mut().unwrap();
    assert_eq!(
        r.step(Input::Persisted { seq: 99 }, &mut o),
        Err(StepError::UnknownPersistSeq)
    );
    assert_eq!(r.step(Input::Persisted { seq: 1 }, &mut o), Ok(()));
}

#[test]
fn cluster_commits_and_applies_the_same_commands_under_both_durability_modes() {
    for durability in [Durability::Inline, Durability::Deferred] {
        let mut c = Cluster::with_config(5, |cfg| cfg.durability = durability);
        c.elect(3);
        for k in 0..10u8 {
            assert!(matches!(
                c.propose(3, &[k]),
                raftcore::Proposal::Accepted { .. }
            ));
            if k % 3 == 0 {
                c.deliver_all();
            }
        }
        c.deliver_all();
        c.heartbeat(3);
        let want: Vec<Vec<u8>> = (0..10u8).map(|k| vec![k]).collect();
        for id in c.ids() {
            assert_eq!(c.node(id).applied_data(), want, "n{id} {durability:?}");
            assert_eq!(c.commit(id), 11, "n{id} {durability:?}");
        }
        c.assert_same_logs(&c.ids());
    }
}

/// A `Persisted` report older than one already taken changes nothing: what the newer one
/// made durable stays durable (here: a heartbeat, with nothing new to persist, is
/// acknowledged at once).
#[test]
fn a_stale_persisted_report_changes_nothing() {
    let mut c = deferred(3);
    c.recv(2, 1, append(1, 0, 0, 0, &Ents::terms(1, &[1, 1]))); // seq 1
    c.recv(2, 1, append(1, 2, 1, 0, &Ents::terms(3, &[1]))); // seq 2
    let acks = append_resps(&c.fsync(2));
    assert_eq!(acks.len(), 1);
    assert_eq!((acks[0].1.success, acks[0].1.index), (true, i(3)));
    assert_eq!(c.raft(2).durable_seq(), 2);
    let mut o: Outputs<OUT> = Outputs::new();
    let r = c.node_mut(2).raft.as_mut().unwrap();
    assert_eq!(r.step(Input::Persisted { seq: 1 }, &mut o), Ok(()));
    assert!(o.is_empty(), "{o:?}");
    assert_eq!(c.raft(2).durable_seq(), 2);
    let out = c.recv(2, 1, append(1, 3, 1, 0, &Ents::none()));
    assert!(persists(&out).is_empty(), "{out:?}");
    let acks = append_resps(&out);
    assert_eq!(acks.len(), 1, "{out:?}");
    assert_eq!((acks[0].1.success, acks[0].1.index), (true, i(3)));
}
