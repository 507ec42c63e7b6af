//! Safety: section 5.4 (election restriction, committing entries from previous terms,
//! Leader Completeness) with the paper's Figure 7 and Figure 8 scenarios.

use crate::common::*;
use raftcore::{Proposal, Role};

/// Figure 7: the leader of term 8 and the six possible follower logs (a) to (f).
fn figure7() -> Cluster {
    let logs = [
        (7, vec![1, 1, 1, 4, 4, 5, 5, 6, 6, 6]),    // the leader (n1)
        (6, vec![1, 1, 1, 4, 4, 5, 5, 6, 6]),       // (a) missing entries
        (4, vec![1, 1, 1, 4]),                      // (b) missing entries
        (6, vec![1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]), // (c) extra uncommitted entry
        (7, vec![1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]), // (d) extra entries of term 7
        (4, vec![1, 1, 1, 4, 4, 4, 4]),             // (e) missing and extra entries
        (3, vec![1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]), // (f) missing and extra entries
    ];
    Cluster::with_logs(&logs, |_| {})
}

#[test]
fn figure7_follower_logs_a_to_f_converge_to_the_leaders_log() {
    let mut c = figure7();
    c.tick_until_campaign(1);
    assert_eq!(c.term(1), 8);
    c.deliver_all();
    assert_eq!(c.role(1), Role::Leader);
    c.heartbeat(1);
    let want = vec![1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 8];
    assert_eq!(c.node(1).log_terms(), want);
    c.assert_same_logs(&c.ids());
    for id in c.ids() {
        assert_eq!((c.term(id), c.commit(id)), (8, 11), "n{id}");
        assert_eq!(c.raft(id).leader(), Some(n(1)), "n{id}");
        assert_eq!(c.node(id).applied_index(), i(11), "n{id}");
        // Fast backtracking: at most one rejection per follower.
        assert!(
            c.raft(id).stats().appends_rejected <= 1,
            "n{id}: {:?}",
            c.raft(id).stats()
        );
    }
}

