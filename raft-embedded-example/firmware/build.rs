//! Puts `memory.x` on the linker search path, where cortex-m-rt's `link.x` includes it.

use std::{env, fs, path::PathBuf};

/// The stack reserved for the `raft-board` image, in bytes: the deepest painted peak seen in
/// the three-board run (3,936 B; the boot alone takes 3,704 to 3,784 B) plus a margin of 1,184 B (30 %).
const BOARD_STACK: u32 = 5 * 1024;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x");
    // cortex-m-rt's `device` feature includes `device.x`: the names of `src/vectors.rs`'s
    // interrupt vectors, both bound to `DefaultHandler`.
    fs::write(
        out.join("device.x"),
        "PROVIDE(UART0_RX = DefaultHandler);\nPROVIDE(UART0_TX = DefaultHandler);\n",
    )
    .expect("write device.x");
    println!("cargo:rustc-link-search={}", out.display());
    // See the README's footprint section for the measurements.
    println!("cargo:rustc-link-arg-bin=raft-board=--defsym=_board_stack_size={BOARD_STACK}");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
}
