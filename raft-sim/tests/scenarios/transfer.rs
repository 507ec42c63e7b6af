//! Leadership transfer (Raft thesis 3.10): the leader catches a named voter up, sends it
//! TimeoutNow, refuses proposals meanwhile and gives up after an election timeout; the
//! target campaigns at once with a TransferVote that voters grant despite the leader lease.

use crate::common::*;
use raftcore::{
    Input, Message, NodeId, Output, Proposal, Role, State, VoteResponse, MEMBERSHIP_BYTES,
};

/// PreVote and CheckQuorum on, as a deployment runs: the transfer must get past both.
fn deployed(count: u32) -> Cluster {
    Cluster::with_config(count, |cfg| {
        cfg.pre_vote = true;
        cfg.check_quorum = true;
    })
}

/// Leader 1 of term 1 with `x=1` committed and known committed everywhere.
fn leader_with_a_write(mut c: Cluster) -> Cluster {
    c.elect(1);
    assert!(matches!(c.propose(1, b"x=1"), Proposal::Accepted { .. }));
    c.deliver_all();
    c.heartbeat(1);
    c
}

fn transfer_votes(out: &[raftcore::Output]) -> Vec<u32> {
    sends(out)
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::TransferVote(_)))
        .map(|(to, _)| to.0)
        .collect()
}

/// n1 is no longer the leader: a proposal there is refused, naming n2 as the leader.
fn assert_redirects_to_n2(c: &mut Cluster, data: &[u8]) {
    let hint = Some(n(2));
    assert_eq!(
        c.propose(1, data),
        Proposal::NotLeader { leader_hint: hint }
    );
}

/// The one vote response `out` should hold: to n2, in term 2, `granted` or not.
fn answer_to_n2_in_term_2(granted: bool) -> Vec<(NodeId, VoteResponse)> {
    vec![(
        n(2),
        VoteResponse {
            term: t(2),
            granted,
        },
    )]
}

#[test]
fn leader_transfers_to_a_caught_up_voter_with_timeout_now() {
    let mut c = leader_with_a_write(deployed(3));
    let pre_votes = c.raft(2).stats().pre_votes;
    let out = c.transfer(1, 2);
    assert_eq!(timeouts_now(&out), vec![(n(2), 1)], "{out:?}");

    // n2 campaigns at once in term 2 with TransferVotes (no PreVote round), and both n1 and
    // n3 grant them although each heard from the leader just now.
    let wire = c.drain();
    assert_eq!(wire.len(), 1);
    let out = c.deliver(&wire[0]);
    assert_eq!((c.role(2), c.term(2)), (Role::Candidate, 2));
    assert_eq!(transfer_votes(&out), vec![1, 3]);
    assert_eq!(c.raft(2).stats().pre_votes, pre_votes);
    c.deliver_all();
    assert_eq!((c.role(2), c.term(2)), (Role::Leader, 2));
    for id in [1, 3] {
        assert_eq!((c.role(id), c.term(id)), (Role::Follower, 2), "n{id}");
        assert_eq!(c.raft(id).leader(), Some(n(2)), "n{id}");
    }
    // The new leader has everything and takes writes; the old one points clients to it.
    assert!(matches!(c.propose(2, b"x=2"), Proposal::Accepted { .. }));
    c.deliver_all();
    c.heartbeat(2);
    for id in c.ids() {
        assert_eq!(
            c.node(id).applied_data(),
            vec![b"x=1".to_vec(), b"x=2".to_vec()],
            "n{id}"
        );
    }
    assert_redirects_to_n2(&mut c, b"x=3");
}

#[test]
fn leader_catches_the_target_up_before_sending_timeout_now() {
    let mut c = leader_with_a_write(deployed(3));
    // n3 misses two writes.
    c.cut.insert((1, 3));
    c.propose(1, b"a");
    c.propose(1, b"b");
    c.deliver_all();
    c.heal();
    assert_eq!(c.raft(1).last_index(), i(4));
    assert_eq!(c.raft(3).last_index(), i(2));

    let out = c.transfer(1, 3);
    assert_eq!(timeouts_now(&out), vec![], "n3 is behind: {out:?}");
    let mut ticks = 0;
    let mut timeout_now_sent = 0;
    while c.role(3) != Role::Leader {
        ticks += 1;
        assert!(ticks < 10, "no transfer within an election timeout");
        c.tick(1);
        while let Some(env) = c.wire.pop_front() {
            if matches!(env.msg, Message::TimeoutNow { .. }) {
                timeout_now_sent += 1;
                // Only once the target holds the leader's whole log.
                assert_eq!(c.node(3).log(), c.node(1).log());
            }
            c.deliver(&env);
        }
    }
    assert!(timeout_now_sent >= 1);
    assert_eq!(c.term(3), 2);
    let data: Vec<Vec<u8>> = c.node(3).log().into_iter().map(|e| e.1).collect();
    assert!(data.contains(&b"a".to_vec()) && data.contains(&b"b".to_vec()));
}

