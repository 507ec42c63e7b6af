//! PreVote and CheckQuorum (Raft thesis 9.6 and 6.2 / 4.2.3): a partitioned node cannot
//! disrupt a healthy cluster, and a leader that lost its majority steps down.

use crate::common::*;
use raftcore::{HardState, Message, Role, VoteRequest, VoteResponse};

fn prevote_logs() -> Cluster {
    let logs = [(2, vec![1, 2]), (2, vec![1, 2]), (2, vec![1, 2])];
    Cluster::with_logs(&logs, |cfg| cfg.pre_vote = true)
}

#[test]
fn precandidate_asks_for_prevotes_in_the_next_term_without_changing_its_own() {
    let mut c = prevote_logs();
    let out = c.tick_until_campaign(1);
    assert_eq!((c.role(1), c.term(1)), (Role::PreCandidate, 2));
    assert_eq!(
        c.raft(1).hard_state(),
        HardState {
            term: t(2),
            vote: None
        }
    );
    assert!(
        persists(&out).is_empty(),
        "a PreVote persists nothing: {out:?}"
    );
    let req = Message::PreVote(VoteRequest {
        term: t(3),
        last_index: i(2),
        last_term: t(2),
    });
    assert_eq!(sends(&out), vec![(n(2), req), (n(3), req)]);
}

/// Thesis 9.6: a PreVote asks "would you vote for me in the next term"; a voter grants it only
/// for a term later than its own. In its own term it may already have voted (or may yet vote
/// for another candidate), so a PreVote for that term is refused even with an up-to-date log.
#[test]
fn prevote_is_refused_for_a_term_no_later_than_the_voters_own() {
    let mut c = prevote_logs();
    let out = c.recv(2, 1, pre_vote_req(2, 2, 2));
    assert_eq!(
        sends(&out),
        vec![(
            n(1),
            Message::PreVoteResponse(VoteResponse {
                term: t(2),
                granted: false
            })
        )]
    );
    // The next term is granted: the log was up to date, only the term decided.
    let out = c.recv(2, 1, pre_vote_req(3, 2, 2));
    assert!(vote_resps(&out)[0].1.granted, "{out:?}");
}

/// A pre-candidate counts only PreVote responses: refusals of a real election in its term
/// (late answers to an earlier campaign) say nothing about its PreVote round and must not end
/// it.
#[test]
fn precandidate_does_not_count_real_vote_responses_of_its_term() {
    let mut c = prevote_logs();
    c.tick_until_campaign(1);
    c.drain();
    assert_eq!((c.role(1), c.term(1)), (Role::PreCandidate, 2));
    let ignored = c.raft(1).stats().ignored_unexpected;
    c.recv(1, 2, vote_resp(2, false));
    c.recv(1, 3, vote_resp(2, false));
    assert_eq!((c.role(1), c.term(1)), (Role::PreCandidate, 2));
    assert_eq!(
        c.raft(1).stats().ignored_unexpected,
        ignored + 2,
        "each ignored response is counted"
    );
    // Its PreVote round still runs: one grant of the others wins it.
    c.recv(1, 2, pre_vote_resp(3, true));
    assert_eq!((c.role(1), c.term(1)), (Role::Candidate, 3));
}

#[test]
fn prevote_grant_changes_neither_the_voters_term_nor_its_vote() {
    let mut c = prevote_logs();
    let out = c.recv(2, 1, pre_vote_req(3, 2, 2));
    assert_eq!(
        sends(&out),
        vec![(
            n(1),
            Message::PreVoteResponse(VoteResponse {
                term: t(3),
                granted: true
            })
        )]
    );
    assert!(persists(&out).is_empty(), "{out:?}");
    assert_eq!(
        c.raft(2).hard_state(),
        HardState {
            term: t(2),
            vote: None
        }
    );
    // And the voter can still give its real vote to someone else in term 3.
    let out = c.recv(2, 3, vote_req(3, 2, 2));
    assert!(vote_resps(&out)[0].1.granted);
}

#[test]
fn prevote_is_refused_to_a_node_whose_log_is_behind() {
    let mut c = prevote_logs();
    let out = c.recv(2, 1, pre_vote_req(3, 1, 1));
    assert_eq!(
        vote_resps(&out),
        vec![(
            n(1),
            VoteResponse {
                term: t(2),
                granted: false
            }
        )]
    );
    assert_eq!(c.term(2), 2);
}

#[test]
fn precandidate_becomes_candidate_after_prevotes_from_a_majority() {
    let mut c = prevote_logs();
    c.tick_until_campaign(1);
    let out = c.recv(1, 2, pre_vote_resp(3, true));
    assert_eq!((c.role(1), c.term(1)), (Role::Candidate, 3));
    assert_eq!(
        persists(&out)[0].hard_state,
        Some(HardState {
            term: t(3),
            vote: Some(n(1))
        })
    );
    let req = Message::Vote(VoteRequest {
        term: t(3),
        last_index: i(2),
        last_term: t(2),
    });
    assert_eq!(sends(&out), vec![(n(2), req), (n(3), req)]);
    c.deliver_all();
    assert_eq!(c.role(1), Role::Leader);
}

