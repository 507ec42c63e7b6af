//! Leader election: Figure 2 ("Rules for Servers", "RequestVote RPC") and section 5.2.
//! One test per rule, named after it, in the style of etcd's raft_paper_test.go.

use crate::common::*;
use raftcore::{HardState, Message, Output, Role, VoteRequest, VoteResponse};

#[test]
fn follower_does_not_start_an_election_before_its_election_timeout() {
    let mut c = Cluster::new(3);
    let k = c.ticks_to_timeout(1);
    let out = c.ticks(1, k - 1);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!((c.role(1), c.term(1)), (Role::Follower, 0));
}

#[test]
fn follower_starts_an_election_when_its_election_times_out() {
    let mut c = Cluster::new(3);
    let out = c.tick_until_campaign(1);
    assert_eq!(c.role(1), Role::Candidate);
    assert_eq!(
        role_changes(&out),
        vec![(Role::Candidate, t(1), None)],
        "the role change is an output"
    );
}

#[test]
fn candidate_increments_term_votes_for_itself_and_requests_votes_from_all_on_conversion() {
    let mut c = Cluster::with_logs(&[(4, vec![1, 4]), (4, vec![1, 4]), (4, vec![1, 4])], |_| {});
    let out = c.tick_until_campaign(1);
    let hs = HardState {
        term: t(5),
        vote: Some(n(1)),
    };
    assert_eq!(c.raft(1).hard_state(), hs);
    assert_eq!(persists(&out)[0].hard_state, Some(hs));
    let req = Message::Vote(VoteRequest {
        term: t(5),
        last_index: i(2),
        last_term: t(4),
    });
    assert_eq!(sends(&out), vec![(n(2), req), (n(3), req)]);
    // The election timer was reset: a whole new timeout before the next election.
    assert!(c.ticks_to_timeout(1) >= c.node(1).cfg.election_ticks);
}

#[test]
fn election_timeouts_are_randomized_between_election_ticks_and_twice_that() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..200u64 {
        let c = Cluster::with_config(3, |cfg| cfg.seed = seed);
        let k = c.ticks_to_timeout(1);
        assert!((10..20).contains(&k), "seed {seed}: timeout {k}");
        seen.insert(k);
    }
    assert!(seen.len() >= 8, "timeouts barely vary: {seen:?}");
    // Different nodes of one cluster draw different timeouts (seeds differ per node).
    let c = Cluster::new(5);
    let ks: std::collections::BTreeSet<u32> =
        c.ids().iter().map(|&id| c.ticks_to_timeout(id)).collect();
    assert!(ks.len() >= 2, "all five nodes time out together: {ks:?}");
}

