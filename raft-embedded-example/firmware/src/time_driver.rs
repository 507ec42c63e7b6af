//! An embassy-time driver on the Cortex-M SysTick: one interrupt per millisecond counts ticks and
//! wakes the timers that are due.
//!
//! There is no embassy HAL for QEMU's `mps2-an386`, and SysTick is the one timer every Cortex-M
//! has. A 1 kHz tick (embassy-time feature `tick-hz-1_000`) costs an interrupt per millisecond,
//! which is nothing for three Raft nodes, and keeps the driver free of compare-register
//! arithmetic. The timer queue is embassy's integrated queue (the wakers live in the tasks),
//! guarded by a critical section together with the tick count.

use core::cell::RefCell;
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use critical_section::Mutex;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

/// The mps2-an386 core clock, which clocks SysTick (`SystClkSource::Core`).
pub const CORE_CLOCK_HZ: u32 = 25_000_000;

/// SysTick counts `RELOAD + 1` core cycles per tick.
const RELOAD: u32 = CORE_CLOCK_HZ / embassy_time_driver::TICK_HZ as u32 - 1;

// The reload arithmetic above assumes embassy-time's tick is what this driver counts.
const _: () = assert!(
    embassy_time_driver::TICK_HZ == 1_000,
    "enable embassy-time/tick-hz-1_000"
);
// SysTick's reload register has 24 bits.
const _: () = assert!(RELOAD < (1 << 24));

struct Inner {
    /// Ticks since `start`; 64 bits never wrap (584 million years at 1 kHz).
    ticks: u64,
    /// The earliest deadline in `queue` (`u64::MAX` when it is empty).
    next_alarm: u64,
    queue: Queue,
}

/// The driver: all of its state behind one critical-section mutex, shared by thread mode
/// (`now`, `schedule_wake`) and the SysTick exception (`on_systick`).
struct SysTickDriver {
    inner: Mutex<RefCell<Inner>>,
}

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.inner.borrow_ref(cs).ticks)
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut inner = self.inner.borrow_ref_mut(cs);
            let inner = &mut *inner;
            if inner.queue.schedule_wake(at, waker) {
                // Also wakes at once a deadline that has already passed.
                inner.next_alarm = inner.queue.next_expiration(inner.ticks);
            }
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    inner: Mutex::new(RefCell::new(Inner {
        ticks: 0,
        next_alarm: u64::MAX,
        queue: Queue::new(),
    })),
});

/// Starts SysTick at 1 kHz from the core clock, with its interrupt enabled. Call once, before the
/// executor runs; the `SysTick` exception handler must call [`on_systick`].
pub fn start(syst: &mut SYST) {
    syst.disable_counter();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// The body of the `SysTick` exception: advance time by one tick and wake what is due.
pub fn on_systick() {
    critical_section::with(|cs| {
        let mut inner = DRIVER.inner.borrow_ref_mut(cs);
        let inner = &mut *inner;
        inner.ticks += 1;
        if inner.ticks >= inner.next_alarm {
            inner.next_alarm = inner.queue.next_expiration(inner.ticks);
        }
    });
}
