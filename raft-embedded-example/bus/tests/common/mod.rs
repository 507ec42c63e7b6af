//! What the firmware tests share: the firmware folder, the check that boards can run here
//! (QEMU and the thumbv7em target), the skip-or-fail rule of `RAFT_REQUIRE_QEMU`, cargo in the
//! firmware's own workspace, and the build of the `raft-board` image.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TARGET: &str = "thumbv7em-none-eabihf";

/// The firmware's own workspace.
pub fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware")
}

/// Why boards cannot run on this machine, if they cannot.
fn missing_prerequisite(fw: &Path) -> Option<String> {
    if !raft_board_bus::boards::qemu_available() {
        return Some("qemu-system-arm not found (apt-get install qemu-system-arm)".into());
    }
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

/// The firmware folder, or `None` when boards cannot run here and the test `name` is skipped
/// (with a message on stderr; a failure instead under `RAFT_REQUIRE_QEMU=1`, which `.ci/run`
/// sets).
pub fn runnable_firmware(name: &str) -> Option<PathBuf> {
    let fw = firmware_dir();
    if let Some(why) = missing_prerequisite(&fw) {
        if std::env::var("RAFT_REQUIRE_QEMU").as_deref() == Ok("1") {
            panic!("RAFT_REQUIRE_QEMU=1 but the boards cannot run: {why}");
        }
        // Straight to the process's stderr: libtest captures `eprintln!` of passing tests,
        // and a skip must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {name}: {why}; set RAFT_REQUIRE_QEMU=1 to fail instead"
        );
        return None;
    }
    Some(fw)
}

/// `cargo <args>` in the firmware folder `fw`. The firmware has its own workspace, target
/// dir and .cargo/config.toml (target, runner, linker scripts); host settings inherited from
/// the test's environment would override them, so they are removed.
pub fn firmware_cargo(fw: &Path, args: &[&str]) -> Command {
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(args)
        .current_dir(fw)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    cargo
}

/// The firmware folder once the `raft-board` image is built, or `None` when the test `name`
/// is skipped ([`runnable_firmware`]).
pub fn built_firmware(name: &str) -> Option<PathBuf> {
    let fw = runnable_firmware(name)?;
    let build = firmware_cargo(&fw, &["build", "--release", "--bin", "raft-board"])
        .stdout(Stdio::null())
        .status()
        .expect("run cargo build for raft-board");
    assert!(build.success(), "the raft-board image did not build");
    Some(fw)
}
