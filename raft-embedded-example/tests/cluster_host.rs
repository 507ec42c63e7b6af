//! The firmware's application on embassy's std executor: three raft-core nodes, the lossy link
//! and the client, the very same `async` functions the Cortex-M tasks run, with the same seed.

use std::sync::mpsc;
use std::time::Duration;

use embassy_executor::Executor;
use raft_embedded_example::cluster::{
    self, Node, NodeEngine, Shared, WindowMemory, EMPTY_WINDOWS, STORE_BYTES,
};
use raft_embedded_example::link::{self, LinkConfig, NODES};
use raft_embedded_example::scenario::{self, Failure, Report, Scenario};
use raft_embedded_example::{node, SEED};

static SHARED: Shared = Shared::new();

#[embassy_executor::task(pool_size = NODES)]
async fn node_task(k: usize, mem: &'static mut NodeEngine) {
    node::run(k, mem, &SHARED, SEED).await
}

#[embassy_executor::task]
async fn link_task(config: LinkConfig) {
    link::run(&SHARED.uplink, &SHARED.inboxes, &SHARED.link_stats, config).await
}

#[embassy_executor::task]
async fn client_task(done: mpsc::Sender<Result<Report, Failure>>) {
    let result = scenario::run(&SHARED, Scenario::DEFAULT).await;
    // The receiver is gone only if the test already failed on its timeout.
    let _ = done.send(result);
}

#[test]
fn three_nodes_agree_across_a_power_cycle_of_the_leader_over_a_lossy_link() {
    let (done_tx, done_rx) = mpsc::channel();
    // The std executor's `run` never returns: it gets a thread, which ends with the process.
    std::thread::spawn(move || {
        let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
        executor.run(|spawner| {
            let windows: &'static mut WindowMemory = Box::leak(Box::new(EMPTY_WINDOWS));
            SHARED.windows.lend(windows);
            for k in 0..NODES {
                let buf: &'static mut [u8; STORE_BYTES] = Box::leak(Box::new([0; STORE_BYTES]));
                let mem = Box::leak(Box::new(cluster::node(k, SEED, buf, &SHARED)));
                spawner.spawn(node_task(k, mem).expect("a pool of NODES"));
            }
            spawner.spawn(link_task(LinkConfig::DEFAULT).expect("spawned once"));
            spawner.spawn(client_task(done_tx).expect("spawned once"));
        })
    });
    let result = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the client finished within 60 s");
    let report = result.expect("the run's checks");
    eprintln!("{report:?}");
    eprintln!("size_of::<State>() = {} B", core::mem::size_of::<Node>());
    assert_ne!(report.first_leader.0, report.new_leader.0);
    assert!(report.new_leader.1 > report.first_leader.1);
    assert_eq!(report.values, 20);
    // Each node holds one window; the power-cycled node's old one came back as the spare.
    assert_eq!(SHARED.windows.free(), 1);
}
