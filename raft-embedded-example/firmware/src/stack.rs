//! The peak stack, measured by painting.
//!
//! cortex-m-rt's `paint-stack` feature fills the reserved stack `[_stack_end, _stack_start)`
//! (sized in `memory.x`) with `0xCCCC_CCCC` at reset, before `main`. The stack grows down from
//! `_stack_start`; the lowest word that no longer holds the paint marks the deepest the stack has
//! been. (A frame that happened to store `0xCCCC_CCCC` in its deepest word would read a few bytes
//! low; that is the usual, accepted error of the method.)

use cortex_m_rt::STACK_PAINT_VALUE;

unsafe extern "C" {
    /// Top of the stack (the initial SP), from `memory.x`.
    static _stack_start: u32;
    /// Bottom of the reserved stack, from `memory.x`.
    static _stack_end: u32;
}

fn bounds() -> (usize, usize) {
    // Only the addresses of these linker symbols are used, never their "values".
    let bottom = &raw const _stack_end as usize;
    let top = &raw const _stack_start as usize;
    (bottom, top)
}

/// Bytes reserved for the stack by `memory.x`.
pub fn reserved() -> usize {
    let (bottom, top) = bounds();
    top - bottom
}

/// The most stack used since reset, in bytes (a multiple of 4). Equal to [`reserved`] means the
/// paint was scrubbed off entirely: the stack reached its end and possibly overflowed into the
/// statics below it.
pub fn high_water_mark() -> usize {
    let (bottom, top) = bounds();
    let mut addr = bottom;
    while addr < top {
        // SAFETY: `addr` is 4-aligned (the linker script asserts `_stack_end % 4 == 0` and we
        // step by 4) and lies in `[_stack_end, _stack_start)`, RAM reserved for the stack that
        // is always mapped. A volatile read of it has no side effect; the words below the
        // current SP are not referenced by anything, and the ones above it are only read.
        let word = unsafe { core::ptr::read_volatile(addr as *const u32) };
        if word != STACK_PAINT_VALUE {
            break;
        }
        addr += 4;
    }
    top - addr
}