#[test]
fn candidate_becomes_leader_on_votes_from_a_majority() {
    // (cluster size, votes received: (from, granted), role afterwards)
    type Case = (u32, &'static [(u32, bool)], Role);
    let cases: &[Case] = &[
        (1, &[], Role::Leader),
        (3, &[(2, true), (3, true)], Role::Leader),
        (3, &[(2, true)], Role::Leader),
        (3, &[(2, false)], Role::Candidate),
        (
            5,
            &[(2, true), (3, true), (4, true), (5, true)],
            Role::Leader,
        ),
        (5, &[(2, true), (3, true)], Role::Leader),
        (5, &[(2, true)], Role::Candidate),
        (5, &[(2, true), (3, false), (4, false)], Role::Candidate),
        (5, &[], Role::Candidate),
    ];
    for (size, votes, want) in cases {
        let mut c = Cluster::new(*size);
        c.tick_until_campaign(1);
        for &(from, granted) in *votes {
            c.recv(1, from, vote_resp(1, granted));
        }
        assert_eq!(c.role(1), *want, "size {size} votes {votes:?}");
        assert_eq!(c.term(1), 1);
        // Counted once, however many grants come after the majority.
        let became = c.raft(1).stats().became_leader;
        assert_eq!(became, u64::from(*want == Role::Leader), "size {size}");
    }
}

#[test]
fn candidate_returns_to_follower_when_a_majority_refuses() {
    for (size, refusals) in [(3u32, &[2u32, 3][..]), (5, &[2, 3, 4])] {
        let mut c = Cluster::new(size);
        c.tick_until_campaign(1);
        for &from in refusals {
            c.recv(1, from, vote_resp(1, false));
        }
        assert_eq!((c.role(1), c.term(1)), (Role::Follower, 1), "size {size}");
    }
}

#[test]
fn candidate_falls_back_to_follower_on_append_from_a_leader_of_its_term() {
    let mut c = Cluster::new(3);
    c.tick_until_campaign(1);
    let none = Ents::none();
    let out = c.recv(1, 2, append(1, 0, 0, 0, &none));
    assert_eq!(
        (c.role(1), c.term(1), c.raft(1).leader()),
        (Role::Follower, 1, Some(n(2)))
    );
    assert_eq!(role_changes(&out), vec![(Role::Follower, t(1), Some(n(2)))]);
    let resps = append_resps(&out);
    assert_eq!(resps.len(), 1);
    assert!(resps[0].1.success, "{resps:?}");
}

#[test]
fn candidate_starts_a_new_election_when_its_election_times_out() {
    let mut c = Cluster::new(3);
    c.tick_until_campaign(1);
    c.drain();
    let out = c.tick_until_campaign(1);
    assert_eq!((c.role(1), c.term(1)), (Role::Candidate, 2));
    assert_eq!(
        persists(&out)[0].hard_state,
        Some(HardState {
            term: t(2),
            vote: Some(n(1))
        })
    );
    let req = Message::Vote(VoteRequest {
        term: t(2),
        last_index: i(0),
        last_term: t(0),
    });
    assert_eq!(sends(&out), vec![(n(2), req), (n(3), req)]);
}

/// A vote is for one term: a candidate that starts a new election forgets the grants and
/// refusals of its last one, and wins or loses on the answers of the new term alone.
#[test]
fn a_new_election_counts_only_the_answers_of_its_own_term() {
    // Grants: n2's of term 1 does not help in term 2.
    let mut c = Cluster::new(5);
    c.tick_until_campaign(1);
    c.drain();
    c.recv(1, 2, vote_resp(1, true));
    assert_eq!((c.role(1), c.term(1)), (Role::Candidate, 1));
    c.tick_until_campaign(1);
    c.drain();
    assert_eq!((c.role(1), c.term(1)), (Role::Candidate, 2));
    c.recv(1, 3, vote_resp(2, true));
    assert_eq!(
        (c.role(1), c.term(1)),
        (Role::Candidate, 2),
        "2 of 5 in term 2"
    );
    c.recv(1, 4, vote_resp(2, true));
    assert_eq!((c.role(1), c.term(1)), (Role::Leader, 2));

    // Refusals: n4's and n5's of term 1 do not count against it in term 2.
    let mut c = Cluster::new(5);
    c.tick_until_campaign(1);
    c.drain();
    c.recv(1, 4, vote_resp(1, false));
    c.recv(1, 5, vote_resp(1, false));
    assert_eq!((c.role(1), c.term(1)), (Role::Candidate, 1));
    c.tick_until_campaign(1);
    c.drain();
    c.recv(1, 2, vote_resp(2, false));
    assert_eq!(
        (c.role(1), c.term(1)),
        (Role::Candidate, 2),
        "1 of 5 refused in term 2"
    );
    c.recv(1, 3, vote_resp(2, false));
    c.recv(1, 4, vote_resp(2, false));
    assert_eq!((c.role(1), c.term(1)), (Role::Follower, 2));
}

#[test]
fn split_vote_is_resolved_by_a_new_election_after_a_randomized_timeout() {
    let mut c = Cluster::new(3);
    c.crash(3);
    // n1 and n2 campaign in term 1 and each refuses the other: nobody wins.
    c.tick_until_campaign(1);
    c.tick_until_campaign(2);
    c.deliver_all();
    assert_eq!((c.role(1), c.role(2)), (Role::Candidate, Role::Candidate));
    assert_eq!((c.term(1), c.term(2)), (1, 1));
    // Their timeouts differ; whoever times out first wins term 2.
    let (k1, k2) = (c.ticks_to_timeout(1), c.ticks_to_timeout(2));
    assert_ne!(k1, k2, "the seeds give equal timeouts; pick others");
    let (first, second) = if k1 < k2 { (1, 2) } else { (2, 1) };
    c.tick_until_campaign(first);
    c.deliver_all();
    assert_eq!((c.role(first), c.term(first)), (Role::Leader, 2));
    assert_eq!((c.role(second), c.term(second)), (Role::Follower, 2));
    assert_eq!(c.raft(second).leader(), Some(n(first)));
}

#[test]
fn node_updates_its_term_and_becomes_follower_on_any_message_with_a_higher_term() {
    // From each role, an AppendEntries or an answer of a higher term.
    for role in [Role::Follower, Role::Candidate, Role::Leader] {
        for via_response in [false, true] {
            let mut c = Cluster::new(3);
            match role {
                Role::Follower => {}
                Role::Candidate => {
                    c.tick_until_campaign(1);
                }
                _ => c.elect(1),
            }
            c.drain();
            let none = Ents::none();
            let out = if via_response {
                let msg = match role {
                    Role::Leader => append_resp(7, false, 0, 0),
                    _ => vote_resp(7, false),
                };
                c.recv(1, 2, msg)
            } else {
                c.recv(1, 2, append(7, 0, 0, 0, &none))
            };
            let r = c.raft(1);
            assert_eq!(
                (r.role(), r.term().0, r.hard_state().vote),
                (Role::Follower, 7, None),
                "{role:?} response={via_response}"
            );
            let hs = persists(&out)[0].hard_state;
            assert_eq!(
                hs,
                Some(HardState {
                    term: t(7),
                    vote: None
                })
            );
            let want_leader = if via_response { None } else { Some(n(2)) };
            assert_eq!(r.leader(), want_leader);
        }
    }
}

/// A message of an older term changes nothing (Figure 2) and is counted as stale, one
/// count per message, whatever its kind.
#[test]
fn every_message_of_a_stale_term_changes_nothing_and_is_counted() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.heartbeat(1);
    let hs = c.raft(2).hard_state();
    let none = Ents::none();
    let stale = [
        vote_req(0, 9, 9),
        vote_resp(0, true),
        append(0, 0, 0, 0, &none),
        append_resp(0, true, 1, 0),
        timeout_now(0),
    ];
    for (k, msg) in stale.into_iter().enumerate() {
        let before = c.raft(2).stats().stale_term;
        c.recv(2, 1, msg);
        assert_eq!(c.raft(2).stats().stale_term, before + 1, "message {k}");
        assert_eq!(c.raft(2).hard_state(), hs, "message {k}");
        assert_eq!(
            (c.role(2), c.raft(2).leader()),
            (Role::Follower, Some(n(1)))
        );
    }
}

