//! An interrupt-driven driver for UART0 of the mps2-an386 board: an ARM CMSDK APB UART, as
//! QEMU models it (hw/char/cmsdk-apb-uart.c).
//!
//! The UART holds one byte each way. Its receive interrupt (IRQ 0) moves each byte into a
//! software ring and wakes the task waiting in [`UartRx`]'s `readable`; its transmit interrupt
//! (IRQ 1) feeds the next queued byte. A full receive ring leaves the byte in the UART's data
//! register, and the task's next read takes it once it has made room. The line is held back
//! meanwhile: QEMU sends no byte until the data register is read, as RTS/CTS flow control
//! would. On a board without flow control the next byte overwrites the held one; the UART's
//! overrun flag says so, and the driver counts it ([`SerialRx::overruns`]). A full transmit
//! ring refuses a whole frame ([`SerialTx::send`] is all or nothing), so the driver never cuts
//! a frame in the middle.
//!
//! The application calls [`on_interrupt`] from the `DefaultHandler` exception (no PAC names
//! this board's interrupts), after [`init`] unmasked the two IRQs.

use core::cell::RefCell;
use core::future::poll_fn;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::Poll;

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::NVIC;
use critical_section::Mutex;
use embassy_sync::waitqueue::AtomicWaker;
use heapless::Deque;
use raft_embedded_example::board_node::{SerialRx, SerialTx};

/// UART0's registers.
const BASE: usize = 0x4000_4000;
const DATA: usize = BASE;
const STATE: usize = BASE + 0x04;
const CTRL: usize = BASE + 0x08;
const INTSTATUS: usize = BASE + 0x0C;
const BAUDDIV: usize = BASE + 0x10;

const STATE_RX_FULL: u32 = 1 << 1;
/// Set by the UART when a byte arrived while the data register still held one (write 1 to
/// clear).
const STATE_RX_OVERRUN: u32 = 1 << 3;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_TX_INTEN: u32 = 1 << 2;
const CTRL_RX_INTEN: u32 = 1 << 3;
const INT_TX: u32 = 1 << 0;
const INT_RX: u32 = 1 << 1;

/// The core clock over the baud rate (QEMU refuses to transmit with a divider below 16; it
/// does not pace the bytes, so the rate only matters on a real board).
const DIVIDER: u32 = 25_000_000 / 115_200;

/// Bytes the receive ring holds: a few frames.
pub const RX_BYTES: usize = 256;
/// Bytes the transmit ring holds: several frames and a report.
pub const TX_BYTES: usize = 512;

/// UART0's interrupts on mps2-an386 (QEMU's hw/arm/mps2.c: RX is 0, TX is 1).
#[derive(Clone, Copy)]
enum Irq {
    Rx = 0,
    Tx = 1,
}

// SAFETY: the numbers are the board's UART0 interrupt lines, valid NVIC interrupt numbers.
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self as u16
    }
}

struct Rings {
    rx: Deque<u8, RX_BYTES>,
    tx: Deque<u8, TX_BYTES>,
    /// A byte is in the UART's transmit register; the TX interrupt will feed the next.
    tx_busy: bool,
}

static RINGS: Mutex<RefCell<Rings>> = Mutex::new(RefCell::new(Rings {
    rx: Deque::new(),
    tx: Deque::new(),
    tx_busy: false,
}));
static RX_WAKER: AtomicWaker = AtomicWaker::new();
static OVERRUNS: AtomicU32 = AtomicU32::new(0);

fn read(reg: usize) -> u32 {
    // SAFETY: `reg` is one of UART0's 4-aligned registers above, always mapped on
    // mps2-an386; a volatile read of it has no effect beyond the device's documented ones
    // (reading DATA takes the received byte).
    unsafe { core::ptr::read_volatile(reg as *const u32) }
}

fn write(reg: usize, value: u32) {
    // SAFETY: as in `read`; only this module writes UART0's registers.
    unsafe { core::ptr::write_volatile(reg as *mut u32, value) }
}

