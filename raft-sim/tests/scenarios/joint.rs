//! Membership change by joint consensus (Raft thesis section 4.3): C<sub>old,new</sub> needs a
//! majority of both configurations for every decision, is left automatically once committed
//! (or on request), and survives a partition and a crash of the leader at each stage.

use crate::common::*;
use raftcore::{
    Input, Membership, MembershipRefusal, NodeId, Output, Proposal, Role, State, LEAVE_JOINT,
    MEMBERSHIP_BYTES,
};

/// `total` nodes of which the first `voters` form the initial configuration (PreVote and
/// CheckQuorum on, as deployed); the others wait outside it.
fn cluster(total: u32, voters: u32) -> Cluster {
    let mut c = Cluster::with_config(total, |cfg| {
        cfg.pre_vote = true;
        cfg.check_quorum = true;
    });
    let ids: Vec<NodeId> = (1..=voters).map(NodeId).collect();
    for node in &mut c.nodes {
        node.raft = Some(State::new(node.cfg, &ids).expect("valid config"));
    }
    c.voters = ids;
    c
}

/// Asks node `id` to change the membership (the payload `data`); returns its answer.
fn change_bytes(c: &mut Cluster, id: u32, data: &[u8]) -> Proposal {
    let out = c.step(id, Input::ChangeMembership { data });
    out.iter()
        .find_map(|o| match o {
            Output::Proposal(p) => Some(*p),
            _ => None,
        })
        .expect("a change is answered")
}

fn change(c: &mut Cluster, id: u32, next: Membership) -> Proposal {
    let mut buf = [0u8; MEMBERSHIP_BYTES];
    let data = next.encode(&mut buf).to_vec();
    change_bytes(c, id, &data)
}

fn members(c: &Cluster, id: u32) -> Membership {
    *c.raft(id).membership()
}

fn accepted(p: Proposal) -> bool {
    matches!(p, Proposal::Accepted { .. })
}

fn ids(v: &[u32]) -> Vec<NodeId> {
    v.iter().map(|&i| NodeId(i)).collect()
}

fn conf(voters: &[u32], learners: &[u32]) -> Membership {
    Membership::new(&ids(voters), &ids(learners)).unwrap()
}

/// Leader 1 of voters 1 to 3 with one write, and the nodes from 4 to `total` added as
/// learners that caught up.
fn three_and_learners(total: u32) -> Cluster {
    let mut c = cluster(total, 3);
    c.elect(1);
    assert!(accepted(c.propose(1, b"x=1")));
    c.deliver_all();
    c.heartbeat(1);
    let learners: Vec<u32> = (4..=total).collect();
    assert!(accepted(change(&mut c, 1, conf(&[1, 2, 3], &learners))));
    c.deliver_all();
    c.heartbeat(1);
    c.heartbeat(1);
    for id in 4..=total {
        assert_eq!(c.node(id).applied_data(), c.node(1).applied_data(), "n{id}");
    }
    c
}

/// The node that leads among `candidates`, if exactly one does.
fn leader_among(c: &Cluster, candidates: &[u32]) -> Option<u32> {
    let leaders: Vec<u32> = candidates
        .iter()
        .copied()
        .filter(|&id| c.up(id) && c.role(id) == Role::Leader)
        .collect();
    (leaders.len() == 1).then(|| leaders[0])
}

/// Ticks every node in `alive` in turn, delivering everything, until one of them leads.
fn until_leader(c: &mut Cluster, alive: &[u32]) -> u32 {
    for _ in 0..200 {
        if let Some(l) = leader_among(c, alive) {
            return l;
        }
        for &id in alive {
            c.tick(id);
        }
        c.deliver_all();
    }
    panic!("no leader among {alive:?}");
}

