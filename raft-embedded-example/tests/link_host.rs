//! The lossy link task on embassy's std executor: every frame sent is accounted for exactly once
//! (delivered or dropped for a named reason, duplicates added), and the fault schedule really
//! drops, duplicates and overflows.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use embassy_executor::Executor;
use embassy_time::Timer;
use raft_embedded_example::link::{self, Frame, Inbox, LinkConfig, LinkStats, Uplink, NODES};

const FRAMES: u32 = 400;

static UPLINK: Uplink = Uplink::new();
static INBOXES: [Inbox; NODES] = [Inbox::new(), Inbox::new(), Inbox::new()];
static STATS: LinkStats = LinkStats::new();
static RECEIVED: AtomicU32 = AtomicU32::new(0);

#[embassy_executor::task]
async fn link_task() {
    let config = LinkConfig {
        seed: 42,
        drop_per_mille: 100,
        dup_per_mille: 100,
        max_delay_ms: 5,
    };
    link::run(&UPLINK, &INBOXES, &STATS, config).await
}

#[embassy_executor::task(pool_size = NODES)]
async fn sink(inbox: &'static Inbox) {
    loop {
        let frame = inbox.receive().await;
        assert_eq!(frame.len(), 4, "frames arrive whole");
        RECEIVED.fetch_add(1, Ordering::Relaxed);
        // A slow consumer, so inboxes sometimes fill up.
        Timer::after_micros(300).await;
    }
}

#[embassy_executor::task]
async fn source(done: mpsc::Sender<()>) {
    for n in 0..FRAMES {
        let mut frame = Frame::new();
        frame.extend_from_slice(&n.to_le_bytes()).expect("fits");
        link::send(&UPLINK, &STATS, n as usize % NODES, frame);
        // Bursts of 16, so the uplink and delay line sometimes overflow.
        if n % 16 == 15 {
            Timer::after_millis(3).await;
        }
    }
    // Let everything in flight land (delays are at most 5 ms).
    Timer::after_millis(100).await;
    let _ = done.send(());
}

#[test]
fn every_frame_is_delivered_or_counted_as_dropped() {
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
        executor.run(|spawner| {
            spawner.spawn(link_task().expect("spawned once"));
            for inbox in &INBOXES {
                spawner.spawn(sink(inbox).expect("pool of NODES"));
            }
            spawner.spawn(source(done_tx).expect("spawned once"));
        })
    });
    done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the source finished");

    let s = &STATS;
    let accounted = s.delivered.get()
        + s.dropped_uplink_full.get()
        + s.dropped_random.get()
        + s.dropped_delay_full.get()
        + s.dropped_inbox_full.get();
    assert_eq!(s.sent.get(), FRAMES);
    assert_eq!(accounted, s.sent.get() + s.duplicated.get(), "{s:?}");
    assert_eq!(RECEIVED.load(Ordering::Relaxed), s.delivered.get());
    assert!(s.dropped_random.get() > 0, "{s:?}");
    assert!(s.duplicated.get() > 0, "{s:?}");
}
