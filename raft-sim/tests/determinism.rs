//! The same seed and inputs give an identical output trace, bit for bit.

use raft_sim::{Cluster, SimConfig, SimRng};
use raftcore::Durability;

fn trace(seed: u64, steps: usize) -> (u64, usize, u64, u64) {
    let sim = SimConfig {
        durability: Durability::Deferred,
        ..SimConfig::default()
    };
    let mut c: Cluster<5, 64, 4> = Cluster::new(sim, seed).expect("valid config");
    let mut rng = SimRng::new(seed);
    c.run_random(&mut rng, steps).expect("safety holds");
    let steps = c.checker().steps;
    (c.trace, c.acked.len(), steps, c.membership_changes)
}

#[test]
fn same_seed_and_inputs_give_an_identical_output_trace() {
    let a = trace(0x00DE_C0DE, 20_000);
    let b = trace(0x00DE_C0DE, 20_000);
    assert_eq!(a, b, "two runs of one seed diverged");
    assert!(a.2 > 4_000, "the trace covers many node steps: {a:?}");
    // (Membership changes that leave two voters make this schedule's cluster fragile.)
    assert!(a.1 > 0, "the trace includes committed writes: {a:?}");
    assert!(a.3 > 0, "the trace includes membership changes: {a:?}");
    let other = trace(0x00DE_C0DF, 20_000);
    assert_ne!(a.0, other.0, "the trace hash depends on the schedule");
}