#[test]
fn voter_refuses_a_vote_request_with_a_stale_term_and_answers_its_own_term() {
    let mut c = Cluster::with_logs(&[(3, vec![]), (3, vec![]), (3, vec![])], |_| {});
    let out = c.recv(2, 1, vote_req(2, 5, 2));
    assert_eq!(
        sends(&out),
        vec![(
            n(1),
            Message::VoteResponse(VoteResponse {
                term: t(3),
                granted: false
            })
        )]
    );
    assert!(persists(&out).is_empty(), "nothing changed: {out:?}");
    assert_eq!(
        c.raft(2).hard_state(),
        HardState {
            term: t(3),
            vote: None
        }
    );
}

#[test]
fn voter_grants_at_most_one_vote_per_term_and_repeats_it_to_the_same_candidate() {
    let mut c = Cluster::new(3);
    let granted = |out: &[Output]| {
        vote_resps(out)
            .iter()
            .map(|r| r.1.granted)
            .collect::<Vec<_>>()
    };
    let out = c.recv(2, 1, vote_req(1, 0, 0));
    assert_eq!(granted(&out), vec![true]);
    let out = c.recv(2, 3, vote_req(1, 0, 0));
    assert_eq!(
        granted(&out),
        vec![false],
        "a second candidate in the same term"
    );
    let out = c.recv(2, 1, vote_req(1, 0, 0));
    assert_eq!(granted(&out), vec![true], "the same candidate asking again");
    assert_eq!(c.raft(2).hard_state().vote, Some(n(1)));
    // A new term frees the vote.
    let out = c.recv(2, 3, vote_req(2, 0, 0));
    assert_eq!(granted(&out), vec![true]);
}

