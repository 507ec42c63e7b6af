//! Log replication: Figure 2 ("AppendEntries RPC" receiver rules, the leader's rules) and
//! section 5.3, including fast backtracking with conflict hints and lost-message recovery.

use crate::common::*;
use raftcore::{
    AppendResponse, HardState, LogStore, Message, NewEntries, NewEntriesFrom, Proposal, Role,
};

/// A follower (n2) in term `term` holding `log`, with leader n1 and voter n3 beside it.
fn follower_with(term: u64, log: &[u64]) -> Cluster {
    Cluster::with_logs(
        &[(term, vec![]), (term, log.to_vec()), (term, vec![])],
        |_| {},
    )
}

#[test]
fn follower_rejects_append_whose_prev_log_term_does_not_match() {
    let mut c = follower_with(2, &[1, 1, 2]);
    let none = Ents::none();
    let out = c.recv(2, 1, append(3, 3, 3, 0, &none));
    // Rejected, with the hint: the last index at or below 3 whose term is at most 3.
    assert_eq!(
        append_resps(&out),
        vec![(
            n(1),
            AppendResponse {
                term: t(3),
                success: false,
                index: i(3),
                hint_index: i(3),
                hint_term: t(2),
                round: 0,
                commit: i(0),
            }
        )]
    );
    assert_eq!(c.node(2).log_terms(), vec![1, 1, 2], "log untouched");
    assert!(persists(&out)
        .iter()
        .all(|p| p.entries.is_none() && p.truncate_from.is_none()));
}

#[test]
fn follower_rejects_append_whose_prev_log_index_is_beyond_its_log() {
    let mut c = follower_with(2, &[1, 1, 2]);
    let ents = Ents::terms(6, &[3]);
    let out = c.recv(2, 1, append(3, 5, 2, 0, &ents));
    let r = append_resps(&out);
    assert_eq!(r.len(), 1);
    assert!(!r[0].1.success);
    assert_eq!(
        (r[0].1.index, r[0].1.hint_index, r[0].1.hint_term),
        (i(5), i(3), t(2))
    );
    assert_eq!(c.node(2).log_terms(), vec![1, 1, 2]);
}

#[test]
fn follower_rejects_append_from_a_leader_with_a_stale_term() {
    let mut c = follower_with(4, &[1, 1, 2]);
    let ents = Ents::terms(4, &[3]);
    let out = c.recv(2, 1, append(3, 3, 2, 3, &ents));
    let r = append_resps(&out);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].1.term, r[0].1.success), (t(4), false));
    assert_eq!(c.node(2).log_terms(), vec![1, 1, 2]);
    assert_eq!((c.commit(2), c.term(2)), (0, 4));
}

#[test]
fn stale_leader_steps_down_when_an_answer_carries_a_newer_term() {
    let mut c = Cluster::new(3);
    c.elect(1);
    // n2 and n3 move on to term 2 without n1.
    c.isolate(1);
    c.elect(2);
    c.heal();
    assert_eq!((c.role(1), c.term(1)), (Role::Leader, 1));
    let hb = c.node(1).cfg.heartbeat_ticks;
    c.ticks(1, hb);
    c.deliver_all();
    assert_eq!((c.role(1), c.term(1)), (Role::Follower, 2));
}

#[test]
fn follower_deletes_a_conflicting_entry_and_all_that_follow() {
    let mut c = follower_with(2, &[1, 1, 2, 2]);
    let ents = Ents::terms(3, &[3]);
    let out = c.recv(2, 1, append(3, 2, 1, 0, &ents));
    assert_eq!(c.node(2).log_terms(), vec![1, 1, 3]);
    let p = persists(&out);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].truncate_from, Some(i(3)));
    assert_eq!(
        p[0].entries,
        Some(NewEntries {
            first: i(3),
            count: 1,
            from: NewEntriesFrom::Message { skip: 0 }
        })
    );
    assert_eq!(c.node(2).durable.last_index(), i(3));
    let r = append_resps(&out);
    assert_eq!((r[0].1.success, r[0].1.index), (true, i(3)));
}

/// A leader never contradicts a committed entry: an append that does (forged or corrupt) is
/// ignored and counted, and the committed entry stays.
#[test]
fn an_append_conflicting_with_a_committed_entry_is_ignored_and_counted() {
    let mut c = follower_with(2, &[1, 1, 2, 2]);
    let none = Ents::none();
    c.recv(2, 1, append(2, 4, 2, 3, &none));
    assert_eq!(c.commit(2), 3);
    let ignored = c.raft(2).stats().ignored_unexpected;
    let ents = Ents::terms(3, &[3]);
    let out = c.recv(2, 1, append(3, 2, 1, 3, &ents));
    assert!(append_resps(&out).is_empty(), "{out:?}");
    assert_eq!(c.node(2).log_terms(), vec![1, 1, 2, 2]);
    assert_eq!(c.raft(2).stats().ignored_unexpected, ignored + 1);
}