#[test]
fn the_leader_is_replaced_in_one_joint_step_and_leaves_by_itself() {
    let mut c = three_and_learners(4);
    let old = members(&c, 1);
    let new = conf(&[2, 3, 4], &[]);
    let joint = old.joint(&new, true).unwrap();
    let Proposal::Accepted { index, .. } = change(&mut c, 1, joint) else {
        panic!("the joint change is accepted");
    };
    assert_eq!(members(&c, 1), joint);
    assert_eq!(c.raft(1).membership_index(), index);
    // A second change while joint is refused with its reason.
    assert_eq!(
        change(&mut c, 1, conf(&[1, 2, 3], &[])),
        Proposal::Refused(MembershipRefusal::JointInProgress)
    );
    c.deliver_all();
    // The joint configuration committed, and the leader appended the leave entry at once.
    assert!(c.commit(1) >= index.0);
    assert_eq!(members(&c, 1), new);
    assert_eq!(c.raft(1).membership_index(), index.next());
    assert_eq!(c.raft(1).stats().joint_auto_leaves, 1);
    // Once C_new commits, n1 (not in it) hands over and steps down.
    for _ in 0..4 {
        if c.role(1) != Role::Leader {
            break;
        }
        c.heartbeat(1);
    }
    assert_ne!(c.role(1), Role::Leader);
    let l = until_leader(&mut c, &[2, 3, 4]);
    for id in 2..=4 {
        assert_eq!(members(&c, id), new, "n{id}");
    }
    // The new cluster commits without n1.
    c.isolate(1);
    let before = c.commit(l);
    assert!(accepted(c.propose(l, b"x=2")));
    c.deliver_all();
    assert!(c.commit(l) > before);
}

#[test]
fn three_voters_become_five_and_a_joint_configuration_needs_both_majorities() {
    let mut c = three_and_learners(5);
    let old = members(&c, 1);
    let five = conf(&[1, 2, 3, 4, 5], &[]);
    // Promoting two learners in a plain change is refused; a joint change built from
    // another configuration too.
    assert_eq!(
        change(&mut c, 1, five),
        Proposal::Refused(MembershipRefusal::MoreThanOneVoter)
    );
    // Its outgoing voters must be exactly the voters in force: not fewer, not as many with
    // one swapped, not more.
    for outgoing in [&[1, 2][..], &[1, 2, 4], &[1, 2, 3, 4]] {
        let learners: Vec<u32> = (1..=5).filter(|k| !outgoing.contains(k)).collect();
        let stale = conf(outgoing, &learners).joint(&five, false).unwrap();
        assert_eq!(
            change(&mut c, 1, stale),
            Proposal::Refused(MembershipRefusal::NotFromCurrent),
            "outgoing {outgoing:?}"
        );
    }
    // Explicit leave: the cluster stays joint until asked.
    let joint = old.joint(&five, false).unwrap();
    assert!(accepted(change(&mut c, 1, joint)));
    c.deliver_all();
    c.heartbeat(1);
    for id in 1..=5 {
        assert_eq!(members(&c, id), joint, "n{id}");
    }
    assert!(c.commit(1) >= c.raft(1).membership_index().0);
    // n1, n4 and n5 are a majority of the five but only one of the three old voters: a
    // write does not commit (counting only the new majority would commit it).
    c.isolate(2);
    c.isolate(3);
    let before = c.commit(1);
    assert!(accepted(c.propose(1, b"x=2")));
    c.deliver_all();
    c.heartbeat(1);
    assert_eq!(c.commit(1), before);
    // Nor can a ReadIndex read be confirmed by them.
    c.read(1, 7);
    c.heartbeat(1);
    assert!(c.reads_of(1).is_empty());
    c.heal();
    c.heartbeat(1);
    assert!(c.commit(1) > before);
    assert!(!c.reads_of(1).is_empty());
    // Leave on request: the leave entry (an empty payload) puts the five in force.
    assert_eq!(
        change(&mut c, 1, conf(&[1, 2, 3, 4], &[5])),
        Proposal::Refused(MembershipRefusal::JointInProgress)
    );
    assert!(accepted(change_bytes(&mut c, 1, LEAVE_JOINT)));
    c.deliver_all();
    c.heartbeat(1);
    for id in 1..=5 {
        assert_eq!(members(&c, id), five, "n{id}");
    }
    // Now three of the five commit.
    c.isolate(2);
    c.isolate(3);
    let before = c.commit(1);
    assert!(accepted(c.propose(1, b"x=3")));
    c.deliver_all();
    assert!(c.commit(1) > before);
    // And an empty payload after a plain configuration is malformed.
    c.heal();
    c.heartbeat(1);
    assert_eq!(
        change_bytes(&mut c, 1, LEAVE_JOINT),
        Proposal::Refused(MembershipRefusal::Malformed)
    );
}

