//! The closed-loop worker both systems run: one session, one request in flight, random keys,
//! adaptive backoff after a failed request.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::backend::{OpError, Session};

/// What the workers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Puts only.
    Put,
    /// Linearizable gets only.
    Get,
    /// Each request a put or a get with probability 1/2.
    Mix,
}

impl Workload {
    /// The table's name for it.
    pub fn label(self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Get => "get",
            Workload::Mix => "50/50",
        }
    }
}

/// Workers run but record nothing (connections settle, the leader's batches fill).
pub const WARMUP: u8 = 0;
/// Workers record every request's latency.
pub const MEASURE: u8 = 1;
/// Workers count acknowledged puts only (the strace window, whose requests are slowed).
pub const WINDOW: u8 = 2;
/// Workers finish their request and return.
pub const STOP: u8 = 3;

/// What the coordinator and the workers share.
#[derive(Debug, Default)]
pub struct Shared {
    /// One of [`WARMUP`], [`MEASURE`], [`WINDOW`], [`STOP`].
    pub phase: AtomicU8,
    /// Puts acknowledged during [`WINDOW`].
    pub window_puts: AtomicU64,
}

/// The key space and value size of a run.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Keys are `k0000` .. `k{keys-1}`, drawn uniformly.
    pub keys: u32,
    /// Bytes per value (random bytes, new for every put).
    pub value_size: usize,
}

/// The key named by `i`.
pub fn key(i: u32) -> Vec<u8> {
    format!("k{i:04}").into_bytes()
}

/// What one worker saw.
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Latencies of the puts acknowledged during [`MEASURE`], in microseconds.
    pub puts: Vec<u32>,
    /// Latencies of the gets answered during [`MEASURE`], in microseconds.
    pub gets: Vec<u32>,
    /// Failed requests (any phase), `Busy` ones excluded.
    pub errors: u64,
    /// Requests the system refused as overloaded (any phase).
    pub busy: u64,
    /// Backoff sleeps taken, and their total length.
    pub backoffs: u64,
    /// Total time slept in backoff.
    pub backoff_time: Duration,
    /// The first error's text.
    pub first_error: Option<String>,
}

/// Exponential backoff with jitter: after the n-th failure in a row, a random sleep in
/// [d/2, d] with d = 1 ms * 2^(n-1), at most 500 ms; a success starts over.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    const BASE: Duration = Duration::from_millis(1);
    const CAP: Duration = Duration::from_millis(500);

    /// A request succeeded.
    pub fn success(&mut self) {
        self.failures = 0;
    }

    /// A request failed: how long to wait before the next one.
    pub fn failure(&mut self, rng: &mut fastrand::Rng) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let d = Self::BASE
            .saturating_mul(1u32 << (self.failures - 1).min(20))
            .min(Self::CAP);
        let half = d / 2;
        half + half.mul_f64(rng.f64())
    }
}

/// Runs `workload` on `session` until the phase is [`STOP`].
pub fn run(
    session: &mut dyn Session,
    workload: Workload,
    shape: Shape,
    seed: u64,
    shared: &Shared,
) -> WorkerStats {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut stats = WorkerStats::default();
    let mut backoff = Backoff::default();
    let mut value = vec![0u8; shape.value_size];
    while shared.phase.load(Ordering::Acquire) != STOP {
        let k = key(rng.u32(..shape.keys.max(1)));
        let is_put = match workload {
            Workload::Put => true,
            Workload::Get => false,
            Workload::Mix => rng.bool(),
        };
        let t0 = Instant::now();
        let r = if is_put {
            rng.fill(&mut value);
            session.put(&k, &value)
        } else {
            session.get(&k).map(drop)
        };
        let us = u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX);
        let phase = shared.phase.load(Ordering::Acquire);
        match r {
            Ok(()) => {
                backoff.success();
                match (phase, is_put) {
                    (MEASURE, true) => stats.puts.push(us),
                    (MEASURE, false) => stats.gets.push(us),
                    (WINDOW, true) => {
                        shared.window_puts.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
            Err(e) => {
                match &e {
                    OpError::Busy(_) => stats.busy += 1,
                    OpError::Other(_) => stats.errors += 1,
                }
                if stats.first_error.is_none() {
                    stats.first_error = Some(e.to_string());
                }
                let pause = backoff.failure(&mut rng);
                stats.backoffs += 1;
                stats.backoff_time += pause;
                std::thread::sleep(pause);
            }
        }
    }
    stats
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets_on_success() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut b = Backoff::default();
        let first = b.failure(&mut rng);
        assert!(first >= Duration::from_micros(500) && first <= Duration::from_millis(1));
        let second = b.failure(&mut rng);
        assert!(second >= Duration::from_millis(1) && second <= Duration::from_millis(2));
        for _ in 0..40 {
            assert!(b.failure(&mut rng) <= Backoff::CAP);
        }
        assert!(b.failure(&mut rng) >= Backoff::CAP / 2);
        b.success();
        assert!(b.failure(&mut rng) <= Duration::from_millis(1));
    }

    /// A session that fails every third request and answers gets with the last put's value.
    struct Flaky {
        n: u64,
        last: Option<Vec<u8>>,
    }

    impl Session for Flaky {
        fn put(&mut self, _key: &[u8], value: &[u8]) -> Result<(), OpError> {
            self.n += 1;
            if self.n.is_multiple_of(3) {
                return Err(OpError::Busy("full".into()));
            }
            self.last = Some(value.to_vec());
            Ok(())
        }
        fn get(&mut self, _key: &[u8]) -> Result<Option<Vec<u8>>, OpError> {
            self.n += 1;
            if self.n.is_multiple_of(3) {
                return Err(OpError::Other("lost".into()));
            }
            Ok(self.last.clone())
        }
    }

    #[test]
    fn a_worker_records_only_while_measuring_and_counts_failures() {
        let shared = Shared::default();
        shared.phase.store(MEASURE, Ordering::Release);
        let shape = Shape {
            keys: 10,
            value_size: 64,
        };
        let stats = std::thread::scope(|s| {
            let w = s.spawn(|| {
                let mut session = Flaky { n: 0, last: None };
                run(&mut session, Workload::Mix, shape, 1, &shared)
            });
            std::thread::sleep(Duration::from_millis(50));
            shared.phase.store(STOP, Ordering::Release);
            w.join().unwrap()
        });
        let ok = (stats.puts.len() + stats.gets.len()) as u64;
        let failed = stats.busy + stats.errors;
        assert!(ok > 0 && stats.busy > 0 && stats.errors > 0);
        // Every third request fails, give or take the last one.
        assert!(ok.abs_diff(2 * failed) <= 2, "{ok} ok, {failed} failed");
        assert_eq!(stats.backoffs, failed);
        assert!(stats.first_error.is_some());
    }
}