/// A follower takes from an append only what its log store's byte budget holds (`log_bytes`,
/// no reserve: the leader decides what is committed) and acknowledges that much; the rest is
/// counted as cut short and comes again once there is room.
#[test]
fn follower_appends_only_what_its_log_store_budget_holds() {
    // 100-byte payloads are 111-byte records: two fit in 300 bytes, a third does not.
    let mut c = Cluster::with_config(3, |cfg| {
        cfg.max_frame_bytes = 200;
        cfg.log_bytes = 300;
    });
    let three = Ents::new(&[(1, &[1; 100]), (1, &[2; 100]), (1, &[3; 100])]);
    let out = c.recv(2, 1, append(1, 0, 0, 0, &three));
    let acks: Vec<(bool, u64)> = append_resps(&out)
        .iter()
        .map(|(_, r)| (r.success, r.index.0))
        .collect();
    assert_eq!(acks, vec![(true, 2)]);
    assert_eq!(c.raft(2).last_index(), i(2));
    assert_eq!(c.raft(2).stats().appends_truncated_full, 1);
    // The third again, alone: still no room.
    let third = Ents::new(&[(1, &[3; 100])]);
    let out = c.recv(2, 1, append(1, 2, 1, 0, &third));
    let acks: Vec<(bool, u64)> = append_resps(&out)
        .iter()
        .map(|(_, r)| (r.success, r.index.0))
        .collect();
    assert_eq!(acks, vec![(true, 2)]);
    assert_eq!(c.raft(2).last_index(), i(2));
    assert_eq!(c.raft(2).stats().appends_truncated_full, 2);
}

#[test]
fn follower_appends_new_entries_not_already_in_its_log() {
    let mut c = follower_with(1, &[1, 1]);
    // Index 2 (term 1) is already held; 3 and 4 are new.
    let ents = Ents::terms(2, &[1, 2, 2]);
    let out = c.recv(2, 1, append(2, 1, 1, 0, &ents));
    assert_eq!(c.node(2).log_terms(), vec![1, 1, 2, 2]);
    let p = persists(&out);
    assert_eq!(p[0].truncate_from, None, "nothing conflicted");
    assert_eq!(
        p[0].entries,
        Some(NewEntries {
            first: i(3),
            count: 2,
            from: NewEntriesFrom::Message { skip: 1 }
        })
    );
    let r = append_resps(&out);
    assert_eq!((r[0].1.success, r[0].1.index), (true, i(4)));
}

#[test]
fn follower_keeps_its_later_entries_when_a_delayed_append_matches_them() {
    let mut c = follower_with(1, &[1, 1, 1]);
    // A reordered, older AppendEntries carrying only entry 1.
    let ents = Ents::terms(1, &[1]);
    let out = c.recv(2, 1, append(1, 0, 0, 0, &ents));
    assert_eq!(
        c.node(2).log_terms(),
        vec![1, 1, 1],
        "no truncation without conflict"
    );
    assert!(persists(&out).is_empty(), "{out:?}");
    let r = append_resps(&out);
    assert_eq!((r[0].1.success, r[0].1.index), (true, i(1)));
}

#[test]
fn follower_commits_up_to_leader_commit_but_not_past_its_last_new_entry() {
    let mut c = follower_with(1, &[1, 1, 1]);
    let none = Ents::none();
    // The leader's commit is 3, but this message only vouches for the log up to index 1.
    let out = c.recv(2, 1, append(1, 1, 1, 3, &none));
    assert_eq!(c.commit(2), 1);
    assert_eq!(applies(&out), vec![(1, 1)]);
    let out = c.recv(2, 1, append(1, 3, 1, 3, &none));
    assert_eq!(c.commit(2), 3);
    assert_eq!(applies(&out), vec![(2, 3)]);
    // A smaller leader commit (a reordered message) never moves the commit back.
    let out = c.recv(2, 1, append(1, 3, 1, 2, &none));
    assert_eq!(c.commit(2), 3);
    assert!(applies(&out).is_empty());
    let applied: Vec<u64> = c.node(2).applied.iter().map(|a| a.0 .0).collect();
    assert_eq!(applied, vec![1, 2, 3]);
}

