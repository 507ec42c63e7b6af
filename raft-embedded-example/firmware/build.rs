//! Puts `memory.x` on the linker search path, where cortex-m-rt's `link.x` includes it.

use std::{env, fs, path::PathBuf};

/// The stack reserved for the `raft-board` image, in bytes.
const BOARD_STACK: u32 = 10 * 1024;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    // The board image measured a 9,816-byte peak with sealed frames (its boot, building the
    // node: see the README).
    println!("cargo:rustc-link-arg-bin=raft-board=--defsym=_board_stack_size={BOARD_STACK}");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
}
