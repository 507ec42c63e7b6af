//! A latency histogram the node loop fills without locks or allocation (it owns it; the
//! metrics endpoint reads a copy), with fixed buckets from 100 µs to 1 s.

use std::time::Duration;

/// The buckets' upper bounds in microseconds (`+Inf` is implied: it is the total count).
pub const BOUNDS_US: [u64; 13] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000,
];

/// How many observations fell into each bucket, their count and their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Observations per bucket (not cumulative): `per_bucket[i]` counts those above
    /// `BOUNDS_US[i - 1]` and at most `BOUNDS_US[i]`; the ones above the last bound are only in
    /// `count`.
    pub per_bucket: [u64; BOUNDS_US.len()],
    /// All observations.
    pub count: u64,
    /// Their sum, in nanoseconds.
    pub sum_ns: u64,
}

impl Latency {
    /// Records one duration.
    pub fn observe(&mut self, d: Duration) {
        let us = d.as_micros();
        if let Some(i) = BOUNDS_US.iter().position(|&b| us <= u128::from(b)) {
            self.per_bucket[i] += 1;
        }
        self.count += 1;
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }

    /// The sum in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_ns as f64 / 1e9
    }

    /// `(upper bound in seconds, observations in that bucket)` for each bucket, `+Inf` last.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        let finite: u64 = self.per_bucket.iter().sum();
        BOUNDS_US
            .iter()
            .zip(self.per_bucket)
            .map(|(&b, n)| (b as f64 / 1e6, n))
            .chain([(f64::INFINITY, self.count - finite)])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_bucket_and_the_rest_in_inf() {
        let mut l = Latency::default();
        l.observe(Duration::from_micros(100));
        l.observe(Duration::from_micros(101));
        l.observe(Duration::from_secs(3));
        let b = l.buckets();
        assert_eq!(b[0], (0.0001, 1));
        assert_eq!(b[1], (0.00025, 1));
        assert_eq!(b.last(), Some(&(f64::INFINITY, 1)));
        assert_eq!(l.count, 3);
        assert!((l.sum_seconds() - 3.000201).abs() < 1e-9);
    }
}
