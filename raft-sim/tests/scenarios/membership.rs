//! Membership change, one voter at a time (Raft thesis 4.1-4.2): learners catch up before
//! they vote, the leader may remove itself, a configuration takes effect when appended and is
//! undone with its entry, and a removed server cannot disrupt the cluster.

use crate::common::*;
use raftcore::{
    Config, Input, MemberKind, Membership, MembershipRefusal, NodeId, Output, Proposal, Role,
    State, VoteResponse, MEMBERSHIP_BYTES,
};

/// `total` nodes of which the first `voters` form the initial configuration (PreVote and
/// CheckQuorum on, as deployed); the others wait outside it.
fn cluster(total: u32, voters: u32) -> Cluster {
    cluster_with(total, voters, true)
}

/// `cluster` with PreVote and CheckQuorum both on or both off.
fn cluster_with(total: u32, voters: u32, deployed: bool) -> Cluster {
    let mut c = Cluster::with_config(total, |cfg| {
        cfg.pre_vote = deployed;
        cfg.check_quorum = deployed;
    });
    let ids: Vec<NodeId> = (1..=voters).map(NodeId).collect();
    for node in &mut c.nodes {
        node.raft = Some(State::new(node.cfg, &ids).expect("valid config"));
    }
    c.voters = ids;
    c
}

/// Asks node `id` to change the membership to `next`; returns its answer.
fn change(c: &mut Cluster, id: u32, next: Membership) -> Proposal {
    let mut buf = [0u8; MEMBERSHIP_BYTES];
    let data = next.encode(&mut buf).to_vec();
    let out = c.step(id, Input::ChangeMembership { data: &data });
    out.iter()
        .find_map(|o| match o {
            Output::Proposal(p) => Some(*p),
            _ => None,
        })
        .expect("a change is answered")
}

fn members(c: &Cluster, id: u32) -> Membership {
    *c.raft(id).membership()
}

fn accepted(p: Proposal) -> bool {
    matches!(p, Proposal::Accepted { .. })
}

/// Leader 1 of three voters with one write committed everywhere.
fn three_with_a_write(total: u32) -> Cluster {
    leader_with_a_write(cluster(total, 3))
}

fn leader_with_a_write(mut c: Cluster) -> Cluster {
    c.elect(1);
    assert!(accepted(c.propose(1, b"x=1")));
    c.deliver_all();
    c.heartbeat(1);
    c
}

#[test]
fn a_learner_catches_up_before_it_is_promoted_and_then_counts_toward_commit() {
    let mut c = three_with_a_write(4);
    // n4 waits outside the cluster: it never campaigns.
    c.ticks(4, 50);
    assert_eq!(
        (c.role(4), c.raft(4).stats().pre_votes),
        (Role::Follower, 0)
    );

    // Added as a learner while cut off: the change commits on the voters alone.
    c.isolate(4);
    let add = members(&c, 1).with_learner(n(4)).unwrap();
    assert!(accepted(change(&mut c, 1, add)));
    c.deliver_all();
    assert_eq!(c.commit(1), c.raft(1).membership_index().0);
    // It holds nothing yet: promoting it is refused until it has caught up.
    let promote = add.with_voter(n(4)).unwrap();
    assert_eq!(
        change(&mut c, 1, promote),
        Proposal::Refused(MembershipRefusal::NotCaughtUp)
    );
    c.heal();
    c.heartbeat(1);
    c.heartbeat(1);
    assert_eq!(members(&c, 4), add);
    assert_eq!(c.node(4).applied_data(), c.node(1).applied_data());
    assert!(accepted(change(&mut c, 1, promote)));
    c.deliver_all();
    c.heartbeat(1);
    for id in 1..=4 {
        assert_eq!(members(&c, id), promote, "n{id}");
    }
    // Four voters: a write needs three of them. With n3 and n4 cut off it cannot commit.
    c.isolate(3);
    c.isolate(4);
    let before = c.commit(1);
    assert!(accepted(c.propose(1, b"x=2")));
    c.deliver_all();
    assert_eq!(c.commit(1), before);
    c.heal();
    c.heartbeat(1);
    assert_eq!(c.commit(1), before + 1);
}

