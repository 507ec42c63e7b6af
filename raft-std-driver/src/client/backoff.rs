//! How long a client waits, adapted to what it sees instead of fixed sleeps:
//!
//! - **Silence**: an attempt waits for its reply up to a timeout taken from the round trips
//!   measured (as TCP's: the smoothed round trip plus four times its variation, within
//!   [`MIN_TIMEOUT`] and the client's `attempt_timeout`), doubled after each silent attempt.
//!   Every attempt carries a new request id, so each reply times exactly one attempt.
//! - **Staying with the leader**: after a silent attempt the same node is tried once more
//!   (with the doubled timeout) before the next node is; a leader that is only slow keeps
//!   its clients. (Until some node has answered, silence moves on at once.)
//! - **`Busy`** (and a node that knows no leader): a pause that starts at [`FIRST_PAUSE`] and
//!   doubles up to [`MAX_PAUSE`] while the answers keep coming, with jitter (so clients refused
//!   together do not come back together), reset by the next real answer.

use std::time::Duration;

/// The shortest attempt timeout: below it, an fsync or a burst of load would look like a
/// loss, and a needless retry of a write costs the cluster another log entry.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(100);
/// The first pause after `Busy`.
pub const FIRST_PAUSE: Duration = Duration::from_millis(1);
/// The longest pause after `Busy`.
pub const MAX_PAUSE: Duration = Duration::from_millis(100);
/// Silent attempts at one node before the next node is tried.
pub const SILENT_BEFORE_NEXT: u32 = 2;

/// One client's round-trip estimate and back-off state.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// Smoothed round trip and its mean deviation (RFC 6298), once measured.
    srtt: Option<Duration>,
    rttvar: Duration,
    max_timeout: Duration,
    /// Attempts in a row without a reply.
    silent: u32,
    /// Pauses in a row (`Busy`, no leader known).
    pauses: u32,
    /// xorshift state for the jitter.
    rng: u64,
}

impl Backoff {
    /// Attempt timeouts up to `max_timeout`; `seed` varies the jitter between clients.
    pub fn new(max_timeout: Duration, seed: u64) -> Backoff {
        Backoff {
            srtt: None,
            rttvar: Duration::ZERO,
            max_timeout: max_timeout.max(Duration::from_millis(1)),
            silent: 0,
            pauses: 0,
            rng: seed | 1,
        }
    }

    /// How long the next attempt waits for its reply.
    pub fn attempt_timeout(&self) -> Duration {
        let base = match self.srtt {
            // Nothing measured yet: the longest wait allowed.
            None => return self.max_timeout,
            Some(srtt) => (srtt + 4 * self.rttvar).max(MIN_TIMEOUT),
        };
        base.saturating_mul(1 << self.silent.min(16))
            .min(self.max_timeout)
    }

    /// A reply came `rtt` after its attempt was sent.
    pub fn on_reply(&mut self, rtt: Duration) {
        self.silent = 0;
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let dev = srtt.abs_diff(rtt);
                self.rttvar = (3 * self.rttvar + dev) / 4;
                self.srtt = Some((7 * srtt + rtt) / 8);
            }
        }
    }

    /// An attempt got no reply in time; whether to move on to the next node now (at once while
    /// no node has answered yet: nothing says this one is alive).
    pub fn on_silence(&mut self) -> bool {
        self.silent = self.silent.saturating_add(1);
        self.srtt.is_none() || self.silent.is_multiple_of(SILENT_BEFORE_NEXT)
    }

    /// The node answered `Busy` (or knows no leader): how long to pause before retrying.
    pub fn pause(&mut self) -> Duration {
        let step = FIRST_PAUSE.saturating_mul(1 << self.pauses.min(16));
        self.pauses = self.pauses.saturating_add(1);
        let cap = step.min(MAX_PAUSE);
        // Jitter: between half and all of the step.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let frac = (self.rng % 1024) as u32;
        cap / 2 + cap / 2 * frac / 1024
    }

    /// A final answer came: the next refusal starts the pauses over.
    pub fn on_answer(&mut self) {
        self.pauses = 0;
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const MAX: Duration = Duration::from_millis(500);

    #[test]
    fn the_timeout_follows_the_round_trips_measured() {
        let mut b = Backoff::new(MAX, 1);
        assert_eq!(b.attempt_timeout(), MAX);
        for _ in 0..50 {
            b.on_reply(Duration::from_millis(140));
        }
        let t = b.attempt_timeout();
        assert!(
            t >= Duration::from_millis(140) && t < Duration::from_millis(160),
            "{t:?}"
        );
        // Fast round trips: never below the floor.
        for _ in 0..50 {
            b.on_reply(Duration::from_micros(100));
        }
        assert_eq!(b.attempt_timeout(), MIN_TIMEOUT);
        // Round trips that vary widely widen it.
        for i in 0..50 {
            b.on_reply(Duration::from_millis(if i % 2 == 0 { 1 } else { 100 }));
        }
        assert!(b.attempt_timeout() > Duration::from_millis(200));
    }

    #[test]
    fn silence_doubles_the_timeout_and_moves_on_every_second_time() {
        let mut b = Backoff::new(MAX, 1);
        assert!(b.on_silence(), "no node answered yet: move on");
        b.silent = 0;
        for _ in 0..50 {
            b.on_reply(Duration::from_millis(10));
        }
        let t0 = b.attempt_timeout();
        assert!(!b.on_silence(), "the same node is tried once more");
        assert_eq!(b.attempt_timeout(), (2 * t0).min(MAX));
        assert!(b.on_silence(), "then the next one");
        assert_eq!(b.attempt_timeout(), (4 * t0).min(MAX));
        for _ in 0..10 {
            b.on_silence();
        }
        assert_eq!(b.attempt_timeout(), MAX);
        b.on_reply(Duration::from_millis(10));
        assert!(b.attempt_timeout() < Duration::from_millis(200));
    }

    #[test]
    fn pauses_grow_with_jitter_up_to_the_cap_and_start_over_after_an_answer() {
        let mut b = Backoff::new(MAX, 7);
        let p: Vec<Duration> = (0..12).map(|_| b.pause()).collect();
        assert!(p[0] >= FIRST_PAUSE / 2 && p[0] <= FIRST_PAUSE, "{p:?}");
        assert!(p[4] >= 8 * FIRST_PAUSE && p[4] <= 16 * FIRST_PAUSE, "{p:?}");
        assert!(p.iter().all(|&d| d <= MAX_PAUSE), "{p:?}");
        assert!(p[11] >= MAX_PAUSE / 2, "{p:?}");
        b.on_answer();
        assert!(b.pause() <= FIRST_PAUSE);
        // Two clients refused together come back at different times.
        let (mut x, mut y) = (Backoff::new(MAX, 1), Backoff::new(MAX, 2));
        let (px, py): (Vec<_>, Vec<_>) = (0..8).map(|_| (x.pause(), y.pause())).unzip();
        assert_ne!(px, py);
    }
}
