//! The firmware's application logic on embassy's std executor: the same `pingpong` functions the
//! Cortex-M tasks run, checked on the host where QEMU may be missing.

use std::sync::mpsc;
use std::time::Duration;

use embassy_executor::Executor;
use raft_embedded_example::pingpong::{self, Failure, Mailbox, Report};

const ROUNDS: u32 = 20;

static TO_SERVER: Mailbox = Mailbox::new();
static TO_CLIENT: Mailbox = Mailbox::new();

#[embassy_executor::task]
async fn server(inbox: &'static Mailbox, outbox: &'static Mailbox) {
    pingpong::server(inbox, outbox).await
}

#[embassy_executor::task]
async fn client(
    outbox: &'static Mailbox,
    inbox: &'static Mailbox,
    done: mpsc::Sender<Result<Report, Failure>>,
) {
    let result = pingpong::client(outbox, inbox, ROUNDS).await;
    // The receiver only goes away when the test has already failed on its timeout.
    let _ = done.send(result);
}

#[test]
fn ping_pong_rounds_complete_in_order_and_wait_for_the_timers() {
    let (done_tx, done_rx) = mpsc::channel();
    // The std executor's `run` never returns, so it gets its own thread, which ends with the
    // test process.
    std::thread::spawn(move || {
        let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
        executor.run(|spawner| {
            spawner.spawn(server(&TO_SERVER, &TO_CLIENT).expect("spawned once"));
            spawner.spawn(client(&TO_SERVER, &TO_CLIENT, done_tx).expect("spawned once"));
        })
    });
    let result = done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the client finished within 10 s");
    let report = result.expect("ping-pong checks");
    assert_eq!(report.rounds, ROUNDS);
}