#[test]
fn voter_grants_only_to_candidates_whose_log_is_at_least_as_up_to_date() {
    // The voter's log is [1, 2]: last entry (index 2, term 2). Section 5.4.1: compare the last
    // terms; with equal last terms, the longer log is more up to date.
    let cases = [
        ((1, 2), false), // same last term, shorter
        ((2, 2), true),  // identical
        ((3, 2), true),  // same last term, longer
        ((5, 1), false), // longer but older last term
        ((1, 3), true),  // shorter but newer last term
        ((0, 0), false), // empty
    ];
    for ((last_index, last_term), want) in cases {
        let mut c =
            Cluster::with_logs(&[(2, vec![1, 2]), (2, vec![1, 2]), (2, vec![1, 2])], |_| {});
        let out = c.recv(2, 1, vote_req(3, last_index, last_term));
        let resps = vote_resps(&out);
        assert_eq!(
            resps,
            vec![(
                n(1),
                VoteResponse {
                    term: t(3),
                    granted: want
                }
            )],
            "candidate log ends at ({last_index}, {last_term})"
        );
        let vote = if want { Some(n(1)) } else { None };
        assert_eq!(c.raft(2).hard_state(), HardState { term: t(3), vote });
    }
}

#[test]
fn follower_resets_election_timer_on_append_from_current_leader() {
    let logs = [(1, vec![1]), (1, vec![1]), (1, vec![1])];
    let mut c = Cluster::with_logs(&logs, |_| {});
    let k = c.ticks_to_timeout(2);
    c.ticks(2, k - 1);
    assert_eq!(
        c.ticks_to_timeout(2),
        1,
        "one more tick would start an election"
    );
    let none = Ents::none();
    c.recv(2, 1, append(1, 1, 1, 0, &none));
    assert_eq!(c.ticks_to_timeout(2), k, "a whole timeout again");
    let out = c.ticks(2, k - 1);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(c.role(2), Role::Follower);
}

#[test]
fn follower_does_not_reset_election_timer_on_append_from_a_stale_leader() {
    let logs = [(1, vec![1]), (2, vec![1]), (1, vec![1])];
    let mut c = Cluster::with_logs(&logs, |_| {});
    let k = c.ticks_to_timeout(2);
    c.ticks(2, k - 1);
    let none = Ents::none();
    let out = c.recv(2, 1, append(1, 1, 1, 0, &none));
    let resps = append_resps(&out);
    assert_eq!(resps.len(), 1);
    assert_eq!((resps[0].1.term, resps[0].1.success), (t(2), false));
    assert_eq!(c.ticks_to_timeout(2), 1);
    assert_eq!(c.raft(2).leader(), None);
}

