//! The declared MSRV is true: no dependency of the published crates (raft-core,
//! raft-std-driver and raft-tokio; normal and build dependencies, every feature on, as locked in `Cargo.lock`,
//! for the host platform) declares a newer `rust-version` than the workspace's.
//!
//! It reads `cargo metadata --locked`, offline first: `cargo test --workspace` has downloaded
//! every host package by the time it runs. (`cargo test -p raft-std-driver` alone may not have;
//! then cargo is asked again without `--offline`.) When the MSRV was set to 1.88 (heapless 0.9
//! and postcard 1.2), the same walk for Windows, macOS and thumbv7em-none-eabihf found 1.88 too.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use serde_json::Value;

/// The crates meant for users (`publish = false` on every other member).
const PUBLISHED: [&str; 3] = ["raftcore", "raft-std-driver", "raft-tokio"];

/// `cargo metadata` of the workspace for the host platform, every feature on.
fn metadata() -> Value {
    let cargo = env!("CARGO");
    let version = Command::new(cargo)
        .arg("-vV")
        .output()
        .expect("cargo -vV runs");
    let version = String::from_utf8(version.stdout).expect("utf-8");
    let host = version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("cargo names its host");
    let run = |extra: Option<&str>| -> Output {
        Command::new(cargo)
            .args([
                "metadata",
                "--locked",
                "--all-features",
                "--format-version",
                "1",
            ])
            .args(["--filter-platform", host])
            .args(extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo metadata runs")
    };
    let mut out = run(Some("--offline"));
    if !out.status.success() {
        out = run(None);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo metadata --locked failed:\n{stderr}"
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// `"1.88"` or `"1.88.0"` as `(1, 88, 0)`.
fn version(v: &str) -> (u32, u32, u32) {
    let mut parts = v
        .split('.')
        .map(|p| p.parse::<u32>().expect("a numeric rust-version"));
    let mut next = || parts.next().unwrap_or(0);
    (next(), next(), next())
}

#[test]
fn no_locked_dependency_of_a_published_crate_needs_a_newer_rust() {
    let meta = metadata();
    let packages = meta["packages"].as_array().expect("packages");
    let nodes = meta["resolve"]["nodes"].as_array().expect("resolve nodes");
    let package = |id: &str| {
        packages
            .iter()
            .find(|p| p["id"] == id)
            .expect("a listed package")
    };
    let ours: Vec<&Value> = packages
        .iter()
        .filter(|p| PUBLISHED.contains(&p["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ours.len(),
        PUBLISHED.len(),
        "every published crate is a member"
    );
    let declared = ours[0]["rust_version"]
        .as_str()
        .expect("raftcore declares a rust-version");
    for p in &ours {
        assert_eq!(
            p["rust_version"], declared,
            "{} inherits the workspace's",
            p["name"]
        );
    }

    // Everything the published crates build on: normal and build dependencies, transitively.
    let mut todo: Vec<&str> = ours.iter().map(|p| p["id"].as_str().unwrap()).collect();
    let mut reached = BTreeSet::new();
    while let Some(id) = todo.pop() {
        if !reached.insert(id) {
            continue;
        }
        let node = nodes
            .iter()
            .find(|n| n["id"] == id)
            .expect("a resolved package");
        for dep in node["deps"].as_array().expect("deps") {
            let kinds = dep["dep_kinds"].as_array().expect("dep_kinds");
            if kinds
                .iter()
                .any(|k| k["kind"].is_null() || k["kind"] == "build")
            {
                todo.push(dep["pkg"].as_str().unwrap());
            }
        }
    }
    let names: BTreeSet<&str> = reached
        .iter()
        .map(|id| package(id)["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains("heapless") && names.contains("clap"),
        "the walk reached {names:?}"
    );

    let mut needs: Vec<(&str, String)> = reached
        .iter()
        .map(|id| package(id))
        .filter_map(|p| {
            Some((
                p["rust_version"].as_str()?,
                format!("{} {}", p["name"].as_str()?, p["version"].as_str()?),
            ))
        })
        .collect();
    needs.sort_by_key(|(rv, _)| version(rv));
    let (newest, by) = needs
        .last()
        .expect("some dependency declares a rust-version");
    println!("declared rust-version {declared}; the newest a dependency needs: {newest} ({by})");
    let too_new: Vec<String> = needs
        .iter()
        .filter(|(rv, _)| version(rv) > version(declared))
        .map(|(rv, p)| format!("{p} needs Rust {rv}"))
        .collect();
    assert!(
        too_new.is_empty(),
        "the workspace declares rust-version = \"{declared}\" but locked dependencies need more: \
         {too_new:?}; raise [workspace.package] rust-version in Cargo.toml (and the READMEs)"
    );
}