#[test]
fn removing_the_leader_hands_over_once_the_change_commits() {
    let mut c = three_with_a_write(3);
    let without = members(&c, 1).without(n(1));
    let Proposal::Accepted { index, .. } = change(&mut c, 1, without) else {
        panic!("the removal is accepted");
    };
    // The change takes effect at once: n1 still leads, but no longer counts itself.
    assert_eq!(members(&c, 1).kind_of(n(1)), None);
    assert_eq!(c.role(1), Role::Leader);
    // Not before the change commits: a tick meanwhile leaves it leading.
    c.tick(1);
    assert_eq!(c.role(1), Role::Leader);
    c.deliver_all();
    assert_eq!(c.raft(1).commit(), index);
    // At its next tick it hands over with TimeoutNow to a caught-up voter and steps down.
    let out = c.tick(1);
    let handed: Vec<_> = timeouts_now(&out).into_iter().map(|(to, _)| to).collect();
    assert_eq!(handed.len(), 1);
    assert_eq!(c.role(1), Role::Follower);
    c.deliver_all();
    let new = handed[0].0;
    assert_eq!(c.role(new), Role::Leader);
    // The rest of the cluster takes writes; n1 never campaigns again.
    assert!(accepted(c.propose(new, b"x=2")));
    c.deliver_all();
    c.heartbeat(new);
    let other = if new == 2 { 3 } else { 2 };
    assert_eq!(c.node(other).applied_data().last(), Some(&b"x=2".to_vec()));
    let (pre, elections) = (c.raft(1).stats().pre_votes, c.raft(1).stats().elections);
    c.isolate(1);
    c.ticks(1, 100);
    assert_eq!(
        (c.raft(1).stats().pre_votes, c.raft(1).stats().elections),
        (pre, elections)
    );
}

#[test]
fn adding_a_node_during_a_partition_commits_on_the_majority_side() {
    let mut c = three_with_a_write(4);
    // n3 is partitioned away; n1 and n2 are a majority of three.
    c.isolate(3);
    let add = members(&c, 1).with_learner(n(4)).unwrap();
    assert!(accepted(change(&mut c, 1, add)));
    c.deliver_all();
    c.heartbeat(1);
    c.heartbeat(1);
    let promote = add.with_voter(n(4)).unwrap();
    assert!(accepted(change(&mut c, 1, promote)));
    c.deliver_all();
    c.heartbeat(1);
    // Four voters, three reachable: the change and new writes commit without n3.
    assert_eq!(c.commit(1), c.raft(1).membership_index().0);
    assert!(accepted(c.propose(1, b"x=2")));
    c.deliver_all();
    c.heartbeat(1);
    assert_eq!(c.node(4).applied_data().last(), Some(&b"x=2".to_vec()));
    // The minority side cannot elect anyone meanwhile (its PreVotes fail).
    c.ticks(3, 60);
    assert_ne!(c.role(3), Role::Leader);
    assert_eq!(c.term(3), c.term(1));
    // Healed, n3 catches up and learns the new configuration.
    c.heal();
    c.heartbeat(1);
    c.heartbeat(1);
    assert_eq!(members(&c, 3), promote);
    c.assert_same_logs(&[1, 2, 3, 4]);
}

#[test]
fn a_removed_server_that_never_learned_it_cannot_disrupt_the_cluster() {
    for deployed in [true, false] {
        let mut c = cluster_with(3, 3, deployed);
        c.elect(1);
        c.isolate(3);
        let without = members(&c, 1).without(n(3));
        assert!(accepted(change(&mut c, 1, without)));
        c.deliver_all();
        c.heartbeat(1);
        assert_eq!(c.commit(1), c.raft(1).membership_index().0);
        // n3 still believes it votes; healed, it times out and campaigns again and again.
        assert_eq!(members(&c, 3).kind_of(n(3)), Some(MemberKind::Voter));
        c.heal();
        let term = c.term(1);
        for _ in 0..5 {
            c.tick_until_campaign(3);
            c.deliver_all();
        }
        // The members ignore it: same leader, same term, writes still commit.
        assert_eq!((c.role(1), c.term(1)), (Role::Leader, term), "{deployed}");
        assert!(c.raft(2).stats().ignored_non_voter > 0);
        assert!(accepted(c.propose(1, b"x=2")));
        c.deliver_all();
        c.heartbeat(1);
        assert_eq!(c.node(2).applied_data().last(), Some(&b"x=2".to_vec()));
    }
}