#[test]
fn follower_resets_election_timer_when_granting_a_vote() {
    // Same term throughout, so no term change resets the timer on its own.
    let logs = [(1, vec![1]), (1, vec![1]), (1, vec![1])];
    let mut c = Cluster::with_logs(&logs, |_| {});
    let k = c.ticks_to_timeout(2);
    c.ticks(2, k - 1);
    let out = c.recv(2, 1, vote_req(1, 1, 1));
    assert_eq!(
        vote_resps(&out),
        vec![(
            n(1),
            VoteResponse {
                term: t(1),
                granted: true
            }
        )]
    );
    let after = c.ticks_to_timeout(2);
    assert!(after >= 10, "timer not reset: {after} ticks left");
    let out = c.ticks(2, after - 1);
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn follower_does_not_reset_election_timer_when_refusing_a_vote() {
    let logs = [(1, vec![1]), (1, vec![1]), (1, vec![])];
    let mut c = Cluster::with_logs(&logs, |_| {});
    let k = c.ticks_to_timeout(2);
    c.ticks(2, k - 1);
    let out = c.recv(2, 3, vote_req(1, 0, 0));
    assert_eq!(
        vote_resps(&out),
        vec![(
            n(3),
            VoteResponse {
                term: t(1),
                granted: false
            }
        )]
    );
    assert_eq!(c.ticks_to_timeout(2), 1);
}

#[test]
fn follower_does_not_reset_election_timer_on_a_higher_terms_vote_request_it_refuses() {
    // Figure 2: only a vote granted or the current leader heard restarts the timer. A higher
    // term alone does not: a candidate whose log is behind, campaigning again and again,
    // would otherwise keep the nodes that can win from ever timing out first.
    let logs = [(1, vec![1]), (1, vec![1]), (1, vec![])];
    let mut c = Cluster::with_logs(&logs, |_| {});
    let k = c.ticks_to_timeout(2);
    c.ticks(2, k - 1);
    let out = c.recv(2, 3, vote_req(2, 0, 0));
    assert_eq!(
        vote_resps(&out),
        vec![(
            n(3),
            VoteResponse {
                term: t(2),
                granted: false
            }
        )]
    );
    assert_eq!(c.raft(2).hard_state().term, t(2));
    assert_eq!(c.ticks_to_timeout(2), 1);
}

#[test]
fn leader_appends_an_empty_entry_of_its_term_on_election_and_sends_it_to_every_follower() {
    let mut c = Cluster::new(3);
    c.tick_until_campaign(1);
    let votes = c.drain();
    for v in &votes {
        c.deliver(v);
    }
    // The grants are in flight; the first makes n1 leader.
    let grant = c.take(|e| e.from == n(2));
    let out = c.deliver(&grant[0]);
    assert_eq!(c.role(1), Role::Leader);
    assert_eq!(role_changes(&out), vec![(Role::Leader, t(1), Some(n(1)))]);
    let p = persists(&out);
    assert_eq!(p.len(), 1);
    let e = p[0].entries.expect("the empty entry");
    assert_eq!((e.first, e.count), (i(1), 1));
    assert_eq!(e.from, raftcore::NewEntriesFrom::Empty { term: t(1) });
    let a = appends(&out);
    assert_eq!(a.iter().map(|x| x.0).collect::<Vec<_>>(), vec![n(2), n(3)]);
    for (_, app) in a {
        assert_eq!(
            (app.term, app.prev_index, app.prev_term, app.entries.0),
            (t(1), i(0), t(0), 1)
        );
    }
}

#[test]
fn leader_sends_heartbeats_to_every_follower_each_heartbeat_interval_when_idle() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.deliver_all();
    let hb = c.node(1).cfg.heartbeat_ticks;
    for round in 0..3 {
        let quiet = c.ticks(1, hb - 1);
        assert!(quiet.is_empty(), "round {round}: {quiet:?}");
        let out = c.tick(1);
        let a = appends(&out);
        assert_eq!(a.len(), 2, "round {round}: {out:?}");
        for (to, app) in a {
            assert_eq!(app.entries.0, 0, "a heartbeat carries no entries");
            assert_eq!(
                (app.prev_index, app.prev_term, app.commit),
                (i(1), t(1), i(1)),
                "to {to}"
            );
        }
        c.deliver_all();
    }
    assert_eq!((c.role(2), c.role(3)), (Role::Follower, Role::Follower));
}
