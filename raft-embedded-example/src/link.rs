//! The lossy link between the nodes: bounded channels and one task that drops, duplicates and
//! delays frames, deciding each fate from a seeded PRNG.
//!
//! Every node sends with `try_send` into one shared uplink; the link task takes each frame,
//! decides its fate, parks the survivors in a small delay line and, when each is due, hands it to
//! the addressee's inbox, again with `try_send`. Nothing on the path ever waits for room: a full
//! channel or a full delay line drops the frame and counts it. Raft retries what matters, so a
//! lossy link is exactly what it must survive; random delays also reorder frames.

use core::sync::atomic::{AtomicU32, Ordering};

use embassy_futures::select::{select, Either};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_time::{Duration, Instant, Timer};
use heapless::Vec;

use crate::rng::Rng;

/// Nodes in the example cluster.
pub const NODES: usize = 3;

/// Capacity of one frame buffer, and the nodes' `max_frame_bytes`: entries carry up to
/// `raftcore::codec::max_payload(128)` = 37 bytes, and an AppendEntries up to 3 of the
/// example's 4-byte values.
pub const FRAME_BYTES: usize = 128;

/// Frames all nodes may have queued toward the link task at once.
pub const UPLINK_DEPTH: usize = 8;

/// Frames one node may have waiting to be stepped.
pub const INBOX_DEPTH: usize = 4;

/// Frames the link may hold back (delayed) at once.
pub const DELAY_SLOTS: usize = 8;

/// One encoded frame, exactly the bytes the UDP driver would put in a datagram.
pub type Frame = Vec<u8, FRAME_BYTES>;

/// A frame on its way to node `to` (an index into the cluster, `0..NODES`).
#[derive(Clone, Debug)]
pub struct Packet {
    /// Index of the addressee.
    pub to: usize,
    /// The frame.
    pub frame: Frame,
}

/// The channel every node sends into.
pub type Uplink = Channel<CriticalSectionRawMutex, Packet, UPLINK_DEPTH>;

/// One node's receive queue.
pub type Inbox = Channel<CriticalSectionRawMutex, Frame, INBOX_DEPTH>;

/// A relaxed event counter (only read for the report at the end).
#[derive(Debug, Default)]
pub struct Counter(AtomicU32);

impl Counter {
    /// Zero.
    pub const fn new() -> Counter {
        Counter(AtomicU32::new(0))
    }

    /// Counts one event.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The events so far.
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What happened to the frames, for the report and for the check that faults really happened.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Frames the nodes sent (including those dropped at a full uplink).
    pub sent: Counter,
    /// Dropped because the uplink was full.
    pub dropped_uplink_full: Counter,
    /// Dropped on purpose by the fault schedule.
    pub dropped_random: Counter,
    /// Extra copies made by the fault schedule.
    pub duplicated: Counter,
    /// Dropped because the delay line was full.
    pub dropped_delay_full: Counter,
    /// Dropped because the addressee's inbox was full.
    pub dropped_inbox_full: Counter,
    /// Handed to an inbox.
    pub delivered: Counter,
}

impl LinkStats {
    /// All zero.
    pub const fn new() -> LinkStats {
        LinkStats {
            sent: Counter::new(),
            dropped_uplink_full: Counter::new(),
            dropped_random: Counter::new(),
            duplicated: Counter::new(),
            dropped_delay_full: Counter::new(),
            dropped_inbox_full: Counter::new(),
            delivered: Counter::new(),
        }
    }
}

/// The fault schedule.
#[derive(Clone, Copy, Debug)]
pub struct LinkConfig {
    /// Seed of the PRNG that decides every frame's fate.
    pub seed: u64,
    /// Chance, in thousandths, that a frame is dropped.
    pub drop_per_mille: u32,
    /// Chance, in thousandths, that a surviving frame is delivered twice.
    pub dup_per_mille: u32,
    /// Each delivered copy is delayed uniformly in `0..=max_delay_ms` milliseconds.
    pub max_delay_ms: u32,
}

impl LinkConfig {
    /// The example's link: 5 % of frames dropped, 5 % duplicated, each delayed up to 8 ms
    /// (under one 10 ms tick), from the example's [`SEED`](crate::SEED).
    pub const DEFAULT: LinkConfig = LinkConfig {
        seed: crate::SEED,
        drop_per_mille: 50,
        dup_per_mille: 50,
        max_delay_ms: 8,
    };
}

/// Sends `frame` to node `to` through the link: never waits; a full uplink drops and counts.
pub fn send(uplink: &Uplink, stats: &LinkStats, to: usize, frame: Frame) {
    stats.sent.bump();
    if uplink.try_send(Packet { to, frame }).is_err() {
        stats.dropped_uplink_full.bump();
    }
}

/// The link task: runs forever.
pub async fn run(
    uplink: &Uplink,
    inboxes: &[Inbox; NODES],
    stats: &LinkStats,
    config: LinkConfig,
) -> ! {
    let mut rng = Rng::new(config.seed);
    let mut line: Vec<(Instant, Packet), DELAY_SLOTS> = Vec::new();
    loop {
        let next_due = line.iter().map(|(at, _)| *at).min();
        let due = async {
            match next_due {
                Some(at) => Timer::at(at).await,
                None => core::future::pending().await,
            }
        };
        if let Either::First(packet) = select(uplink.receive(), due).await {
            if rng.chance(config.drop_per_mille) {
                stats.dropped_random.bump();
            } else {
                let copies = if rng.chance(config.dup_per_mille) {
                    stats.duplicated.bump();
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let delay = Duration::from_millis(rng.below(config.max_delay_ms + 1).into());
                    if line.push((Instant::now() + delay, packet.clone())).is_err() {
                        stats.dropped_delay_full.bump();
                    }
                }
            }
        }
        // Hand over everything that is due (a zero delay is due at once).
        let now = Instant::now();
        let mut i = 0;
        while i < line.len() {
            if line[i].0 <= now {
                let (_, packet) = line.swap_remove(i);
                deliver(inboxes, stats, packet);
            } else {
                i += 1;
            }
        }
    }
}

fn deliver(inboxes: &[Inbox; NODES], stats: &LinkStats, packet: Packet) {
    // `to` comes from our own nodes, which only address `0..NODES`.
    let Some(inbox) = inboxes.get(packet.to) else {
        return;
    };
    match inbox.try_send(packet.frame) {
        Ok(()) => stats.delivered.bump(),
        Err(_) => stats.dropped_inbox_full.bump(),
    }
}