/// A node that is no voter here is heard when it asks for votes only with a log strictly
/// newer than this node's (it may then know a newer configuration that made it a voter); with
/// a log no newer, its request is ignored and counted, and its term changes nothing.
#[test]
fn a_non_voter_asking_for_votes_is_heard_only_with_a_strictly_newer_log() {
    let mut c = cluster_with(3, 3, false);
    c.elect(1);
    let without = members(&c, 1).without(n(3));
    assert!(accepted(change(&mut c, 1, without)));
    c.deliver_all();
    c.heartbeat(1);
    assert_eq!(members(&c, 2), without);
    let (term, last) = (c.term(2), c.raft(2).last_index().0);
    let last_term = c.raft(2).last_term().0;

    // The same last entry as n2's: ignored.
    let ignored = c.raft(2).stats().ignored_non_voter;
    let out = c.recv(2, 3, vote_req(term + 1, last, last_term));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!((c.term(2), c.raft(2).leader()), (term, Some(n(1))));
    assert_eq!(c.raft(2).stats().ignored_non_voter, ignored + 1);

    // One entry more: heard, and granted (the log is newer, the vote of the term free).
    let out = c.recv(2, 3, vote_req(term + 1, last + 1, last_term));
    assert_eq!(
        vote_resps(&out),
        vec![(
            n(3),
            VoteResponse {
                term: t(term + 1),
                granted: true
            }
        )]
    );
    assert_eq!(c.term(2), term + 1);
    assert_eq!(c.raft(2).stats().ignored_non_voter, ignored + 1);
}

#[test]
fn an_uncommitted_configuration_survives_a_crash_and_is_undone_by_truncation() {
    // (Without CheckQuorum's lease, n2 can be elected as soon as n1 is cut off.)
    let mut c = leader_with_a_write(cluster_with(4, 3, false));
    // n1 appends a change that reaches nobody, then crashes.
    c.isolate(1);
    let add = members(&c, 1).with_learner(n(4)).unwrap();
    let Proposal::Accepted { index, .. } = change(&mut c, 1, add) else {
        panic!("accepted");
    };
    c.crash_restart(1);
    // Restored from its durable log, it uses the latest configuration in it.
    assert_eq!(members(&c, 1), add);
    assert_eq!(c.raft(1).membership_index(), index);
    // Meanwhile n2 leads a new term and overwrites that index with a write.
    c.elect(2);
    assert!(accepted(c.propose(2, b"x=2")));
    c.deliver_all();
    c.heal();
    c.heartbeat(2);
    c.heartbeat(2);
    // n1's entry is gone, and with it the configuration: back to the three voters.
    assert_eq!(c.raft(1).leader(), Some(n(2)));
    assert_eq!(members(&c, 1), members(&c, 2));
    assert_eq!(members(&c, 1).kind_of(n(4)), None);
    assert_eq!(c.raft(1).last_index(), c.raft(2).last_index());
    assert_eq!(c.raft(1).term_at(index), c.raft(2).term_at(index));
    assert_eq!(c.node(1).applied_data(), c.node(2).applied_data());
}

