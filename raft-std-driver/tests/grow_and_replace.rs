//! Membership without restarts on real `raft-node` processes over UDP (issue 19's
//! acceptance): three nodes that know only each other; a fourth and a fifth started with only
//! one member's address (`--join`), added as learners with their addresses and promoted in
//! one joint step; a sixth started the same way replaces one of the original three in one
//! joint step, and the leader (moved to a new node first) is killed with SIGKILL between
//! entering and leaving the joint configuration, then restarted. A client writes throughout;
//! at the end every acknowledged write is on every member, no process of the original three
//! was ever restarted, and the removed node is on no member's allow-list and learns of its
//! removal (it applies it, or the members tell it), after which it sends nothing. Every wait
//! is bounded; no wall-clock duration is asserted.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use raft_std_driver::admin::{JointChange, MemberChange, MemberRefusal, MembershipView};
use raft_std_driver::client::{Client, ClientError};
use raft_std_driver::kv::{Command, Response};
use raft_std_driver::local::LocalCluster;
use raftcore::Role;
use serde_json::Value;

mod common;

use common::{eventually, opts, raft_node, stats};

/// How long a membership step may wait for a learner to catch up or a leader to appear.
const STEP: Duration = Duration::from_secs(30);

/// The writes acknowledged so far, by a client writing `w{i} = v{i}` until told to stop.
struct Writer {
    acked: Arc<Mutex<Vec<u32>>>,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Writer {
    fn start(mut client: Client) -> Writer {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, c, s) = (acked.clone(), count.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut i = 0u32;
            while !s.load(Ordering::SeqCst) {
                let put = Command::Put {
                    key: format!("w{i}").into_bytes(),
                    value: format!("v{i}").into_bytes(),
                };
                match client.execute(put) {
                    Ok(Response::Written) => {
                        a.lock().unwrap().push(i);
                        c.fetch_add(1, Ordering::SeqCst);
                        i += 1;
                    }
                    // Not acknowledged (a leader change, a killed leader): written or not,
                    // it is not counted; the next write uses a new key.
                    _ => {
                        i += 1;
                        thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        });
        Writer {
            acked,
            count,
            stop,
            thread,
        }
    }

    /// Waits until `more` further writes were acknowledged.
    fn wait_for(&self, more: usize) {
        let target = self.count.load(Ordering::SeqCst) + more;
        assert!(
            eventually(30, || self.count.load(Ordering::SeqCst) >= target),
            "the writes stalled at {} acknowledged",
            self.count.load(Ordering::SeqCst)
        );
    }

    fn stop(self) -> Vec<u32> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the writer thread");
        Arc::try_unwrap(self.acked).unwrap().into_inner().unwrap()
    }
}

/// Retries `f` while the leader refuses it because a learner has not caught up, or while no
/// leader answers, for at most [`STEP`].
fn until_done(
    what: &str,
    mut f: impl FnMut() -> Result<MembershipView, ClientError>,
) -> MembershipView {
    let deadline = Instant::now() + STEP;
    loop {
        match f() {
            Ok(view) => return view,
            Err(ClientError::Refused(MemberRefusal::NotCaughtUp(_)))
            | Err(ClientError::Failed { .. })
                if Instant::now() < deadline =>
            {
                thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// The ids on node `id`'s allow-list.
fn allow_list(client: &mut Client, id: u32) -> Vec<u64> {
    let v = stats(client, id);
    v["peers"]["allow_list"]
        .as_array()
        .expect("an allow-list")
        .iter()
        .filter_map(Value::as_u64)
        .collect()
}

/// The leader among the running nodes.
fn leader(cluster: &mut LocalCluster, client: &mut Client) -> u32 {
    cluster
        .wait_for_leader(client, None, 0, STEP)
        .expect("a leader")
        .0
}

#[test]
fn nodes_join_with_one_address_a_voter_is_replaced_in_one_joint_step_and_the_leader_dies_midway() {
    // The fault hook only to hand leadership to a new node (the `transfer-to` file).
    std::env::set_var(raft_std_driver::node::FAULT_HOOK_VAR, "1");
    let mut cluster = LocalCluster::start_growing(raft_node(), 6, 3, &["--snapshot-entries", "64"])
        .expect("start nodes 1..3");
    let originals: Vec<u32> = (1..=3).map(|id| cluster.pid(id).unwrap()).collect();
    let mut admin = cluster.client(opts()).unwrap();
    let first = leader(&mut cluster, &mut admin);
    assert!(first <= 3);
    let writer = Writer::start(cluster.client(opts()).unwrap());
    writer.wait_for(30);

    // Nodes 4 and 5 know only one member's address each.
    cluster.join(4, 1).unwrap();
    cluster.join(5, 2).unwrap();
    let addr = |c: &LocalCluster, id: u32| c.nodes[id as usize - 1].addr;
    for id in [4, 5] {
        let at = addr(&cluster, id);
        let view = until_done("add a learner", || {
            admin.change_membership(MemberChange::AddLearnerAt(id, at))
        });
        assert!(view.learners.contains(&id));
        assert!(view.addresses.contains(&(id, at)), "{view}");
    }
    // Both promoted at once (a joint step, left automatically).
    let promote = JointChange {
        changes: vec![MemberChange::Promote(4), MemberChange::Promote(5)],
        auto_leave: true,
    };
    until_done("promote 4 and 5", || admin.change_joint(promote.clone()));
    let view = admin.wait_not_joint(Instant::now() + STEP).unwrap();
    assert_eq!(
        (
            view.voters.clone(),
            view.learners.clone(),
            view.outgoing.clone()
        ),
        (vec![1, 2, 3, 4, 5], vec![], vec![]),
        "{view}"
    );
    writer.wait_for(20);
    for id in 1..=5u32 {
        let list = allow_list(&mut admin, id);
        let others: Vec<u64> = (1..=5).filter(|&o| o != id).map(u64::from).collect();
        assert!(
            others.iter().all(|o| list.contains(o)),
            "node {id} accepts {list:?}"
        );
    }

    // A sixth node, started the same way, is added as a learner.
    cluster.join(6, 3).unwrap();
    let at6 = addr(&cluster, 6);
    until_done("add learner 6", || {
        admin.change_membership(MemberChange::AddLearnerAt(6, at6))
    });

    // Leadership goes to new node 4, so the leader killed mid-change may be restarted.
    let deadline = Instant::now() + STEP;
    loop {
        let l = leader(&mut cluster, &mut admin);
        if l == 4 {
            break;
        }
        assert!(Instant::now() < deadline, "leadership never reached node 4");
        let dir = &cluster.nodes[l as usize - 1].data_dir;
        std::fs::write(dir.join(raft_std_driver::node::TRANSFER_TO_FILE), "4").unwrap();
        thread::sleep(Duration::from_millis(300));
    }
    admin.set_target(4);

    // Replace original node 1 by node 6 in one joint step, left explicitly.
    let replace = JointChange {
        changes: vec![MemberChange::Promote(6), MemberChange::Remove(1)],
        auto_leave: false,
    };
    let joint = until_done("replace 1 by 6", || admin.change_joint(replace.clone()));
    assert_eq!(joint.outgoing, vec![1, 2, 3, 4, 5], "{joint}");
    assert_eq!(joint.voters, vec![2, 3, 4, 5, 6], "{joint}");
    // A second change while the joint configuration is in force is refused.
    assert!(matches!(
        admin.change_membership(MemberChange::Remove(2)),
        Err(ClientError::Refused(MemberRefusal::JointInProgress))
    ));

    // The leader dies between entering and leaving the joint configuration.
    let before = admin.status(4).unwrap().expect("node 4 answers");
    assert_eq!(before.role, Role::Leader);
    cluster.kill(4).unwrap();
    let (next, _) = cluster
        .wait_for_leader(&mut admin, Some(4), before.term, STEP)
        .expect("a new leader in the joint configuration");
    assert_ne!(next, 4);
    writer.wait_for(20);
    // Node 4 is a new node: it may be restarted (joining through node 1 again).
    cluster.restart(4).unwrap();
    let view = until_done("leave the joint configuration", || admin.leave_joint());
    assert!(view.outgoing.is_empty(), "{view}");
    let view = admin.wait_not_joint(Instant::now() + STEP).unwrap();
    assert_eq!(
        (view.voters.clone(), view.outgoing.clone()),
        (vec![2, 3, 4, 5, 6], vec![]),
        "{view}"
    );
    writer.wait_for(30);
    let acked = writer.stop();
    assert!(
        acked.len() >= 100,
        "only {} writes acknowledged",
        acked.len()
    );

    // Every acknowledged write is on every member (each node's own state, read locally).
    for id in 2..=6u32 {
        let mut missing = Vec::new();
        let ok = eventually(30, || {
            missing = acked
                .iter()
                .copied()
                .filter(|i| {
                    let got = admin.local_get(id, format!("w{i}").as_bytes());
                    got.ok().flatten() != Some(Response::Value(Some(format!("v{i}").into_bytes())))
                })
                .take(3)
                .collect();
            missing.is_empty()
        });
        assert!(ok, "node {id} lacks acknowledged writes, e.g. {missing:?}");
    }

    // The removed node is on no member's allow-list or send table.
    for id in 2..=6u32 {
        let v = stats(&mut admin, id);
        for table in ["allow_list", "send_to"] {
            let ids: Vec<u64> = v["peers"][table]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_u64)
                .collect();
            assert!(
                !ids.contains(&1),
                "node {id}'s {table} still has node 1: {ids:?}"
            );
        }
    }
    // Node 1 either applied its removal (then, as a non-member, it never campaigns again) or
    // never heard of it: then it pre-votes, the members refuse it as a removed peer and tell
    // it so, and it goes quiet. Either way it ends up knowing, and stops sending.
    let knows = |admin: &mut Client| stats(admin, 1)["driver"]["removed"] == true;
    assert!(
        eventually(30, || knows(&mut admin)),
        "node 1 never learned of its removal: {:#}",
        stats(&mut admin, 1)
    );
    let refused = |admin: &mut Client| -> u64 {
        (2..=6u32)
            .map(|id| {
                let t = &stats(admin, id)["transport"];
                ["removed_peer", "unknown_peer"]
                    .iter()
                    .map(|r| t[r].as_u64().unwrap_or(0))
                    .sum::<u64>()
            })
            .sum()
    };
    let at_first = refused(&mut admin);
    thread::sleep(Duration::from_secs(2));
    assert_eq!(
        refused(&mut admin),
        at_first,
        "node 1 still sends after it learned of its removal"
    );
    let one = stats(&mut admin, 1);
    assert_ne!(one["role"], "leader", "the removed node leads: {one}");

    // No process of the original three was ever restarted.
    for id in 1..=3u32 {
        assert!(cluster.is_running(id), "original node {id} died");
        assert_eq!(cluster.pid(id), Some(originals[id as usize - 1]));
    }
}
