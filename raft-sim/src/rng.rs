//! The simulator's PRNG: SplitMix64, the same algorithm (and so the same sequence for a seed)
//! as raft-core's election jitter, so schedules drawn from a seed are what they were when the
//! simulator lived inside raft-core and the seeded regressions still replay.
//!
//! A copy rather than an import: raft-core keeps its generator private (it is not driver
//! API), and a simulator must not reach into the core's internals.

/// A SplitMix64 generator, public so schedules can be generated from a seed.
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator from `seed`.
    pub const fn new(seed: u64) -> Self {
        SimRng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[lo, lo + span)`; `lo` when `span` is zero.
    pub fn in_range(&mut self, lo: u32, span: u32) -> u32 {
        if span == 0 {
            return lo;
        }
        // Multiply-shift, as raft-core's generator does (the same draws for the same seed).
        let r = ((self.next_u64() >> 32) * u64::from(span)) >> 32;
        lo + r as u32
    }
}

#[cfg(test)]
mod tests {
    use super::SimRng;

    /// SplitMix64's published first outputs for seed 0 pin the algorithm: a change here
    /// would silently reshuffle every seeded regression.
    #[test]
    fn splitmix64_reference_values() {
        let mut r = SimRng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn same_seed_same_sequence_and_range_respected() {
        let mut a = SimRng::new(7);
        let mut b = SimRng::new(7);
        for _ in 0..1000 {
            let x = a.in_range(10, 10);
            assert_eq!(x, b.in_range(10, 10));
            assert!((10..20).contains(&x));
        }
        assert_eq!(SimRng::new(3).in_range(5, 0), 5);
    }
}