#[test]
fn a_joint_change_across_a_partition_commits_only_with_both_majorities() {
    // The leader is cut off with the two new nodes: a majority of the new configuration, a
    // minority of the old one. Its joint entry cannot commit, n2 and n3 elect a leader under
    // the old configuration, and the joint entry is overwritten when the partition heals.
    let mut c = three_and_learners(5);
    let old = members(&c, 1);
    let five = conf(&[1, 2, 3, 4, 5], &[]);
    for a in [1, 4, 5] {
        for b in [2, 3] {
            c.cut.insert((a, b));
            c.cut.insert((b, a));
        }
    }
    let Proposal::Accepted { index, .. } = change(&mut c, 1, old.joint(&five, true).unwrap())
    else {
        panic!("accepted");
    };
    c.deliver_all();
    c.heartbeat(1);
    assert!(c.commit(1) < index.0, "committed without the old majority");
    assert_eq!(members(&c, 4), members(&c, 1));
    let l = until_leader(&mut c, &[2, 3]);
    assert!(accepted(c.propose(l, b"x=2")));
    c.deliver_all();
    c.heal();
    c.heartbeat(l);
    c.heartbeat(l);
    for id in 1..=5 {
        assert_eq!(members(&c, id), old, "n{id}");
        assert_eq!(c.node(id).applied_data(), c.node(l).applied_data(), "n{id}");
    }
    // On the majority side of both (the other of n2 and n3 cut off), the same change commits
    // and is left.
    let joint = old.joint(&five, true).unwrap();
    let other = if l == 2 { 3 } else { 2 };
    c.isolate(other);
    assert!(accepted(change(&mut c, l, joint)));
    c.deliver_all();
    c.heartbeat(l);
    assert_eq!(members(&c, l), five);
    assert!(c.commit(l) >= c.raft(l).membership_index().0);
    c.heal();
    c.heartbeat(l);
    c.heartbeat(l);
    assert_eq!(members(&c, other), five);
}

/// The stages at which the leader of a joint change that replaces it crashes.
#[derive(Clone, Copy, Debug)]
enum Stage {
    /// C_old,new is appended and reached n2 only.
    JointAppended,
    /// C_old,new committed on the leader, which appended C_new and crashed before sending it.
    JointCommitted,
    /// C_new reached n2 only.
    NewAppended,
}

