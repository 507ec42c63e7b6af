//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) and the saved failures
//! (`fuzz/regressions/<target>/`) through the fuzz targets' library functions, so the
//! README's `cargo test --workspace` exercises every target on stable, without cargo-fuzz.
//!
//! One file by hand (a crash artifact, say), printing a cluster case as a Rust test:
//! `RAFT_FUZZ_TARGET=cluster RAFT_FUZZ_FILE=path cargo test -p raft-sim
//! --test fuzz_corpus replay_one_file -- --nocapture`.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use raft_sim::fuzz::{self, ClusterCase};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Runs `f` on every corpus and regression file of `target`; a failure names the file.
fn replay(target: &str, f: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let corpus = files(&root.join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "no corpus for {target} under {}",
        root.display()
    );
    let all = corpus
        .into_iter()
        .chain(files(&root.join("regressions").join(target)));
    let mut n = 0;
    for path in all {
        let data = std::fs::read(&path).unwrap();
        if let Err(e) = panic::catch_unwind(AssertUnwindSafe(|| f(&data))) {
            eprintln!("fuzz target {target} failed on {}", path.display());
            panic::resume_unwind(e);
        }
        n += 1;
    }
    println!("{target}: replayed {n} inputs");
}

#[test]
fn frame_roundtrip_corpus_replays() {
    replay("frame_roundtrip", fuzz::frame_roundtrip);
}

#[test]
fn single_node_corpus_replays() {
    replay("single_node", fuzz::single_node);
}

#[test]
fn cluster_corpus_replays() {
    replay("cluster", fuzz::cluster);
}

/// Replays the file named by `RAFT_FUZZ_FILE` on `RAFT_FUZZ_TARGET` (does nothing if unset).
/// A cluster case is printed first as a Rust regression test to paste into `tests/`.
#[test]
fn replay_one_file() {
    let (Ok(target), Ok(file)) = (
        std::env::var("RAFT_FUZZ_TARGET"),
        std::env::var("RAFT_FUZZ_FILE"),
    ) else {
        return;
    };
    let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    match target.as_str() {
        "frame_roundtrip" => fuzz::frame_roundtrip(&data),
        "single_node" => fuzz::single_node(&data),
        "cluster" => {
            println!("{}", ClusterCase::from_bytes(&data).to_rust());
            fuzz::cluster(&data)
        }
        other => panic!("unknown fuzz target {other}"),
    }
}