#[test]
fn changes_go_one_at_a_time_by_one_voter_and_only_after_a_commit_in_the_term() {
    let mut c = cluster(5, 3);
    c.tick_until_campaign(1);
    // Elected, but its empty entry is not committed yet (its appends are lost): a change
    // must wait.
    c.deliver_all_dropping(|e| e.is_append());
    assert_eq!(c.role(1), Role::Leader);
    assert!(c.raft(1).commit() < c.raft(1).last_index());
    let add = members(&c, 1).with_learner(n(4)).unwrap();
    assert_eq!(change(&mut c, 1, add), Proposal::Busy);
    c.deliver_all();
    c.heartbeat(1);
    assert_eq!(c.role(1), Role::Leader);
    let m = members(&c, 1);
    assert_eq!(
        change(&mut c, 1, m),
        Proposal::Refused(MembershipRefusal::Unchanged)
    );
    // Adding a voter directly, or two voters at once, is refused.
    assert_eq!(
        change(&mut c, 1, m.with_voter(n(4)).unwrap()),
        Proposal::Refused(MembershipRefusal::NotCaughtUp)
    );
    let two = m.without(n(2)).without(n(3));
    assert_eq!(
        change(&mut c, 1, two),
        Proposal::Refused(MembershipRefusal::MoreThanOneVoter)
    );
    assert_eq!(
        change(&mut c, 1, Membership::default()),
        Proposal::Refused(MembershipRefusal::NoVoters)
    );
    // Learners are any number per change; a second change waits for the first to commit.
    let learners = m.with_learner(n(4)).unwrap().with_learner(n(5)).unwrap();
    c.isolate(2);
    c.isolate(3);
    assert!(accepted(change(&mut c, 1, learners)));
    assert_eq!(change(&mut c, 1, learners.without(n(5))), Proposal::Busy);
    c.heal();
    c.heartbeat(1);
    assert!(accepted(change(&mut c, 1, learners.without(n(5)))));
    // Followers refuse to change anything: they are not the leader.
    assert!(matches!(
        change(&mut c, 2, m),
        Proposal::NotLeader { leader_hint: Some(l) } if l == n(1)
    ));
    // Garbage is refused as malformed.
    let out = c.step(1, Input::ChangeMembership { data: &[9, 9, 9] });
    assert!(out.contains(&Output::Proposal(Proposal::Refused(
        MembershipRefusal::Malformed
    ))));
}

#[test]
fn a_learner_added_after_compaction_gets_the_membership_with_the_snapshot() {
    let mut c = three_with_a_write(4);
    for k in 0..4u8 {
        assert!(accepted(c.propose(1, &[b'a' + k])));
        c.deliver_all();
    }
    c.heartbeat(1);
    // Every voter captures and compacts; the log no longer starts at 1.
    for id in 1..=3 {
        c.save_snapshot(id);
        let applied = c.raft(id).applied();
        c.step(id, Input::Captured { index: applied });
    }
    c.heartbeat(1);
    assert!(c.raft(1).first_index().0 > 1);
    let add = members(&c, 1).with_learner(n(4)).unwrap();
    assert!(accepted(change(&mut c, 1, add)));
    for _ in 0..6 {
        c.heartbeat(1);
    }
    // n4 installed a snapshot naming the three voters, then took the change from the log.
    assert!(c.node(4).snap_file.is_some());
    let snap = c.node(4).snap_file.as_ref().unwrap().0;
    assert_eq!(snap.members.voter_count(), 3);
    assert_eq!(members(&c, 4), add);
    assert_eq!(c.node(4).applied_data(), c.node(1).applied_data());
}

/// A change is an entry like any other: it leaves a quarter of the log window free for the
/// empty entries of later leaders (as a proposal does), and a busy answer is counted as a
/// busy proposal's is.
#[test]
fn a_change_leaves_a_quarter_of_the_log_window_free_and_its_busy_answer_is_counted() {
    let mut c = three_with_a_write(4);
    let mut k = 0u8;
    while accepted(c.propose(1, &[k])) {
        c.deliver_all();
        k += 1;
        assert!(k < 100, "never busy");
    }
    c.heartbeat(1);
    assert_eq!(c.raft(1).window_usage(), (LOG - LOG / 4, LOG));
    assert_eq!(c.commit(1), c.raft(1).last_index().0);
    assert_eq!(c.raft(1).stats().proposals_busy, 1);
    let m = members(&c, 1);
    assert_eq!(
        change(&mut c, 1, m.with_learner(n(4)).unwrap()),
        Proposal::Busy
    );
    assert_eq!(c.raft(1).stats().proposals_busy, 2);
    // A refused change is not a busy one.
    assert_eq!(
        change(&mut c, 1, m),
        Proposal::Refused(MembershipRefusal::Unchanged)
    );
    assert_eq!(c.raft(1).stats().proposals_busy, 2);
}