#[test]
fn leader_refuses_proposals_during_a_transfer() {
    let mut c = leader_with_a_write(deployed(3));
    let out = c.transfer(1, 2);
    assert_eq!(timeouts_now(&out), vec![(n(2), 1)]);
    let timeout_now = c.drain();
    // Still the leader, but no new entries while the target may be taking over.
    assert_eq!(c.role(1), Role::Leader);
    let last = c.raft(1).last_index();
    assert_eq!(c.propose(1, b"x=2"), Proposal::Busy);
    assert_eq!(c.raft(1).last_index(), last);
    // Time passes (whatever the leader sends meanwhile is lost): still refused.
    c.ticks(1, 5);
    c.drain();
    assert_eq!(c.propose(1, b"x=2"), Proposal::Busy);

    for env in &timeout_now {
        c.deliver(env);
    }
    c.deliver_all();
    assert_eq!(c.role(2), Role::Leader);
    assert_redirects_to_n2(&mut c, b"x=2");
}

#[test]
fn transfer_gives_up_after_an_election_timeout() {
    let mut c = leader_with_a_write(Cluster::new(3));
    // The target is unreachable: its TimeoutNow is lost.
    c.isolate(2);
    let out = c.transfer(1, 2);
    assert_eq!(timeouts_now(&out), vec![(n(2), 1)]);
    c.deliver_all();
    let election = c.node(1).cfg.election_ticks;
    for k in 1..election {
        c.tick(1);
        c.deliver_all();
        assert_eq!(c.propose(1, b"x=2"), Proposal::Busy, "tick {k}");
    }
    // An election timeout after the request: the transfer is abandoned.
    c.tick(1);
    assert!(matches!(c.propose(1, b"x=2"), Proposal::Accepted { .. }));
    assert_eq!(c.role(1), Role::Leader);
    // Once n2 is back, the leader does not resume the abandoned transfer.
    c.heal();
    for _ in 0..4 {
        c.heartbeat(1);
    }
    assert_eq!(timeouts_now(&c.node(1).outputs).len(), 1);
    assert_eq!((c.role(1), c.role(2)), (Role::Leader, Role::Follower));
    assert_eq!(c.node(2).log(), c.node(1).log());
}

#[test]
fn a_lost_timeout_now_is_sent_again_on_the_targets_next_acknowledgement() {
    let mut c = leader_with_a_write(deployed(3));
    let out = c.transfer(1, 2);
    assert_eq!(timeouts_now(&out), vec![(n(2), 1)]);
    c.drain();
    c.heartbeat(1);
    assert_eq!((c.role(2), c.term(2)), (Role::Leader, 2));
}

#[test]
fn transfer_vote_is_granted_inside_the_leader_lease_but_a_plain_vote_is_not() {
    let mut c = Cluster::with_config(3, |cfg| cfg.check_quorum = true);
    c.elect(1);
    c.heartbeat(1);
    // n3 heard from its leader within the election timeout.
    let ignored = c.raft(3).stats().ignored_in_lease;
    for msg in [vote_req(2, 1, 1), pre_vote_req(2, 1, 1)] {
        let out = c.recv(3, 2, msg);
        assert!(sends(&out).is_empty(), "{msg:?} answered in lease: {out:?}");
        assert!(persists(&out).is_empty());
        assert_eq!((c.term(3), c.raft(3).leader()), (1, Some(n(1))));
    }
    assert_eq!(c.raft(3).stats().ignored_in_lease, ignored + 2);

    let out = c.recv(3, 2, transfer_vote_req(2, 1, 1));
    assert_eq!(vote_resps(&out), answer_to_n2_in_term_2(true));
    assert_eq!(c.raft(3).hard_state().vote, Some(n(2)));

    // The log restriction still holds: a TransferVote from a node that is behind is refused.
    let mut c = Cluster::with_config(3, |cfg| cfg.check_quorum = true);
    c.elect(1);
    c.heartbeat(1);
    let out = c.recv(3, 2, transfer_vote_req(2, 0, 0));
    assert_eq!(vote_resps(&out), answer_to_n2_in_term_2(false));
}

#[test]
fn transfer_to_self_or_a_non_member_is_ignored() {
    let mut c = leader_with_a_write(deployed(3));
    for to in [1, 9] {
        let out = c.transfer(1, to);
        assert!(out.is_empty(), "transfer to n{to}: {out:?}");
        assert!(
            matches!(c.propose(1, b"w"), Proposal::Accepted { .. }),
            "n{to}: proposals still accepted"
        );
    }
    // A follower is not the one to hand leadership over.
    let out = c.transfer(2, 3);
    assert!(out.is_empty(), "{out:?}");
    c.deliver_all();
    assert!(timeouts_now(&c.node(1).outputs).is_empty());
    assert!(timeouts_now(&c.node(2).outputs).is_empty());
    assert_eq!((c.role(1), c.term(1)), (Role::Leader, 1));
}

