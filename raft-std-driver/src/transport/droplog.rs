//! Rate-limited reporting of refused datagrams: at most one report per source address per
//! interval, carrying how many refusals from that address were not reported since.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How often one source address is reported at most.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// Addresses remembered at most; past that, addresses whose interval is over are forgotten,
/// and if none is, refusals from new addresses go unreported (they are still counted by the
/// [`Opener`](super::Opener)).
pub const MAX_SOURCES: usize = 1024;

/// Per source address: when it was last reported and the refusals since.
#[derive(Debug, Clone, Copy)]
struct Source {
    reported: Instant,
    suppressed: u64,
}

/// Decides which refused datagrams are worth a log line (and a refusal notice).
#[derive(Debug)]
pub struct DropLog {
    interval: Duration,
    sources: HashMap<SocketAddr, Source>,
}

impl Default for DropLog {
    fn default() -> Self {
        DropLog::new(REPORT_INTERVAL)
    }
}

impl DropLog {
    /// Reports each source at most once per `interval`.
    pub fn new(interval: Duration) -> DropLog {
        DropLog {
            interval,
            sources: HashMap::new(),
        }
    }

    /// Notes a refusal from `from` at `now`: `Some(suppressed)` when it is to be reported
    /// (with the number of refusals from `from` left unreported since its last report),
    /// `None` when it is to be left out.
    pub fn note(&mut self, from: SocketAddr, now: Instant) -> Option<u64> {
        if let Some(s) = self.sources.get_mut(&from) {
            if now.saturating_duration_since(s.reported) < self.interval {
                s.suppressed = s.suppressed.saturating_add(1);
                return None;
            }
            let suppressed = s.suppressed;
            *s = Source {
                reported: now,
                suppressed: 0,
            };
            return Some(suppressed);
        }
        if self.sources.len() >= MAX_SOURCES {
            let interval = self.interval;
            self.sources
                .retain(|_, s| now.saturating_duration_since(s.reported) < interval);
            if self.sources.len() >= MAX_SOURCES {
                return None;
            }
        }
        let fresh = Source {
            reported: now,
            suppressed: 0,
        };
        self.sources.insert(from, fresh);
        Some(0)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn one_report_per_address_per_interval_with_the_count_left_out() {
        let mut log = DropLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(log.note(addr(1), t0), Some(0));
        assert_eq!(log.note(addr(1), t0 + Duration::from_secs(1)), None);
        assert_eq!(log.note(addr(1), t0 + Duration::from_secs(9)), None);
        // Another address has its own interval.
        assert_eq!(log.note(addr(2), t0 + Duration::from_secs(9)), Some(0));
        assert_eq!(log.note(addr(1), t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(log.note(addr(1), t0 + Duration::from_secs(21)), Some(0));
    }

    #[test]
    fn the_table_is_bounded_and_forgets_quiet_addresses_first() {
        let mut log = DropLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        for p in 0..MAX_SOURCES as u16 {
            assert_eq!(log.note(addr(p), t0), Some(0));
        }
        // Full, and every address still inside its interval: a new one goes unreported.
        assert_eq!(log.note(addr(60_000), t0), None);
        // Once the interval is over the old ones make room.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(log.note(addr(60_000), later), Some(0));
        assert!(log.sources.len() <= MAX_SOURCES);
    }
}
