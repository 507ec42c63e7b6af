//! Puts `memory.x` on the linker search path, where cortex-m-rt's `link.x` includes it.

use std::{env, fs, path::PathBuf};

/// The stack reserved for the `raft-board` image, in bytes: the painted peak of the
/// three-board run (3,720 B, the boot) plus a margin of at least 25 % (1,400 B).
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
    // The board image measured a 3,720-byte peak with sealed frames (its boot, restoring the
    // node: see the README's footprint section).
    println!("cargo:rustc-link-arg-bin=raft-board=--defsym=_board_stack_size={BOARD_STACK}");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
}