/// Replaces leader n1 by n4 in one auto-leave joint step and crashes n1 at `stage`: the
/// others elect a leader, finish the change, and commit without n1.
fn leader_crashes_during_a_joint_change(stage: Stage) {
    let mut c = three_and_learners(4);
    let old = members(&c, 1);
    let new = conf(&[2, 3, 4], &[]);
    let Proposal::Accepted { index, .. } = change(&mut c, 1, old.joint(&new, true).unwrap()) else {
        panic!("accepted");
    };
    let appends = c.drain();
    match stage {
        Stage::JointAppended => {
            for e in appends.iter().filter(|e| e.to == n(2)) {
                c.deliver(e);
            }
            // n2's acknowledgement is lost.
            c.drain();
            assert!(c.commit(1) < index.0);
        }
        Stage::JointCommitted | Stage::NewAppended => {
            for e in &appends {
                c.deliver(e);
            }
            // The acknowledgements commit C_old,new; the leader appends C_new at once.
            for e in c.drain() {
                c.deliver(&e);
            }
            assert!(c.commit(1) >= index.0, "{stage:?}");
            assert_eq!(members(&c, 1), new);
            let sent = c.drain();
            if let Stage::NewAppended = stage {
                for e in sent.iter().filter(|e| e.to == n(2) && e.is_append()) {
                    c.deliver(e);
                }
                c.drain();
                assert_eq!(members(&c, 2), new);
            }
        }
    }
    c.crash(1);
    let l = until_leader(&mut c, &[2, 3, 4]);
    for _ in 0..3 {
        c.heartbeat(l);
    }
    for id in 2..=4 {
        assert_eq!(members(&c, id), new, "{stage:?}: n{id}");
        assert!(c.commit(id) >= c.raft(id).membership_index().0, "{stage:?}");
    }
    let before = c.commit(l);
    assert!(accepted(c.propose(l, b"x=2")));
    c.deliver_all();
    c.heartbeat(l);
    for id in 2..=4 {
        assert!(c.commit(id) > before, "{stage:?}: n{id}");
    }
    // n1 comes back: removed, it cannot disrupt the new configuration.
    c.restart(1);
    for _ in 0..30 {
        c.tick(1);
        c.heartbeat(l);
    }
    assert_eq!(c.role(l), Role::Leader, "{stage:?}");
    assert_ne!(c.role(1), Role::Leader, "{stage:?}");
}

#[test]
fn the_leader_crashes_after_the_joint_configuration_is_appended() {
    leader_crashes_during_a_joint_change(Stage::JointAppended);
}

#[test]
fn the_leader_crashes_after_the_joint_configuration_commits() {
    leader_crashes_during_a_joint_change(Stage::JointCommitted);
}

#[test]
fn the_leader_crashes_after_the_new_configuration_is_appended() {
    leader_crashes_during_a_joint_change(Stage::NewAppended);
}

#[test]
fn an_explicit_joint_configuration_outlives_its_leader_and_is_left_on_request() {
    let mut c = three_and_learners(4);
    let old = members(&c, 1);
    let new = conf(&[2, 3, 4], &[]);
    let joint = old.joint(&new, false).unwrap();
    assert!(accepted(change(&mut c, 1, joint)));
    c.deliver_all();
    c.heartbeat(1);
    assert_eq!(members(&c, 2), joint);
    c.crash(1);
    let l = until_leader(&mut c, &[2, 3, 4]);
    c.heartbeat(l);
    // Still joint: nobody leaves an explicit joint configuration by itself.
    assert_eq!(members(&c, l), joint);
    assert!(accepted(change(&mut c, l, new)));
    c.deliver_all();
    c.heartbeat(l);
    for id in 2..=4 {
        assert_eq!(members(&c, id), new, "n{id}");
    }
}

/// A leader handing over (Raft thesis 3.10) appends nothing, not even the leave entry of a
/// joint configuration with auto-leave that commits meanwhile: the target may be taking
/// over. The leave waits, and the cluster still ends in the new configuration.
#[test]
fn a_joint_configuration_is_not_left_while_leadership_is_being_transferred() {
    let mut c = three_and_learners(4);
    let four = conf(&[1, 2, 3, 4], &[]);
    let joint = members(&c, 1).joint(&four, true).unwrap();
    let Proposal::Accepted { index, .. } = change(&mut c, 1, joint) else {
        panic!("the joint change is accepted");
    };
    c.transfer(1, 2);
    // The joint configuration commits while the transfer runs (TimeoutNow is lost).
    c.deliver_all_dropping(|e| matches!(e.msg, raftcore::Message::TimeoutNow { .. }));
    assert_eq!(c.role(1), Role::Leader);
    assert!(c.commit(1) >= index.0);
    assert_eq!(members(&c, 1), joint);
    assert_eq!(c.raft(1).last_index(), index);
    assert_eq!(c.raft(1).stats().joint_auto_leaves, 0);
    // Whoever leads once the transfer ends leaves the joint configuration.
    let l = until_leader(&mut c, &[1, 2, 3, 4]);
    c.heartbeat(l);
    c.heartbeat(l);
    for id in 1..=4 {
        assert_eq!(members(&c, id), four, "n{id}");
    }
}