#[test]
fn precandidate_returns_to_follower_when_a_majority_refuses_prevotes() {
    let mut c = prevote_logs();
    c.tick_until_campaign(1);
    c.recv(1, 2, pre_vote_resp(2, false));
    c.recv(1, 3, pre_vote_resp(2, false));
    assert_eq!((c.role(1), c.term(1)), (Role::Follower, 2));
}

#[test]
fn partitioned_node_does_not_disrupt_the_leader_when_it_rejoins() {
    for (pre_vote, check_quorum) in [(true, true), (true, false)] {
        let mut c = Cluster::with_config(3, |cfg| {
            cfg.pre_vote = pre_vote;
            cfg.check_quorum = check_quorum;
        });
        c.elect(1);
        c.heartbeat(1);
        c.isolate(3);
        // The cluster moves on without n3 (so n3's log is behind).
        c.propose(1, b"x");
        c.deliver_all();
        c.heartbeat(1);
        // n3 times out again and again; with PreVote its term never moves.
        c.ticks(3, 100);
        assert_eq!(
            c.term(3),
            1,
            "pre_vote {pre_vote} check_quorum {check_quorum}"
        );
        assert_eq!(c.raft(3).stats().elections, 0);
        assert!(c.raft(3).stats().pre_votes >= 5);
        c.heal();
        c.tick_until_campaign(3);
        c.deliver_all();
        c.heartbeat(1);
        assert_eq!((c.role(1), c.term(1)), (Role::Leader, 1));
        assert_eq!(
            (c.role(3), c.raft(3).leader()),
            (Role::Follower, Some(n(1)))
        );
        assert_eq!(c.commit(3), 2);
    }
}

#[test]
fn without_prevote_a_rejoining_partitioned_node_forces_a_new_election() {
    // The contrast: what PreVote prevents.
    let mut c = Cluster::new(3);
    c.elect(1);
    c.heartbeat(1);
    c.isolate(3);
    c.ticks(3, 100);
    assert!(c.term(3) >= 5, "term {}", c.term(3));
    c.heal();
    c.heartbeat(1);
    assert_eq!(
        c.role(1),
        Role::Follower,
        "n1 stepped down on n3's higher term"
    );
}

#[test]
fn leader_steps_down_when_it_has_not_heard_from_a_majority_for_an_election_timeout() {
    let mut c = Cluster::with_config(3, |cfg| cfg.check_quorum = true);
    c.elect(1);
    c.heartbeat(1);
    c.isolate(1);
    let e = c.node(1).cfg.election_ticks;
    let mut stepped = None;
    for k in 1..=2 * e {
        let out = c.tick(1);
        c.deliver_all();
        if c.role(1) != Role::Leader {
            assert_eq!(role_changes(&out), vec![(Role::Follower, t(1), None)]);
            stepped = Some(k);
            break;
        }
    }
    let k = stepped.expect("stepped down within two election timeouts");
    assert!(
        k >= e - c.node(1).cfg.heartbeat_ticks,
        "stepped down too early: tick {k}"
    );
    assert_eq!(c.term(1), 1, "stepping down does not change the term");
    assert_eq!(c.raft(1).stats().check_quorum_step_downs, 1);
}

#[test]
fn leader_stays_leader_while_a_majority_answers_its_heartbeats() {
    let mut c = Cluster::with_config(5, |cfg| cfg.check_quorum = true);
    c.elect(1);
    c.isolate(4);
    c.isolate(5);
    for _ in 0..50 {
        c.tick(1);
        c.deliver_all();
    }
    assert_eq!((c.role(1), c.term(1)), (Role::Leader, 1));
    assert_eq!(c.raft(1).stats().check_quorum_step_downs, 0);
}

#[test]
fn leader_counts_distinct_responders_not_responses() {
    // Five voters: n2 alone answering every heartbeat twice is two responses, not a majority.
    let mut c = Cluster::with_config(5, |cfg| cfg.check_quorum = true);
    c.elect(1);
    c.isolate(3);
    c.isolate(4);
    c.isolate(5);
    for _ in 0..40 {
        c.tick(1);
        while let Some(env) = c.wire.pop_front() {
            c.deliver(&env);
            if env.from == n(2) {
                c.deliver(&env);
            }
        }
        if c.role(1) != Role::Leader {
            break;
        }
    }
    assert_eq!(c.role(1), Role::Follower);
    assert_eq!(c.raft(1).stats().check_quorum_step_downs, 1);
}

#[test]
fn follower_ignores_vote_requests_while_it_hears_from_a_leader() {
    let mut c = Cluster::with_config(3, |cfg| cfg.check_quorum = true);
    c.elect(1);
    c.heartbeat(1);
    // n3 asks for votes in term 5 with a log as good as anyone's.
    let out = c.recv(2, 3, vote_req(5, 1, 1));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(c.term(2), 1);
    assert_eq!(c.raft(2).stats().ignored_in_lease, 1);
    // The leader ignores it too.
    let out = c.recv(1, 3, vote_req(5, 1, 1));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!((c.role(1), c.term(1)), (Role::Leader, 1));
    // Once n2 has not heard from the leader for an election timeout, it votes.
    let e = c.node(2).cfg.election_ticks;
    c.isolate(1);
    c.ticks(2, e);
    let out = c.recv(2, 3, vote_req(5, 1, 1));
    assert!(vote_resps(&out)[0].1.granted, "{out:?}");
}
