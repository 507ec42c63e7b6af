//! The scenario tests: one module per area, each test named after the rule it checks (the
//! paper's Figure 2 and sections, reads, snapshots, leadership transfer, membership and joint
//! consensus, the vote floor, commit latency, the two forms of the step function), all on the
//! explicit harness in `common`.
//!
//! One test binary rather than one per area: each binary monomorphizes raft-core's generic
//! `State` and the harness again, so one binary links and codegens once per build. That is
//! most of the cost of a mutant in `cargo mutants` (scripts/mutants-diff.sh) and of a rebuild
//! after a change to raft-core. Run one area with a filter:
//! `cargo test -p raft-sim --test scenarios paper_election::`.

mod common;

mod commit_latency;
mod joint;
mod membership;
mod paper_election;
mod paper_flow_control;
mod paper_persistence;
mod paper_prevote_checkquorum;
mod paper_replication;
mod paper_safety;
mod reads;
mod snapshots;
mod step_forms_and_output_bound;
mod transfer;
mod vote_floor;
