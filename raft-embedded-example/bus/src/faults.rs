//! The bus's seeded fault schedule: what happens to each raft frame on its way.

use std::time::Duration;

use raft_embedded_example::rng::Rng;

/// How unkind the bus is. Client traffic (proposals, answers, reports) is never faulted: the
/// schedule models the radio between the boards, not the test's own probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultConfig {
    /// Raft frames dropped, per mille.
    pub drop_per_mille: u32,
    /// Raft frames delivered twice, per mille.
    pub dup_per_mille: u32,
    /// Each delivered frame waits up to this long (uniform), so frames reorder.
    pub max_delay: Duration,
    /// Every `partition_every`, one board (the next in turn) is cut off for `partition_for`.
    pub partition_every: Duration,
    /// How long a partition lasts (zero: no partitions).
    pub partition_for: Duration,
}

impl FaultConfig {
    /// The run's schedule: 2 % dropped, 2 % duplicated, up to 5 ms of delay, and a 300 ms
    /// partition of one board every 4 s.
    pub const DEFAULT: FaultConfig = FaultConfig {
        drop_per_mille: 20,
        dup_per_mille: 20,
        max_delay: Duration::from_millis(5),
        partition_every: Duration::from_secs(4),
        partition_for: Duration::from_millis(300),
    };

    /// A perfect link.
    pub const NONE: FaultConfig = FaultConfig {
        drop_per_mille: 0,
        dup_per_mille: 0,
        max_delay: Duration::ZERO,
        partition_every: Duration::from_secs(1),
        partition_for: Duration::ZERO,
    };
}

/// What the schedule does to one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Lost.
    Drop,
    /// Delivered after the delays given (one, or two for a duplicate).
    Deliver {
        /// The first copy's delay.
        delay: Duration,
        /// The duplicate's delay, if duplicated.
        again: Option<Duration>,
    },
}

/// The schedule: a PRNG named by the seed, and the configuration.
#[derive(Clone, Debug)]
pub struct Faults {
    rng: Rng,
    config: FaultConfig,
    /// The schedule is on (the run pauses it to time a failover).
    on: bool,
}

impl Faults {
    /// The schedule for `seed`.
    pub fn new(seed: u64, config: FaultConfig) -> Faults {
        Faults {
            rng: Rng::new(seed ^ 0xB05_B05),
            config,
            on: true,
        }
    }

    /// Turns the schedule on or off (off: every frame delivered at once, once).
    pub fn set_on(&mut self, on: bool) {
        self.on = on;
    }

    /// The board index (`0..boards`) cut off at `elapsed` since the bus started, if any.
    pub fn partitioned(&self, elapsed: Duration, boards: usize) -> Option<usize> {
        let every = self.config.partition_every.as_millis().max(1);
        let t = elapsed.as_millis();
        let round = t / every;
        // The first period is always whole: the cluster elects before the first partition.
        (self.on && round > 0 && t % every < self.config.partition_for.as_millis())
            .then(|| (round as usize - 1) % boards.max(1))
    }

    /// The fate of the next frame from board `from` to board `to` at `elapsed`.
    pub fn fate(&mut self, elapsed: Duration, from: usize, to: usize, boards: usize) -> Fate {
        if !self.on {
            return Fate::Deliver {
                delay: Duration::ZERO,
                again: None,
            };
        }
        let cut = self.partitioned(elapsed, boards);
        if cut == Some(from) || cut == Some(to) || self.rng.chance(self.config.drop_per_mille) {
            return Fate::Drop;
        }
        let max = self.config.max_delay.as_micros() as u32;
        let delay = Duration::from_micros(self.rng.below(max + 1).into());
        let again = self
            .rng
            .chance(self.config.dup_per_mille)
            .then(|| Duration::from_micros(self.rng.below(max + 1).into()));
        Fate::Deliver { delay, again }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_names_the_schedule_and_faults_happen() {
        let run = |seed| {
            let mut f = Faults::new(seed, FaultConfig::DEFAULT);
            (0..2000)
                .map(|i| f.fate(Duration::from_millis(i), 0, 1, 3))
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        assert!(a.contains(&Fate::Drop));
        assert!(a
            .iter()
            .any(|f| matches!(f, Fate::Deliver { again: Some(_), .. })));
    }

    #[test]
    fn partitions_take_turns_and_spare_the_first_period() {
        let f = Faults::new(1, FaultConfig::DEFAULT);
        assert_eq!(f.partitioned(Duration::from_millis(100), 3), None);
        assert_eq!(f.partitioned(Duration::from_millis(4_100), 3), Some(0));
        assert_eq!(f.partitioned(Duration::from_millis(4_400), 3), None);
        assert_eq!(f.partitioned(Duration::from_millis(8_100), 3), Some(1));
        assert_eq!(
            Faults::new(1, FaultConfig::NONE).partitioned(Duration::from_millis(4_000), 3),
            None
        );
    }
}