#[test]
fn leader_sends_entries_starting_at_each_followers_next_index() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.deliver_all();
    let out = c.step(1, raftcore::Input::Propose { data: b"x" });
    let a = appends(&out);
    assert_eq!(a.len(), 2);
    for (to, app) in a {
        assert_eq!(
            (
                app.term,
                app.prev_index,
                app.prev_term,
                app.commit,
                app.entries.0
            ),
            (t(1), i(1), t(1), i(1), 1),
            "to {to}"
        );
    }
    let env = c.take(|e| e.to == n(2));
    assert_eq!(env[0].entry_terms(), vec![1]);
    assert_eq!(env[0].decoded().entries().next().unwrap().data, b"x");
}

#[test]
fn leader_commits_an_entry_once_replicated_on_a_majority_and_tells_the_followers() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.heartbeat(1);
    assert_eq!((c.commit(2), c.commit(3)), (1, 1));
    c.cut.insert((1, 3));
    assert!(matches!(
        c.propose(1, b"x"),
        raftcore::Proposal::Accepted { .. }
    ));
    assert_eq!(c.commit(1), 1, "not yet on a majority");
    // n2's append, then its answer.
    let to2 = c.take(|e| e.to == n(2));
    c.deliver(&to2[0]);
    let ack = c.take(|e| e.from == n(2));
    let out = c.deliver(&ack[0]);
    assert_eq!(c.commit(1), 2);
    assert_eq!(c.raft(1).match_index(n(2)), Some(i(2)));
    assert_eq!(c.raft(1).match_index(n(3)), Some(i(1)));
    assert_eq!(applies(&out), vec![(2, 2)]);
    assert_eq!(c.node(1).applied_data(), vec![b"x".to_vec()]);
    // The new commit index goes out at once (to n3 too: the leader does not know it lost).
    let a = appends(&out);
    assert!(
        a.iter().any(|(to, app)| *to == n(2) && app.commit == i(2)),
        "{a:?}"
    );
    c.deliver_all();
    assert_eq!(c.commit(2), 2);
    assert_eq!(c.node(2).applied_data(), vec![b"x".to_vec()]);
    assert_eq!(c.commit(3), 1, "n3 is cut off");
}

/// One message per peer per step (the output bound relies on it): the acknowledgement that
/// commits an entry gets its sender one AppendEntries carrying the new commit index, although
/// both the commit broadcast and the answer to a follower behind on the commit index would
/// send it one.
#[test]
fn the_step_that_commits_sends_the_acknowledging_follower_one_append() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.heartbeat(1);
    assert!(matches!(
        c.propose(1, b"x"),
        raftcore::Proposal::Accepted { .. }
    ));
    let to2 = c.take(|e| e.to == n(2));
    c.deliver(&to2[0]);
    let ack = c.take(|e| e.from == n(2));
    assert!(
        matches!(ack[0].msg, Message::AppendResponse(r) if r.index == i(2) && r.commit == i(1)),
        "{:?}",
        ack[0].msg
    );
    let out = c.deliver(&ack[0]);
    assert_eq!(c.commit(1), 2);
    let to_n2: Vec<_> = sends(&out)
        .into_iter()
        .filter(|(to, _)| *to == n(2))
        .collect();
    assert_eq!(to_n2.len(), 1, "{out:?}");
    assert!(
        matches!(to_n2[0].1, Message::Append(a) if a.commit == i(2)),
        "{out:?}"
    );
}

#[test]
fn leader_decrements_next_index_and_retries_when_a_follower_rejects() {
    // n2 lacks the leader's entries 2..=3: the leader backs up until the logs match, then
    // sends everything after the match.
    let logs = [(2, vec![1, 2, 2]), (2, vec![1]), (2, vec![1, 2, 2])];
    let mut c = Cluster::with_logs(&logs, |_| {});
    c.elect(1);
    c.heartbeat(1);
    assert_eq!(c.node(2).log_terms(), vec![1, 2, 2, 3]);
    assert_eq!(c.raft(1).match_index(n(2)), Some(i(4)));
    assert_eq!(c.raft(2).stats().appends_rejected, 1, "one round trip");
}

