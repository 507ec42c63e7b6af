//! Membership change on real `raft-node` processes over UDP: three voters and a fourth node in
//! every peer table; it joins as a learner, is promoted, the leader is removed, and the
//! cluster goes on; a node removed while it was down is told so when it comes back, and stops
//! sending. Every wait is bounded; no test asserts a wall-clock duration.

use std::time::{Duration, Instant};

use raft_std_driver::admin::{MemberChange, MemberRefusal};
use raft_std_driver::client::{Client, ClientError};
use raft_std_driver::kv::Response;
use raft_std_driver::local::LocalCluster;

mod common;

use common::{eventually, get, opts, put, raft_node, refused, stats};
use raft_std_driver::storage::SnapshotStore;

#[test]
fn a_learner_is_added_and_promoted_and_the_removed_leader_is_replaced() {
    // Snapshots every 16 applied entries: node 4 joins through InstallSnapshot, and snapshots
    // name the membership of their index.
    let mut cluster =
        LocalCluster::start_with_voters(raft_node(), 4, 3, &["--snapshot-entries", "16"])
            .expect("start nodes");
    let mut client = cluster.client(opts()).unwrap();
    let (leader, term) = cluster
        .wait_for_leader(&mut client, None, 0, Duration::from_secs(10))
        .expect("a leader");
    assert!(leader <= 3, "node 4 is not a voter yet but leads");
    client.set_target(leader);
    for i in 0..40 {
        put(&mut client, &format!("k{i}"), &format!("v{i}"));
    }
    let view = client.membership().unwrap();
    assert_eq!((view.voters, view.learners), (vec![1, 2, 3], vec![]));
    let outsider = client.membership_of(4).unwrap().expect("node 4 answers");
    assert_eq!(
        outsider.voters,
        vec![1, 2, 3],
        "node 4 knows the initial voters"
    );

    // Bad requests are refused with their reason, and change nothing.
    assert_eq!(
        refused(client.change_membership(MemberChange::AddLearner(9))),
        MemberRefusal::NotInPeerTable(9)
    );
    assert_eq!(
        refused(client.change_membership(MemberChange::Promote(4))),
        MemberRefusal::NotALearner(4)
    );
    assert_eq!(
        refused(client.change_membership(MemberChange::AddLearner(leader))),
        MemberRefusal::AlreadyVoter(leader)
    );

    let view = client
        .change_membership(MemberChange::AddLearner(4))
        .unwrap();
    assert_eq!((view.voters, view.learners), (vec![1, 2, 3], vec![4]));
    assert!(view.committed);
    // Adding it again is a no-op answered with the same configuration.
    let again = client
        .change_membership(MemberChange::AddLearner(4))
        .unwrap();
    assert_eq!(again.learners, vec![4]);

    // Promote once it caught up.
    let deadline = Instant::now() + Duration::from_secs(10);
    let view = loop {
        match client.change_membership(MemberChange::Promote(4)) {
            Ok(view) => break view,
            Err(ClientError::Refused(MemberRefusal::NotCaughtUp(4))) => {
                assert!(Instant::now() < deadline, "node 4 never caught up");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("promote 4: {e}"),
        }
    };
    assert_eq!((view.voters, view.learners), (vec![1, 2, 3, 4], vec![]));
    for i in 40..50 {
        put(&mut client, &format!("k{i}"), &format!("v{i}"));
    }

    // Remove the leader: it commits the change, hands over and steps down.
    let removal = client
        .change_membership(MemberChange::Remove(leader))
        .unwrap();
    let view = removal.clone();
    let remaining: Vec<u32> = [1, 2, 3, 4].into_iter().filter(|&n| n != leader).collect();
    assert_eq!(view.voters, remaining);
    let (new_leader, new_term) = cluster
        .wait_for_leader(&mut client, Some(leader), term, Duration::from_secs(10))
        .expect("a new leader among the remaining voters");
    assert!(remaining.contains(&new_leader));
    assert!(new_term > term);
    client.set_target(new_leader);
    // Enough writes after the last change that every node snapshots (and compacts) past it.
    for i in 50..100 {
        put(&mut client, &format!("k{i}"), &format!("v{i}"));
    }
    for i in [0, 39, 45, 99] {
        assert_eq!(
            get(&mut client, &format!("k{i}")),
            Response::Value(Some(format!("v{i}").into()))
        );
    }
    let view = client.membership().unwrap();
    assert_eq!((view.node, view.voters), (new_leader, remaining.clone()));
    // The removed node no longer leads or campaigns.
    let old = client
        .status(leader)
        .unwrap()
        .expect("the removed node answers");
    assert_ne!(old.role, raftcore::Role::Leader);

    // Node 4 holds every write, and keeps it, with the membership, across a restart.
    let holds_all = |client: &mut Client| {
        (0..100).all(|i| {
            client
                .local_get(4, format!("k{i}").as_bytes())
                .ok()
                .flatten()
                == Some(Response::Value(Some(format!("v{i}").into())))
        })
    };
    assert!(
        eventually(10, || holds_all(&mut client)),
        "node 4 misses writes"
    );
    let installed = client
        .stats(4)
        .unwrap()
        .and_then(|s| s["driver"]["snapshots_installed"].as_u64());
    assert!(installed >= Some(1), "node 4 joined without a snapshot");
    // Its newest snapshot, taken after the removal, names the configuration of then.
    cluster.kill(4).unwrap();
    let snaps = SnapshotStore::open(cluster.nodes[3].data_dir.join("snap")).unwrap();
    let latest = snaps.latest().expect("node 4 has a snapshot");
    assert!(latest.index.0 > removal.index, "{latest:?} {removal:?}");
    let voters: Vec<u32> = latest.members.voters().map(|n| n.0).collect();
    assert_eq!(voters, remaining);
    assert_eq!(latest.members.learners().count(), 0);
    drop(snaps);
    cluster.restart(4).unwrap();
    assert!(
        eventually(10, || client
            .membership_of(4)
            .ok()
            .flatten()
            .is_some_and(|v| v.voters == remaining)),
        "node 4 restarted without the configuration"
    );
    assert!(
        eventually(10, || holds_all(&mut client)),
        "node 4 lost writes"
    );
}

/// `raft-client` aimed at a cluster (its `--peer` table and key, a 10 s deadline).
struct Cli {
    base: Vec<String>,
}

impl Cli {
    fn new(cluster: &LocalCluster) -> Cli {
        let mut base = common::client_flags(cluster);
        base.extend(["--timeout-ms".to_string(), "10000".to_string()]);
        Cli { base }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = self.base.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        common::run(common::raft_client(), &all)
    }

    /// Runs `args`, which must succeed: its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `args`, which must fail with one `error: ` line containing `needle`, no panic.
    fn fails(&self, args: &[&str], needle: &str) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn raft_client_member_commands_change_the_membership_and_explain_refusals() {
    let cluster = LocalCluster::start_with_voters(raft_node(), 4, 3, &[]).expect("start nodes");
    let cli = Cli::new(&cluster);
    let ok = |args: &[&str]| cli.ok(args);
    let fails = |args: &[&str], needle: &str| cli.fails(args, needle);
    assert!(ok(&["member", "show"]).starts_with("voters 1,2,3 learners - "));
    fails(
        &["member", "add-learner", "9"],
        "the leader knows no address for node 9",
    );
    fails(&["member", "leave-joint"], "not joint");
    fails(
        &["member", "joint", "--add-learner", "4", "--remove", "4"],
        "at most once",
    );
    fails(
        &["member", "joint", "--add-learner", "4=nowhere"],
        "bad address",
    );
    fails(&["member", "promote", "4"], "not a learner");
    fails(&["member", "remove", "x"], "invalid value");
    assert!(ok(&["member", "add-learner", "4"]).starts_with("voters 1,2,3 learners 4 "));
    // `promote` waits for the learner to catch up.
    assert!(ok(&["member", "promote", "4"]).starts_with("voters 1,2,3,4 learners - "));
    assert!(ok(&["member", "remove", "2"]).starts_with("voters 1,3,4 learners - "));
    // `show` lists every member's address.
    let show = ok(&["member", "show"]);
    for p in cluster.peers().iter().filter(|p| p.id != 2) {
        assert!(show.contains(&format!("{} {}", p.id, p.addr)), "{show}");
    }
    ok(&["put", "after", "changes"]);
    assert_eq!(ok(&["get", "after"]).trim(), "changes");
}

#[test]
fn raft_client_replaces_a_voter_in_one_joint_step_and_joint_changes_refuse_a_second_change() {
    let cluster = LocalCluster::start_with_voters(raft_node(), 4, 3, &[]).expect("start nodes");
    let cli = Cli::new(&cluster);
    let ok = |args: &[&str]| cli.ok(args);
    let fails = |args: &[&str], needle: &str| cli.fails(args, needle);
    // Node 4 (in the static peer tables) in as a voter, node 3 out, in one joint step that
    // is left automatically.
    assert!(ok(&["member", "replace", "3", "4"]).starts_with("voters 1,2,4 learners - "));
    // Node 3 back as a learner in a joint step left on request (its address from the
    // leader's --peer table: the address books dropped it with its removal).
    let addr3 = cluster.peers()[2].addr.to_string();
    let joint = ok(&["member", "joint", "--add-learner", "3", "--explicit-leave"]);
    assert!(
        joint.starts_with("joint: old voters 1,2,4 -> voters 1,2,4 learners 3 "),
        "{joint}"
    );
    fails(
        &["member", "remove", "1"],
        "a joint configuration is in force",
    );
    fails(
        &["member", "joint", "--remove", "1"],
        "a joint configuration is in force",
    );
    assert!(ok(&["member", "leave-joint"]).starts_with("voters 1,2,4 learners 3 "));
    let show = ok(&["member", "show"]);
    assert!(show.contains(&format!("3 {addr3}")), "{show}");
    ok(&["put", "after", "replace"]);
    assert_eq!(ok(&["get", "after"]).trim(), "replace");
}

/// A node removed while it was down never applies its removal: raft-core still counts it a
/// voter and it would pre-vote every election timeout for ever. The members authenticate its
/// datagrams, refuse them as `removed_peer` and tell it (sealed) that it was removed; it goes
/// quiet, so the members' refusals stop growing; added back, it campaigns and votes again.
#[test]
fn a_node_removed_while_down_is_told_stops_sending_and_resumes_when_added_back() {
    let mut cluster = LocalCluster::start(raft_node(), 3, &[]).expect("start nodes");
    let mut client = cluster.client(opts()).unwrap();
    let (leader, _) = cluster
        .wait_for_leader(&mut client, None, 0, Duration::from_secs(10))
        .expect("a leader");
    client.set_target(leader);
    put(&mut client, "before", "1");
    let gone = (1..=3).find(|&id| id != leader).unwrap();
    let members: Vec<u32> = (1..=3).filter(|&id| id != gone).collect();
    cluster.kill(gone).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let view = loop {
        match client.change_membership(MemberChange::Remove(gone)) {
            Ok(view) => break view,
            Err(e) if Instant::now() < deadline => {
                eprintln!("remove {gone}: {e}; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("remove {gone}: {e}"),
        }
    };
    assert!(!view.voters.contains(&gone), "{view}");
    put(&mut client, "after", "2");

    // Back with its old log: it times out, pre-votes, and is told.
    cluster.restart(gone).unwrap();
    let told = eventually(30, || stats(&mut client, gone)["driver"]["quiet"] == true);
    let seen = stats(&mut client, gone);
    assert!(told, "node {gone} was never told it was removed: {seen:#}");
    assert_eq!(seen["driver"]["removed"], true, "{seen:#}");
    assert!(seen["driver"]["removal_notices_received"].as_u64() >= Some(1));
    let sent: u64 = members
        .iter()
        .map(|&id| {
            stats(&mut client, id)["driver"]["removal_notices_sent"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert!(sent >= 1, "no member sent a removal notice");

    // Quiet: over many election timeouts (150-300 ms each) its pre-votes stop, and so do the
    // members' refusals of its datagrams (counted whatever their reason).
    let sample = |client: &mut Client| -> (u64, u64) {
        let refused: u64 = members
            .iter()
            .map(|&id| {
                let t = &stats(client, id)["transport"];
                ["removed_peer", "unknown_peer", "bad_tag"]
                    .iter()
                    .map(|r| t[r].as_u64().unwrap())
                    .sum::<u64>()
            })
            .sum();
        let pre_votes = stats(client, gone)["core"]["pre_votes"].as_u64().unwrap();
        (refused, pre_votes)
    };
    let first = sample(&mut client);
    std::thread::sleep(Duration::from_secs(3));
    let second = sample(&mut client);
    assert_eq!(
        first, second,
        "node {gone} still sends after it was told (members' refusals, its pre-votes)"
    );
    assert!(first.0 >= 1, "the members never refused node {gone}");
    // The cluster goes on without it.
    put(&mut client, "later", "3");
    assert_eq!(get(&mut client, "later"), Response::Value(Some("3".into())));
    assert_ne!(stats(&mut client, gone)["role"], "leader");

    // Added back (its address from the leader's --peer table), it hears from the leader: the
    // newer configuration ends the quiet, and it catches up and votes again.
    for change in [MemberChange::AddLearner(gone), MemberChange::Promote(gone)] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err(e) = client.change_membership(change) {
            assert!(Instant::now() < deadline, "{change}: {e}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let back = eventually(30, || {
        let v = stats(&mut client, gone);
        v["driver"]["quiet"] == false && v["driver"]["removed"] == false
    });
    assert!(
        back,
        "node {gone} stayed quiet: {:#}",
        stats(&mut client, gone)
    );
    put(&mut client, "back", "4");
    let has_back = eventually(30, || {
        client.local_get(gone, b"back").ok() == Some(Some(Response::Value(Some("4".into()))))
    });
    assert!(
        has_back,
        "node {gone} did not catch up after it was added back"
    );
}