#[test]
fn timeout_now_from_anyone_but_the_current_leader_is_ignored() {
    let mut c = leader_with_a_write(deployed(3));
    // From a follower of the same term, and from the leader in an older term.
    for (from, term) in [(2, 1), (1, 0)] {
        let out = c.recv(3, from, timeout_now(term));
        assert!(out.is_empty(), "n{from} t{term}: {out:?}");
        assert_eq!((c.role(3), c.term(3)), (Role::Follower, 1));
    }
    // A candidate does not restart its campaign for it either.
    c.isolate(3);
    c.tick_until_campaign(3);
    assert_eq!(c.role(3), Role::PreCandidate);
    let out = c.recv(3, 1, timeout_now(1));
    assert!(out.is_empty(), "{out:?}");
}

/// TimeoutNow asks its addressee to campaign, so only a node that may campaign acts on it: a
/// learner (or any node outside the voters) ignores it even from its leader, and counts it
/// as unexpected like every other ignored TimeoutNow.
#[test]
fn timeout_now_is_ignored_and_counted_by_a_node_that_may_not_campaign() {
    // Voters n1-n3 (PreVote and CheckQuorum on); n4 joins as a learner and follows n1.
    let mut c = deployed(4);
    let voters: Vec<NodeId> = (1..=3).map(NodeId).collect();
    for node in &mut c.nodes {
        node.raft = Some(State::new(node.cfg, &voters).expect("valid config"));
    }
    c.voters = voters;
    c = leader_with_a_write(c);
    let add = c.raft(1).membership().with_learner(n(4)).unwrap();
    let mut buf = [0u8; MEMBERSHIP_BYTES];
    let data = add.encode(&mut buf).to_vec();
    let out = c.step(1, Input::ChangeMembership { data: &data });
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Proposal(Proposal::Accepted { .. }))),
        "{out:?}"
    );
    c.deliver_all();
    c.heartbeat(1);
    assert_eq!(*c.raft(4).membership(), add);
    assert_eq!(
        (c.role(4), c.raft(4).leader()),
        (Role::Follower, Some(n(1)))
    );

    let ignored = c.raft(4).stats().ignored_unexpected;
    let out = c.recv(4, 1, timeout_now(1));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!((c.role(4), c.term(4)), (Role::Follower, 1));
    assert_eq!(c.raft(4).stats().ignored_unexpected, ignored + 1);

    // The same count for a TimeoutNow a voter ignores (not from its leader).
    let ignored = c.raft(3).stats().ignored_unexpected;
    let out = c.recv(3, 2, timeout_now(1));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!((c.role(3), c.term(3)), (Role::Follower, 1));
    assert_eq!(c.raft(3).stats().ignored_unexpected, ignored + 1);
}

/// One message per peer per step holds for TimeoutNow too: the acknowledgement that shows the
/// target caught up gets it TimeoutNow and nothing else in that step, even where the target
/// is also behind on the commit index (which the leader otherwise tells it at once).
#[test]
fn timeout_now_is_the_only_message_its_target_gets_in_that_step() {
    let mut c = leader_with_a_write(deployed(3));
    // Entry 3 reaches both followers; only n3's acknowledgement comes back: committed.
    assert!(matches!(c.propose(1, b"y"), Proposal::Accepted { .. }));
    let to_n2 = c.take(|e| e.to == n(2));
    assert_eq!(to_n2.len(), 1);
    c.deliver_all();
    assert_eq!(c.commit(1), 3);
    // n2 still lacks entry 3: no TimeoutNow yet.
    let out = c.transfer(1, 2);
    assert_eq!(timeouts_now(&out), vec![], "{out:?}");
    c.drain();
    // n2 takes entry 3 and acknowledges it with commit 2: it is caught up, and behind on the
    // commit index.
    c.deliver(&to_n2[0]);
    let ack = c.take(|e| e.to == n(1));
    assert_eq!(ack.len(), 1);
    assert!(
        matches!(ack[0].msg, Message::AppendResponse(r) if r.success && r.index == i(3) && r.commit == i(2)),
        "{:?}",
        ack[0].msg
    );
    let out = c.deliver(&ack[0]);
    assert_eq!(timeouts_now(&out), vec![(n(2), 1)], "{out:?}");
    let to_n2: Vec<_> = sends(&out)
        .into_iter()
        .filter(|(to, _)| *to == n(2))
        .collect();
    assert_eq!(to_n2.len(), 1, "{out:?}");
}