/// Enables UART0 both ways with its interrupts, and unmasks them in the NVIC. Call once,
/// before the executor runs.
pub fn init() {
    write(BAUDDIV, DIVIDER);
    write(INTSTATUS, INT_TX | INT_RX);
    write(
        CTRL,
        CTRL_TX_EN | CTRL_RX_EN | CTRL_TX_INTEN | CTRL_RX_INTEN,
    );
    // SAFETY: unmasking may break a critical section that relies on masked interrupts; this
    // firmware's critical sections disable interrupts globally (cortex-m's single-core
    // implementation), not by NVIC masks, and the handlers only touch state in `RINGS`
    // through a critical section.
    unsafe {
        NVIC::unmask(Irq::Rx);
        NVIC::unmask(Irq::Tx);
    }
}

/// Moves the byte the UART holds, if any, into the receive ring while the ring has room, and
/// counts an overrun the UART flagged. A byte left in the UART for want of room holds the line
/// back until [`UartRx`]'s `read` makes room and calls this again.
fn drain_uart(rings: &mut Rings) {
    if read(STATE) & STATE_RX_OVERRUN != 0 {
        write(STATE, STATE_RX_OVERRUN);
        OVERRUNS.fetch_add(1, Ordering::Relaxed);
    }
    // Bounded: the UART holds one byte, and QEMU delivers the next only after this read
    // returns, by raising the interrupt again.
    while !rings.rx.is_full() && read(STATE) & STATE_RX_FULL != 0 {
        // Room checked above.
        let _ = rings.rx.push_back(read(DATA) as u8);
    }
}

/// The body of the UART0 interrupts, called from `DefaultHandler` with its IRQ number (others
/// are ignored).
pub fn on_interrupt(irqn: i16) {
    if irqn == Irq::Rx as i16 {
        write(INTSTATUS, INT_RX);
        critical_section::with(|cs| drain_uart(&mut RINGS.borrow_ref_mut(cs)));
        RX_WAKER.wake();
    } else if irqn == Irq::Tx as i16 {
        write(INTSTATUS, INT_TX);
        critical_section::with(|cs| {
            let mut rings = RINGS.borrow_ref_mut(cs);
            match rings.tx.pop_front() {
                Some(b) => write(DATA, b.into()),
                None => rings.tx_busy = false,
            }
        });
    }
}

/// The UART's transmit half, the board node's [`SerialTx`].
pub struct UartTx(());

/// The UART's receive half, the board node's [`SerialRx`].
pub struct UartRx(());

/// The two halves of the port (once: it is a single device).
pub fn split() -> Option<(UartTx, UartRx)> {
    static TAKEN: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    (!TAKEN.swap(true, Ordering::Relaxed)).then_some((UartTx(()), UartRx(())))
}

impl SerialTx for UartTx {
    fn send(&mut self, bytes: &[u8]) -> bool {
        critical_section::with(|cs| {
            let mut rings = RINGS.borrow_ref_mut(cs);
            if rings.tx.capacity() - rings.tx.len() < bytes.len() {
                return false;
            }
            for &b in bytes {
                // Room checked above.
                let _ = rings.tx.push_back(b);
            }
            if !rings.tx_busy {
                if let Some(b) = rings.tx.pop_front() {
                    rings.tx_busy = true;
                    write(DATA, b.into());
                }
            }
            true
        })
    }
}

impl SerialRx for UartRx {
    async fn readable(&mut self) {
        poll_fn(|cx| {
            RX_WAKER.register(cx.waker());
            let ready = critical_section::with(|cs| !RINGS.borrow_ref(cs).rx.is_empty());
            if ready {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    fn read(&mut self, buf: &mut [u8]) -> usize {
        critical_section::with(|cs| {
            let mut rings = RINGS.borrow_ref_mut(cs);
            let mut n = 0;
            while n < buf.len() {
                match rings.rx.pop_front() {
                    Some(b) => {
                        buf[n] = b;
                        n += 1;
                    }
                    None => break,
                }
            }
            // A byte held in the UART while the ring was full comes in now; reading it lets
            // the line go on (its interrupt brings the rest).
            drain_uart(&mut rings);
            n
        })
    }

    fn overruns(&self) -> u32 {
        OVERRUNS.load(Ordering::Relaxed)
    }
}
