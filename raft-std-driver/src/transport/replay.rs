//! A sliding anti-replay window over a 64-bit counter (RFC 6479: a ring of bitmap blocks, so
//! moving the window forward clears whole words instead of shifting the bitmap).

/// 64-bit words in the bitmap.
const BLOCKS: usize = 32;
/// Counters at or above `highest - WINDOW` are tracked individually; older ones are refused.
/// One block is kept spare so the ring never overwrites a block still inside the window.
pub const WINDOW: u64 = ((BLOCKS - 1) * 64) as u64;

/// Why a counter is not fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// Seen before, inside the window.
    Replayed,
    /// Below the window (or from an earlier boot of the sender).
    TooOld,
}

/// The per-sender replay state.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    highest: Option<u64>,
    bitmap: [u64; BLOCKS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            highest: None,
            bitmap: [0; BLOCKS],
        }
    }
}

fn slot(counter: u64) -> (usize, u64) {
    ((counter / 64) as usize % BLOCKS, 1 << (counter % 64))
}

impl ReplayWindow {
    /// Whether `counter` would be accepted; changes nothing (call before authenticating).
    pub fn check(&self, counter: u64) -> Result<(), Stale> {
        let Some(highest) = self.highest else {
            return Ok(());
        };
        if counter > highest {
            return Ok(());
        }
        if highest - counter > WINDOW {
            return Err(Stale::TooOld);
        }
        let (block, bit) = slot(counter);
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
                    // Wrapping is exact here: 2^64 is a multiple of BLOCKS.
                    self.bitmap[(new_block.wrapping_sub(i) % BLOCKS as u64) as usize] = 0;
                }
                self.highest = Some(counter);
            }
        }
        let (block, bit) = slot(counter);
        self.bitmap[block] |= bit;
    }

    /// The highest counter seen.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::collections::HashSet;

    fn accept(w: &mut ReplayWindow, c: u64) -> Result<(), Stale> {
        w.check(c)?;
        w.mark(c);
        Ok(())
    }

    #[test]
    fn in_order_reordered_and_duplicated_counters() {
        let mut w = ReplayWindow::default();
        assert_eq!(accept(&mut w, 5), Ok(()));
        assert_eq!(accept(&mut w, 7), Ok(()));
        assert_eq!(accept(&mut w, 6), Ok(()));
        assert_eq!(accept(&mut w, 6), Err(Stale::Replayed));
        assert_eq!(accept(&mut w, 7), Err(Stale::Replayed));
        assert_eq!(accept(&mut w, 0), Ok(()));
    }

    #[test]
    fn counters_below_the_window_are_too_old() {
        let mut w = ReplayWindow::default();
        accept(&mut w, 10_000).unwrap();
        assert_eq!(w.check(10_000 - WINDOW), Ok(()));
        assert_eq!(w.check(10_000 - WINDOW - 1), Err(Stale::TooOld));
        // A big jump (a sender's new boot) leaves everything before it too old.
        accept(&mut w, 7 << 32).unwrap();
        assert_eq!(w.check(10_001), Err(Stale::TooOld));
    }

    #[test]
    fn window_matches_a_reference_model_on_random_sequences() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20 {
            let mut w = ReplayWindow::default();
            let mut seen = HashSet::new();
            let mut highest = 0u64;
            for _ in 0..5_000 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Mostly small steps forward and back, sometimes big jumps.
                let c = match seed % 10 {
                    0 => highest + seed % 5_000,
                    _ => (highest + 100).saturating_sub(seed % 2_200),
                };
                let expect = if !seen.is_empty() && highest.saturating_sub(c) > WINDOW {
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
}
