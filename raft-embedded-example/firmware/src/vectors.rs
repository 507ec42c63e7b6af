//! The device part of the vector table: the two interrupt lines this firmware uses (UART0's
//! receive and transmit, IRQ 0 and 1 on mps2-an386), both bound to `DefaultHandler`, which
//! dispatches by IRQ number ([`crate::uart::on_interrupt`]).
//!
//! Without cortex-m-rt's `device` feature its generic table binds all 240 lines a Cortex-M4
//! may have: 960 bytes of flash for 238 lines this board never raises. With the feature,
//! cortex-m-rt takes this `__INTERRUPTS` and `device.x` (written by `build.rs`) instead, which
//! points both names at `DefaultHandler` (as a device crate's `device.x` does). An interrupt
//! above IRQ 1 would find no vector (the table ends): none is ever unmasked.

/// A vector table entry.
type Vector = unsafe extern "C" fn();

unsafe extern "C" {
    /// UART0's receive interrupt (IRQ 0): `DefaultHandler`, through `device.x`.
    fn UART0_RX();
    /// UART0's transmit interrupt (IRQ 1): `DefaultHandler`, through `device.x`.
    fn UART0_TX();
}

/// IRQ 0 and IRQ 1, read by the NVIC from `.vector_table.interrupts` (right after the 16
/// exception vectors).
#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
static __INTERRUPTS: [Vector; 2] = [UART0_RX, UART0_TX];