#[test]
fn leader_backtracks_over_a_whole_conflicting_term_per_round_trip_with_conflict_hints() {
    // Figure 7's leader and follower (f): f holds 2, 2, 2, 3, 3, 3, 3, 3 after index 3,
    // none of which the leader has.
    let leader = vec![1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    let f = vec![1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3];
    let mut c = Cluster::with_logs(&[(7, leader), (3, f), (6, vec![1, 1, 1, 4])], |_| {});
    c.tick_until_campaign(1);
    c.deliver_all();
    assert_eq!(c.role(1), Role::Leader);
    assert_eq!(c.node(2).log_terms(), vec![1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 8]);
    assert_eq!(
        c.raft(2).stats().appends_rejected,
        1,
        "one rejection, not eight"
    );
    // The rejection's hint names f's last entry of a term <= 6 at or below the probe.
    let rejections: Vec<_> = c
        .node(2)
        .outputs
        .iter()
        .filter_map(|o| match o {
            raftcore::Output::Send {
                msg: Message::AppendResponse(r),
                ..
            } if !r.success => Some((r.index, r.hint_index, r.hint_term)),
            _ => None,
        })
        .collect();
    assert_eq!(rejections, vec![(i(10), i(10), t(3))]);
}

/// A leader probing a follower (one append at a time, after a lost append) goes back to
/// streaming only on news: an acknowledgement of more than the follower's known match. A
/// delayed heartbeat answer that acknowledges exactly the match changes nothing, and the
/// probe in flight is not sent again.
#[test]
fn a_delayed_acknowledgement_of_the_known_match_does_not_end_probing() {
    let mut c = Cluster::new(3);
    c.elect(1);
    assert!(matches!(c.propose(1, b"a"), Proposal::Accepted { .. }));
    c.deliver_all();
    c.heartbeat(1);
    let m = c.raft(1).last_index().0;
    assert_eq!(c.raft(2).last_index().0, m);
    // A heartbeat round; n2's answer (success at its match m) is held back.
    let hb = c.node(1).cfg.heartbeat_ticks;
    c.ticks(1, hb);
    let to2 = c.take(|e| e.to == n(2));
    for e in &to2 {
        c.deliver(e);
    }
    let late = c.take(|e| e.from == n(2));
    assert_eq!(late.len(), 1);
    c.deliver_all();
    // The append of b to n2 is lost: a heartbeat later the leader probes n2 from m.
    assert!(matches!(c.propose(1, b"b"), Proposal::Accepted { .. }));
    c.take(|e| e.to == n(2));
    c.deliver_all();
    let out = c.ticks(1, hb);
    let probes: Vec<(u64, u32)> = appends(&out)
        .iter()
        .filter(|(to, _)| *to == n(2))
        .map(|(_, a)| (a.prev_index.0, a.entries.0))
        .collect();
    assert_eq!(probes, vec![(m, 1)], "{out:?}");
    let probe = c.take(|e| e.to == n(2));

    // The delayed answer arrives: no news, nothing sent to n2.
    let out = c.deliver(&late[0]);
    let to_n2: Vec<_> = sends(&out)
        .into_iter()
        .filter(|(to, _)| *to == n(2))
        .collect();
    assert!(to_n2.is_empty(), "{to_n2:?}");
    // The probe gets through and n2 catches up.
    for e in &probe {
        c.deliver(e);
    }
    c.deliver_all();
    c.heartbeat(1);
    assert_eq!(c.node(2).log(), c.node(1).log());
}

/// Two leaders in one term cannot happen, nor entries whose terms go down: an append that
/// shows either (forged or corrupt) is ignored and counted, by a leader and a follower alike.
#[test]
fn an_impossible_append_is_ignored_and_counted() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.heartbeat(1);
    let none = Ents::none();
    // The leader of term 1 hears of another leader of term 1.
    let ignored = c.raft(1).stats().ignored_unexpected;
    let out = c.recv(1, 2, append(1, 1, 1, 1, &none));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(c.role(1), Role::Leader);
    assert_eq!(c.raft(1).stats().ignored_unexpected, ignored + 1);
    // A follower is sent entries whose terms go down.
    let ignored = c.raft(2).stats().ignored_unexpected;
    let down = Ents::terms(2, &[1, 0]);
    let out = c.recv(2, 1, append(1, 1, 1, 1, &down));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(c.raft(2).last_index(), i(1));
    assert_eq!(c.raft(2).stats().ignored_unexpected, ignored + 1);
}

#[test]
fn lost_append_is_sent_again_within_two_heartbeats() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.deliver_all();
    c.crash(3);
    c.propose(1, b"x");
    let lost = c.take(|e| e.to == n(2));
    assert_eq!(lost.len(), 1);
    assert_eq!(c.commit(1), 1);
    c.heartbeat(1);
    c.heartbeat(1);
    assert_eq!(c.commit(1), 2, "the entry was re-sent and acknowledged");
    assert_eq!(c.node(2).log_terms(), vec![1, 1]);
}

#[test]
fn follower_persists_the_new_term_from_an_append_before_acknowledging() {
    let mut c = follower_with(1, &[1]);
    let ents = Ents::terms(2, &[2]);
    let out = c.recv(2, 1, append(2, 1, 1, 0, &ents));
    let p = position(&out, |o| matches!(o, raftcore::Output::Persist(_))).unwrap();
    let s = position(&out, |o| matches!(o, raftcore::Output::Send { .. })).unwrap();
    assert!(p < s, "{out:?}");
    assert_eq!(
        persists(&out)[0].hard_state,
        Some(HardState {
            term: t(2),
            vote: None
        })
    );
}
