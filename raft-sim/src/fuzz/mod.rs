//! The fuzz targets' logic, as a library, so the cargo-fuzz binaries in
//! `fuzz/` stay one line each and the checked-in corpus replays under stable `cargo test`.
//!
//! Three targets, each a `fn(&[u8])` that panics on a broken property:
//!
//! - [`frame_roundtrip`]: any byte string either fails to decode, or decodes to a frame that
//!   re-encodes to exactly the same bytes and decodes again to the same message.
//! - [`single_node`]: one [`State`](raftcore::State) fed an arbitrary input sequence decoded from the bytes
//!   (ticks, forged but decodable messages from members with arbitrary fields, proposals,
//!   `Persisted` / `Captured` with valid and invalid values, storage failures, crash and
//!   restore), driven by raft-core's `Engine` over the simulator's seams (a real store),
//!   with the node-local invariants checked after every step.
//! - [`cluster`]: a [`ClusterCase`] (tiny capacities, and a schedule of [`Action`](crate::Action)s decoded
//!   from the bytes) run on a [`Cluster`](crate::Cluster), whose [`Checker`](crate::Checker) verifies
//!   Raft's safety properties after every step, then healed: a leader must emerge and commit.
//!   A failure panics with the case printed as a Rust regression test
//!   ([`ClusterCase::to_rust`]).
//!
//! Decoding never fails: past the end of the input every read yields zero, so every byte
//! string is a valid (possibly empty) case and the fuzzer's mutations always mean something.

mod cluster;
mod frame;
mod single_node;

pub use cluster::{
    cluster, ClusterCase, FuzzCluster, FUZZ_BYTE_BUDGET, MAX_ACTIONS, SETTLE_ROUNDS,
};
pub use frame::{frame_roundtrip, CANONICAL_FRAMES};
pub use single_node::{single_node, FuzzNode, FORGE_ANY_ENTRY_TERMS};

/// Reads fuzzer bytes front to back; past the end every read yields zero.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Action;
    use std::string::ToString;

    #[test]
    fn empty_and_short_inputs_are_valid_cases() {
        for data in [&[][..], &[0], &[1, 2, 3], &[255; 40]] {
            frame_roundtrip(data);
            single_node(data);
            cluster(data);
        }
    }

    #[test]
    fn every_action_kind_decodes() {
        let mut kinds = std::collections::BTreeSet::new();
        for b in 0..=255u8 {
            let (a, _) = Action::from_bytes(&[b, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
            kinds.insert(format!("{a:?}").split('(').next().unwrap().to_string());
        }
        assert_eq!(kinds.len(), 16, "{kinds:?}");
    }

    #[test]
    fn a_printed_case_names_every_action() {
        let case =
            ClusterCase::from_bytes(&[0, 0, 1, 0, 3, 70, 1, 161, 245, 1, 2, 3, 4, 5, 6, 7, 8]);
        let src = case.to_rust();
        assert!(
            src.contains("Tick(3), Deliver(1), Propose(1), Garbage(5, "),
            "{src}"
        );
    }

    #[test]
    fn random_bytes_run_clean() {
        let mut rng = crate::SimRng::new(1);
        for len in [16usize, 64, 256, 1024] {
            for _ in 0..20 {
                let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                frame_roundtrip(&data);
                single_node(&data);
                cluster(&data);
            }
        }
    }
}
