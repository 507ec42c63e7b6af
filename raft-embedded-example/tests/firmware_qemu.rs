//! Builds the firmware (`firmware/`, thumbv7em-none-eabihf) in release and runs it under
//! `qemu-system-arm -machine mps2-an386` through its cargo runner; passes only if the firmware
//! exits 0, which it does only after its checks passed.
//!
//! When `qemu-system-arm` (or the thumbv7em-none-eabihf target) is missing, the test says so on
//! stderr and passes as skipped, unless `RAFT_REQUIRE_QEMU=1` (set by `.ci/run`), which turns a
//! skip into a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TARGET: &str = "thumbv7em-none-eabihf";
/// Cold release build of the firmware plus the run; the run itself takes about a second.
const TIME_LIMIT: Duration = Duration::from_secs(600);

fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware")
}

/// Why the firmware cannot run here, if it cannot.
fn missing_prerequisite(fw: &Path) -> Option<String> {
    let qemu = Command::new("qemu-system-arm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !qemu.is_ok_and(|s| s.success()) {
        return Some("qemu-system-arm not found (apt-get install qemu-system-arm)".into());
    }
    // Run in the firmware folder so rust-toolchain.toml picks the same toolchain the build will.
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(fw)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    match sysroot {
        Some(root) if root.join("lib/rustlib").join(TARGET).is_dir() => None,
        _ => Some(format!(
            "target {TARGET} not installed (rustup target add {TARGET})"
        )),
    }
}

#[test]
fn firmware_passes_its_checks_under_qemu() {
    let fw = firmware_dir();
    if let Some(why) = missing_prerequisite(&fw) {
        if std::env::var("RAFT_REQUIRE_QEMU").as_deref() == Ok("1") {
            panic!("RAFT_REQUIRE_QEMU=1 but the firmware cannot run: {why}");
        }
        // Straight to the process's stderr: libtest captures `eprintln!` of passing tests, and
        // a skip must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED firmware_passes_its_checks_under_qemu: {why}; \
             set RAFT_REQUIRE_QEMU=1 to fail instead"
        );
        return;
    }

    // The firmware has its own workspace, target dir and .cargo/config.toml (target, runner,
    // linker scripts). Host settings inherited from this test's environment would override
    // them, so they are removed.
    let mut child = Command::new(env!("CARGO"))
        .args(["run", "--release"])
        .current_dir(&fw)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
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