/// While the leader hands over to another voter (Raft thesis 3.10) it starts no change: the
/// target may be taking over.
#[test]
fn a_change_waits_while_leadership_is_being_transferred() {
    let mut c = three_with_a_write(4);
    c.transfer(1, 2);
    c.drain();
    assert_eq!(c.role(1), Role::Leader);
    let last = c.raft(1).last_index();
    let add = members(&c, 1).with_learner(n(4)).unwrap();
    assert_eq!(change(&mut c, 1, add), Proposal::Busy);
    assert_eq!(c.raft(1).last_index(), last);
}

/// A node tracks at most `PEERS` members: a configuration of exactly that many is taken, one
/// of more (which the membership type itself can still hold) is refused.
#[test]
fn a_configuration_of_as_many_members_as_a_node_tracks_is_taken_and_one_more_is_refused() {
    let mut c = three_with_a_write(PEERS as u32);
    let full = (4..=PEERS as u32).fold(members(&c, 1), |m, k| m.with_learner(n(k)).unwrap());
    assert_eq!(full.len(), PEERS);
    let over = full.with_learner(n(PEERS as u32 + 1)).unwrap();
    assert_eq!(
        change(&mut c, 1, over),
        Proposal::Refused(MembershipRefusal::TooMany)
    );
    assert!(accepted(change(&mut c, 1, full)));
    c.deliver_all();
    c.heartbeat(1);
    assert_eq!(members(&c, PEERS as u32), full);
}

/// A member added in a position a former member held starts from nothing (Figure 2:
/// matchIndex initialized to 0): the leader does not take the former member's progress for
/// the new one's.
#[test]
fn a_new_member_in_a_former_members_position_starts_with_no_progress() {
    let mut c = three_with_a_write(5);
    let m = members(&c, 1);
    assert!(accepted(change(&mut c, 1, m.with_learner(n(4)).unwrap())));
    c.deliver_all();
    c.heartbeat(1);
    assert!(c.raft(1).match_index(n(4)) >= Some(i(3)));
    assert!(accepted(change(&mut c, 1, m)));
    c.deliver_all();
    c.heartbeat(1);
    assert_eq!(c.raft(1).match_index(n(4)), None);
    // n5, cut off, takes n4's former position.
    c.isolate(5);
    assert!(accepted(change(&mut c, 1, m.with_learner(n(5)).unwrap())));
    assert_eq!(c.raft(1).match_index(n(5)), Some(i(0)));
}

/// A node outside the configuration (one joining) holds a position for itself, so of a
/// configuration of `PEERS` members it tracks all but one, and counts the one it cannot.
#[test]
fn a_node_outside_a_full_configuration_counts_the_member_it_cannot_track() {
    let all: Vec<NodeId> = (1..=PEERS as u32).map(NodeId).collect();
    let outside = Raft::new(Config::new(n(PEERS as u32 + 1), 1), &all).expect("valid config");
    assert_eq!(outside.stats().members_untracked, 1);
    let inside = Raft::new(Config::new(n(1), 1), &all).expect("valid config");
    assert_eq!(inside.stats().members_untracked, 0);
}

/// A removed leader hands over to a voter of the new configuration, never to a learner,
/// however caught up the learner is (a learner ignores TimeoutNow: the cluster would wait an
/// election timeout).
#[test]
fn a_removed_leader_hands_over_to_a_voter_never_to_a_learner() {
    let mut c = three_with_a_write(4);
    let with4 = members(&c, 1).with_learner(n(4)).unwrap();
    assert!(accepted(change(&mut c, 1, with4)));
    c.deliver_all();
    c.heartbeat(1);
    assert!(accepted(change(&mut c, 1, with4.without(n(1)))));
    c.deliver_all();
    let last = c.raft(1).last_index();
    for id in 2..=4 {
        assert_eq!(c.raft(1).match_index(n(id)), Some(last), "n{id}");
    }
    let out = c.tick(1);
    let handed: Vec<u32> = timeouts_now(&out).into_iter().map(|(to, _)| to.0).collect();
    assert_eq!(handed.len(), 1);
    assert!(handed[0] == 2 || handed[0] == 3, "{handed:?}");
    assert_eq!(c.role(1), Role::Follower);
}
