//! The vote floor (protocol-aware recovery, Alagappan et al., FAST 2018): a node restarted
//! from storage that kept only a prefix of its log may have acknowledged entries it no
//! longer holds, some committed with its acknowledgement. It grants no vote or PreVote and
//! does not campaign until its log reaches the floor its driver set; it still follows a
//! leader and catches up, then votes again.

use crate::common::*;
use raftcore::{Input, Role};

/// Three nodes; n1 leads term 1 and commits entries 2..=4 with n2 only (n3 cut off, holding
/// just the leader's empty entry 1). Then n1 and n2 crash, and n2 comes back having lost
/// everything after entry 1, with `vote_floor` (0: no floor). n3 is reconnected.
fn lost_committed_suffix(vote_floor: u64) -> Cluster {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.isolate(3);
    for _ in 0..3 {
        c.propose(1, b"w");
    }
    c.deliver_all();
    c.heartbeat(1);
    assert_eq!((c.commit(1), c.commit(2)), (4, 4), "committed by n1 and n2");
    assert_eq!(c.raft(3).last_index().0, 1);
    c.crash(1);
    c.crash(2);
    c.restart_repaired(2, 1, vote_floor);
    c.heal();
    c
}

/// Ticks node `id` well past any election timeout (no other node ticks).
fn tick_long(c: &mut Cluster, id: u32) {
    for _ in 0..200 {
        c.tick(id);
        c.deliver_all();
    }
}

#[test]
fn a_node_that_lost_a_committed_suffix_cannot_elect_a_candidate_missing_it() {
    let mut c = lost_committed_suffix(5);
    assert_eq!(c.raft(2).vote_floor(), i(5));
    assert!(c.raft(2).below_vote_floor());
    c.tick_until_campaign(3);
    c.deliver_all();
    assert_ne!(c.role(3), Role::Leader, "n3 lacks committed entries 2..=4");
    // Asked directly, n2 refuses both a vote and a PreVote.
    let term = c.term(2) + 1;
    assert!(!vote_resps(&c.recv(2, 3, vote_req(term, 1, 1)))[0].1.granted);
    let term = c.term(2) + 1;
    assert!(
        !vote_resps(&c.recv(2, 3, pre_vote_req(term, 1, 1)))[0]
            .1
            .granted
    );
}

#[test]
fn without_the_vote_floor_the_same_restart_elects_a_leader_missing_a_committed_entry() {
    // Why the floor exists: the unsafe restart lets n3 win with n2's vote, and n3's log
    // lacks entries 2..=4, which n1 had reported committed.
    let mut c = lost_committed_suffix(0);
    c.tick_until_campaign(3);
    c.deliver_all();
    assert_eq!(c.role(3), Role::Leader);
    // Committed entry 2 (term 1) is overwritten by the new leader's own empty entry.
    assert_eq!(c.raft(3).term_at(i(2)), Some(t(2)));
}

#[test]
fn a_node_below_its_vote_floor_never_campaigns_and_ignores_timeout_now() {
    let mut c = lost_committed_suffix(5);
    c.isolate(2);
    tick_long(&mut c, 2);
    assert_eq!(c.role(2), Role::Follower);
    assert_eq!(c.raft(2).stats().elections + c.raft(2).stats().pre_votes, 0);
    let term = c.term(2);
    let before = c.raft(2).stats().elections;
    c.step(
        2,
        Input::Message {
            from: n(1),
            msg: timeout_now(term),
        },
    );
    assert_eq!(c.role(2), Role::Follower);
    assert_eq!(c.raft(2).stats().elections, before);
}

#[test]
fn a_node_below_its_vote_floor_follows_catches_up_and_then_votes_again() {
    let mut c = lost_committed_suffix(5);
    // n1 comes back with the whole log and wins with n3's vote alone.
    c.restart(1);
    c.elect(1);
    c.heartbeat(1);
    // n2 caught up from the leader: it holds entries 1..=4 of term 1 again, past its floor.
    assert!(c.raft(2).last_index().0 >= 5);
    assert!(!c.raft(2).below_vote_floor());
    // (n1 compacted its log into a snapshot after applying.)
    assert_eq!(c.node(2).log_terms(), vec![1, 1, 1, 1, 2]);
    c.assert_same_logs(&[2, 3]);
    // It votes again: with n1 gone, n3 needs n2's vote, and gets it.
    c.crash(1);
    c.elect(3);
    // And it campaigns again.
    c.crash(3);
    c.restart(1);
    c.elect(2);
    c.heartbeat(2);
    assert_eq!(c.role(2), Role::Leader);
}
