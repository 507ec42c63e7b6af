//! The firmware: raft-embedded-example's application on an embassy Cortex-M executor under QEMU
//! `mps2-an386`, with defmt over semihosting and the checks' verdict as the semihosting exit
//! code (0 only if they passed).
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
use defmt_semihosting as _;
use embassy_executor::Executor;
use raft_embedded_example::pingpong::{self, Mailbox};
use raft_embedded_firmware::{stack, time_driver};
use static_cell::StaticCell;

defmt::timestamp!("{=u64:ms}", embassy_time::Instant::now().as_millis());

/// Round trips the client makes.
const ROUNDS: u32 = 20;

// Channels are `const`-constructible, so they are plain statics; values built at run time (the
// executor) go in `StaticCell`s. Nothing is on a heap.
static TO_SERVER: Mailbox = Mailbox::new();
static TO_CLIENT: Mailbox = Mailbox::new();
static EXECUTOR: StaticCell<Executor> = StaticCell::new();

#[entry]
fn main() -> ! {
    // `take` succeeds exactly once, and this is the only call.
    let mut core = cortex_m::Peripherals::take().expect("core peripherals taken once");
    time_driver::start(&mut core.SYST);
    defmt::info!(
        "boot: SysTick at 1 kHz, stack reserved {=usize} B",
        stack::reserved()
    );

    let executor = EXECUTOR.init(Executor::new());
    executor.run(|spawner| {
        // Each task has a pool of one and is spawned once, so spawning cannot fail.
        spawner.spawn(server(&TO_SERVER, &TO_CLIENT).expect("server spawned once"));
        spawner.spawn(client(&TO_SERVER, &TO_CLIENT).expect("client spawned once"));
    })
}

#[embassy_executor::task]
async fn server(inbox: &'static Mailbox, outbox: &'static Mailbox) {
    pingpong::server(inbox, outbox).await
}

#[embassy_executor::task]
async fn client(outbox: &'static Mailbox, inbox: &'static Mailbox) {
    let passed = match pingpong::client(outbox, inbox, ROUNDS).await {
        Ok(report) => {
            defmt::info!("checks passed: {}", report);
            true
        }
        Err(failure) => {
            defmt::error!("checks FAILED: {}", failure);
            false
        }
    };
    finish(passed)
}

/// Reports the peak stack and ends the QEMU run: exit 0 only if the checks passed and the stack
/// stayed inside its reservation.
fn finish(passed: bool) -> ! {
    let peak = stack::high_water_mark();
    let reserved = stack::reserved();
    defmt::info!(
        "stack: peak {=usize} B of {=usize} B reserved",
        peak,
        reserved
    );
    let stack_ok = peak < reserved;
    if !stack_ok {
        defmt::error!("stack: the paint is gone, the stack may have overflowed");
    }
    let code = if passed && stack_ok {
        EXIT_SUCCESS
    } else {
        EXIT_FAILURE
    };
    debug::exit(code);
    // Not reached under QEMU; on a board without a debugger, sleep.
    loop {
        cortex_m::asm::wfi();
    }
}

#[exception]
fn SysTick() {
    time_driver::on_systick();
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    debug::exit(EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
