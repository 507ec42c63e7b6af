//! Quick simulator checks while developing.
use raft_sim::{Cluster, SimConfig, SimRng};
use raftcore::Durability;

#[test]
fn random_schedules_keep_safety_and_settle() {
    let (mut acked, mut steps, mut rounds, mut reads, mut installs) = (0, 0, 0, 0, 0);
    for seed in 0..200u64 {
        for durability in [Durability::Inline, Durability::Deferred] {
            let sim = SimConfig {
                durability,
                ..SimConfig::default()
            };
            let mut c: Cluster<5, 64, 4> = Cluster::new(sim, seed).unwrap();
            let mut rng = SimRng::new(seed);
            if let Err(e) = c.run_random(&mut rng, 600) {
                panic!("seed {seed} {durability:?}: {e}");
            }
            match c.heal_and_settle(300) {
                Err(e) => panic!("seed {seed} {durability:?} liveness: {e}"),
                Ok(r) => rounds += r,
            }
            acked += c.acked.len();
            reads += c.reads_served;
            installs += c.snapshots_installed;
            steps += c.checker().steps;
        }
    }
    println!("acked {acked} steps {steps} rounds {rounds} reads {reads} snapshots {installs}");
    assert!(installs > 0, "snapshots were installed");
    assert!(reads > 100, "reads were served");
}
