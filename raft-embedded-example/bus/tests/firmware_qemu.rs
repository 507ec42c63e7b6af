//! Builds the firmware (`firmware/`, thumbv7em-none-eabihf) in release and runs its
//! single-chip demo under `qemu-system-arm -machine mps2-an386` through its cargo runner;
//! passes only if the firmware exits 0, which it does only after its checks passed.
//!
//! When `qemu-system-arm` (or the thumbv7em-none-eabihf target) is missing, the test says so on
//! stderr and passes as skipped, unless `RAFT_REQUIRE_QEMU=1` (set by `.ci/run`), which turns a
//! skip into a failure.

use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;

/// Cold release build of the firmware plus the run; the run itself takes about a second.
const TIME_LIMIT: Duration = Duration::from_secs(600);

#[test]
fn firmware_passes_its_checks_under_qemu() {
    let Some(fw) = common::runnable_firmware("firmware_passes_its_checks_under_qemu") else {
        return;
    };
    let mut child = common::firmware_cargo(&fw, &["run", "--release"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cargo run for the firmware");

    // Drain both pipes on threads so a chatty build cannot block on a full pipe.
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || std::io::read_to_string(out).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(err).unwrap_or_default());

    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for cargo run") {
            break Some(status);
        }
        if start.elapsed() > TIME_LIMIT {
            // Our own child, by handle.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    let log = format!("--- stdout ---\n{out}\n--- stderr ---\n{err}");
    match status {
        None => panic!("the firmware did not finish within {TIME_LIMIT:?}\n{log}"),
        Some(s) if !s.success() => panic!("the firmware failed ({s})\n{log}"),
        Some(_) => eprintln!("{out}"),
    }
}