#[test]
fn figure7_leader_is_elected_by_the_followers_whose_logs_are_not_more_up_to_date() {
    let mut c = figure7();
    c.tick_until_campaign(1);
    let reqs = c.drain();
    for r in &reqs {
        c.deliver(r);
    }
    let mut votes: Vec<(u32, bool)> = c
        .drain()
        .iter()
        .map(|e| match e.msg {
            raftcore::Message::VoteResponse(r) => (e.from.0, r.granted),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    votes.sort();
    // (c) and (d) have more up-to-date logs (5.4.1) and refuse.
    assert_eq!(
        votes,
        vec![
            (2, true),
            (3, true),
            (4, false),
            (5, false),
            (6, true),
            (7, true)
        ]
    );
}

/// Figure 8 at (c): S1 leads term 4 with [1, 2] plus its empty entry of term 4 at index 3;
/// S2 holds [1, 2], S3 and S4 hold [1], S5 holds [1, 3] from its short reign in term 3.
fn figure8_c() -> Cluster {
    let logs = [
        (3, vec![1, 2]),
        (3, vec![1, 2]),
        (3, vec![1]),
        (3, vec![1]),
        (3, vec![1, 3]),
    ];
    let mut c = Cluster::with_logs(&logs, |_| {});
    c.crash(4);
    c.crash(5);
    c.tick_until_campaign(1);
    // Only the election: the appends it triggers are lost.
    for _ in 0..2 {
        let votes = c.take(|e| !e.is_append());
        for v in &votes {
            c.deliver(v);
        }
    }
    assert_eq!((c.role(1), c.term(1)), (Role::Leader, 4));
    c.drain();
    assert_eq!(c.node(1).log_terms(), vec![1, 2, 4]);
    c
}

#[test]
fn leader_commits_only_entries_of_its_current_term_by_counting_replicas() {
    let mut c = figure8_c();
    // Index 2 (term 2) reaches S2 and S3: three of five servers hold it. Counting replicas
    // must not commit it, because S5 could still be elected and overwrite it (Figure 8 (d)).
    let out2 = c.recv(1, 2, append_resp(4, true, 2, 0));
    let out3 = c.recv(1, 3, append_resp(4, true, 2, 0));
    assert_eq!(c.raft(1).match_index(n(2)), Some(i(2)));
    assert_eq!(c.raft(1).match_index(n(3)), Some(i(2)));
    assert_eq!(
        c.commit(1),
        0,
        "an entry of term 2 is never committed by counting"
    );
    assert!(applies(&out2).is_empty() && applies(&out3).is_empty());
    // The empty entry of term 4 on S1 and S2 only: two of five.
    c.recv(1, 2, append_resp(4, true, 3, 0));
    assert_eq!(c.commit(1), 0);
    // On S3 too: a majority holds an entry of the current term, which commits it and,
    // indirectly, everything before it (Figure 8 (e)).
    let out = c.recv(1, 3, append_resp(4, true, 3, 0));
    assert_eq!(c.commit(1), 3);
    assert_eq!(applies(&out), vec![(1, 3)]);
}

#[test]
fn figure8_d_entry_of_an_earlier_term_on_a_majority_can_still_be_overwritten() {
    // S1 crashed before its term-4 entry reached anyone; index 2 (term 2) is on S1, S2, S3.
    let logs = [
        (4, vec![1, 2, 4]),
        (4, vec![1, 2]),
        (4, vec![1, 2]),
        (4, vec![1]),
        (4, vec![1, 3]),
    ];
    let mut c = Cluster::with_logs(&logs, |_| {});
    c.crash(1);
    // S5's last term (3) beats S2's and S3's (2): S2, S3 and S4 elect it in term 5.
    c.elect(5);
    assert_eq!(c.term(5), 5);
    c.heartbeat(5);
    for id in 2..=5 {
        assert_eq!(c.node(id).log_terms(), vec![1, 3, 5], "n{id}");
        assert_eq!(c.commit(id), 3, "n{id}");
    }
    // S1 comes back and its index 2 and 3 are overwritten too: they were never committed.
    c.restart(1);
    c.heartbeat(5);
    assert_eq!(c.node(1).log_terms(), vec![1, 3, 5]);
    let applied: Vec<u64> = c.node(1).applied.iter().map(|a| a.1 .0).collect();
    assert_eq!(
        applied,
        vec![1, 3, 5],
        "S1 applied the committed entries only"
    );
}

#[test]
fn figure8_e_once_an_entry_of_its_term_is_committed_no_out_of_date_candidate_can_win() {
    let mut c = figure8_c();
    c.heartbeat(1);
    c.heartbeat(1);
    for id in 1..=3 {
        assert_eq!(c.node(id).log_terms(), vec![1, 2, 4], "n{id}");
        assert_eq!(c.commit(id), 3, "n{id}");
    }
    // S1 crashes; S5 (last term 3) comes back and campaigns: S2 and S3 refuse.
    c.crash(1);
    c.restart(5);
    c.restart(4);
    c.tick_until_campaign(5);
    c.deliver_all();
    assert_ne!(c.role(5), Role::Leader);
    // Only S2 or S3 can win, and the committed entries survive.
    c.elect(2);
    c.heartbeat(2);
    for id in 2..=5 {
        assert_eq!(&c.node(id).log_terms()[..3], &[1, 2, 4], "n{id}");
    }
}

#[test]
fn candidate_with_an_out_of_date_log_cannot_win_an_election() {
    // n3 missed the entries n1 and n2 committed.
    let mut c = Cluster::new(3);
    c.elect(1);
    c.cut.insert((1, 3));
    for k in 0..3u8 {
        c.propose(1, &[k]);
    }
    c.deliver_all();
    assert_eq!(c.commit(1), 4);
    c.crash(1);
    c.heal();
    let out = c.tick_until_campaign(3);
    assert_eq!(sends(&out).len(), 2);
    c.deliver_all();
    assert_eq!(c.role(3), Role::Candidate, "n2 refused: n3's log is behind");
    assert_eq!(c.raft(2).hard_state().vote, None);
    // n2 wins the next term and brings n3 up to date.
    c.elect(2);
    c.heartbeat(2);
    assert_eq!(c.node(3).log_terms(), c.node(2).log_terms());
    assert_eq!(c.node(3).applied_data(), vec![vec![0], vec![1], vec![2]]);
}

#[test]
fn every_new_leader_holds_every_entry_committed_before_its_term() {
    // Leader Completeness across three successive leaders with crashes in between.
    let mut c = Cluster::new(5);
    let mut committed: Vec<Vec<u8>> = Vec::new();
    for (round, leader) in [1u32, 2, 3].into_iter().enumerate() {
        c.elect(leader);
        // Leader Completeness: the new leader already holds every committed command.
        let have: Vec<Vec<u8>> = c.node(leader).log().into_iter().map(|e| e.1).collect();
        for d in &committed {
            assert!(have.contains(d), "leader n{leader} lacks {d:?}");
        }
        c.heartbeat(leader);
        // Replicate to a bare majority: the leader and the next two nodes.
        let others: Vec<u32> = c.ids().into_iter().filter(|&id| id != leader).collect();
        for &o in &others[2..] {
            c.isolate(o);
        }
        let data = vec![round as u8; 3];
        assert!(matches!(
            c.propose(leader, &data),
            Proposal::Accepted { .. }
        ));
        c.deliver_all();
        c.heartbeat(leader);
        committed.push(data);
        assert_eq!(c.node(leader).applied_data(), committed);
        c.heal();
        // The leader crashes and restarts as a follower.
        c.crash_restart(leader);
    }
    // n5 missed every command: it cannot win. n1 holds them all and can.
    c.tick_until_campaign(5);
    c.deliver_all();
    assert_ne!(c.role(5), Role::Leader);
    c.elect(1);
    c.heartbeat(1);
    let cmds: Vec<Vec<u8>> = c
        .node(5)
        .log()
        .into_iter()
        .map(|e| e.1)
        .filter(|d| d.len() == 3)
        .collect();
    assert_eq!(
        cmds, committed,
        "n5 caught up with every committed command, in order"
    );
}
