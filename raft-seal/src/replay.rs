//! A sliding anti-replay window over a 64-bit counter (RFC 6479: a ring of bitmap blocks, so
//! moving the window forward clears whole words instead of shifting the bitmap).
//!
//! The ring has `BLOCKS` 64-bit words (a power of two, at least 2); one is kept spare so the
//! ring never overwrites a block still inside the window, so counters at or above
//! `highest - (BLOCKS - 1) * 64` are tracked one by one. A host keeps 32 blocks per sender
//! (a 1,984-counter window, 264 bytes); a board with little RAM fewer.

/// Why a counter is not fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// Seen before, inside the window.
    Replayed,
    /// Below the window (or from an earlier boot of the sender).
    TooOld,
}

/// The host's window: [`ReplayWindow`] with 32 blocks tracks this many counters below the
/// highest.
pub const WINDOW: u64 = ReplayWindow::<32>::WINDOW;

/// The per-sender replay state, over a ring of `BLOCKS` 64-bit words.
#[derive(Debug, Clone)]
pub struct ReplayWindow<const BLOCKS: usize = 32> {
    highest: Option<u64>,
    bitmap: [u64; BLOCKS],
}

impl<const BLOCKS: usize> Default for ReplayWindow<BLOCKS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const BLOCKS: usize> ReplayWindow<BLOCKS> {
    /// Counters at or above `highest - WINDOW` are tracked individually; older ones are refused.
    pub const WINDOW: u64 = {
        // The wrapping arithmetic of `mark` is exact only if 2^64 is a multiple of BLOCKS.
        assert!(BLOCKS >= 2 && BLOCKS.is_power_of_two());
        ((BLOCKS - 1) * 64) as u64
    };

    /// A window that has seen nothing.
    pub const fn new() -> Self {
        // Evaluates the assertion on BLOCKS for every window type that is built.
        let _ = Self::WINDOW;
        ReplayWindow {
            highest: None,
            bitmap: [0; BLOCKS],
        }
    }

    fn slot(counter: u64) -> (usize, u64) {
        ((counter / 64) as usize % BLOCKS, 1 << (counter % 64))
    }

    /// Whether `counter` would be accepted; changes nothing (call before authenticating).
    pub fn check(&self, counter: u64) -> Result<(), Stale> {
        let Some(highest) = self.highest else {
            return Ok(());
        };
        if counter > highest {
            return Ok(());
        }
        if highest - counter > Self::WINDOW {
            return Err(Stale::TooOld);
        }
        let (block, bit) = Self::slot(counter);
        if self.bitmap[block] & bit != 0 {
            Err(Stale::Replayed)
        } else {
            Ok(())
        }
    }

    /// Records `counter` as seen (call after it authenticated and passed [`check`](Self::check)).
    pub fn mark(&mut self, counter: u64) {
        match self.highest {
            Some(highest) if counter <= highest => {}
            _ => {
                // Clear the blocks the window slides over; all of them on the first counter or a
                // jump past the whole ring.
                let new_block = counter / 64;
                let steps = self
                    .highest
                    .map_or(BLOCKS as u64, |h| (new_block - h / 64).min(BLOCKS as u64));
                for i in 0..steps {
                    // Wrapping is exact here: 2^64 is a multiple of BLOCKS (asserted in WINDOW).
                    self.bitmap[(new_block.wrapping_sub(i) % BLOCKS as u64) as usize] = 0;
                }
                self.highest = Some(counter);
            }
        }
        let (block, bit) = Self::slot(counter);
        self.bitmap[block] |= bit;
    }

    /// The highest counter seen.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }
}

#[cfg(test)]
mod test {
    extern crate std;
    use super::*;
    use std::collections::HashSet;

    fn accept<const B: usize>(w: &mut ReplayWindow<B>, c: u64) -> Result<(), Stale> {
        w.check(c)?;
        w.mark(c);
        Ok(())
    }

    #[test]
    fn in_order_reordered_and_duplicated_counters() {
        let mut w = ReplayWindow::<32>::default();
        assert_eq!(accept(&mut w, 5), Ok(()));
        assert_eq!(accept(&mut w, 7), Ok(()));
        assert_eq!(accept(&mut w, 6), Ok(()));
        assert_eq!(accept(&mut w, 6), Err(Stale::Replayed));
        assert_eq!(accept(&mut w, 7), Err(Stale::Replayed));
        assert_eq!(accept(&mut w, 0), Ok(()));
    }

    #[test]
    fn counters_below_the_window_are_too_old() {
        let mut w = ReplayWindow::<32>::default();
        accept(&mut w, 10_000).unwrap();
        assert_eq!(w.check(10_000 - WINDOW), Ok(()));
        assert_eq!(w.check(10_000 - WINDOW - 1), Err(Stale::TooOld));
        // A big jump (a sender's new boot) leaves everything before it too old.
        accept(&mut w, 7 << 32).unwrap();
        assert_eq!(w.check(10_001), Err(Stale::TooOld));
    }

    fn matches_a_reference_model<const B: usize>() {
        let window = ReplayWindow::<B>::WINDOW;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20 {
            let mut w = ReplayWindow::<B>::new();
            let mut seen = HashSet::new();
            let mut highest = 0u64;
            for _ in 0..5_000 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Mostly small steps forward and back, sometimes big jumps.
                let c = match seed % 10 {
                    0 => highest + seed % (window * 3),
                    _ => (highest + 100).saturating_sub(seed % (window + 200)),
                };
                let expect = if !seen.is_empty() && highest.saturating_sub(c) > window {
                    Err(Stale::TooOld)
                } else if seen.contains(&c) {
                    Err(Stale::Replayed)
                } else {
                    Ok(())
                };
                assert_eq!(accept(&mut w, c), expect, "counter {c}, highest {highest}");
                if expect.is_ok() {
                    seen.insert(c);
                    highest = highest.max(c);
                }
            }
        }
    }

    #[test]
    fn window_matches_a_reference_model_on_random_sequences() {
        matches_a_reference_model::<32>();
        matches_a_reference_model::<4>();
        matches_a_reference_model::<2>();
    }
}
