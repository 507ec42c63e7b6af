//! The firmware: raft-embedded-example's application on an embassy Cortex-M executor under QEMU
//! `mps2-an386`, with defmt over semihosting and the checks' verdict as the semihosting exit
//! code (0 only if they passed).
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
use defmt_semihosting as _;
use embassy_executor::{Executor, Spawner};
use raft_embedded_example::cluster::{
    self, Node, NodeEngine, Shared, WindowMemory, EMPTY_WINDOWS, STORE_BYTES,
};
use raft_embedded_example::link::{self, LinkConfig, NODES};
use raft_embedded_example::scenario::{self, Scenario};
use raft_embedded_example::{node, SEED};
use raft_embedded_firmware::{stack, time_driver};
use static_cell::{ConstStaticCell, StaticCell};

defmt::timestamp!("{=u64:ms}", embassy_time::Instant::now().as_millis());

// Channels, counters and the board are `const`-constructible: a plain static. The nodes'
// disks and log windows are zeroed buffers (`ConstStaticCell`, in .bss); their `State`s are
// built at run time (`StaticCell`). Nothing is on a heap.
static SHARED: Shared = Shared::new();
static DISKS: ConstStaticCell<[[u8; STORE_BYTES]; NODES]> =
    ConstStaticCell::new([[0; STORE_BYTES]; NODES]);
// One log window per node and a spare for the node being rebuilt after a power cycle, lent to
// `SHARED.windows` at boot.
static WINDOWS: ConstStaticCell<WindowMemory> = ConstStaticCell::new(EMPTY_WINDOWS);
static MEMORY: [StaticCell<NodeEngine>; NODES] = [const { StaticCell::new() }; NODES];
static EXECUTOR: StaticCell<Executor> = StaticCell::new();

#[entry]
fn main() -> ! {
    // `take` succeeds exactly once, and this is the only call.
    let mut core = cortex_m::Peripherals::take().expect("core peripherals taken once");
    time_driver::start(&mut core.SYST);
    defmt::info!(
        "boot: SysTick at 1 kHz, stack reserved {=usize} B, size_of::<State>() = {=usize} B",
        stack::reserved(),
        core::mem::size_of::<Node>()
    );

    let executor = EXECUTOR.init(Executor::new());
    executor.run(spawn_all)
}

/// Builds the nodes' memory and spawns every task. Not inlined into `Executor::run`, whose
/// frame lives for ever: the temporaries of building three `State`s are popped when this
/// returns.
#[inline(never)]
fn spawn_all(spawner: Spawner) {
    // `take` and each `init` run once (`run` calls this once), so none of them panics; the task
    // pools are sized for exactly the spawns below, so spawning cannot fail.
    SHARED.windows.lend(WINDOWS.take());
    for (k, disk) in DISKS.take().iter_mut().enumerate() {
        let memory = MEMORY[k].init_with(|| cluster::node(k, SEED, disk, &SHARED));
        spawner.spawn(node_task(k, memory).expect("node pool of NODES"));
    }
    spawner.spawn(link_task(LinkConfig::DEFAULT).expect("link spawned once"));
    spawner.spawn(client_task().expect("client spawned once"));
}

#[embassy_executor::task(pool_size = NODES)]
async fn node_task(k: usize, memory: &'static mut NodeEngine) {
    node::run(k, memory, &SHARED, SEED).await
}

#[embassy_executor::task]
async fn link_task(config: LinkConfig) {
    link::run(&SHARED.uplink, &SHARED.inboxes, &SHARED.link_stats, config).await
}

#[embassy_executor::task]
async fn client_task() {
    let passed = match scenario::run(&SHARED, Scenario::DEFAULT).await {
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
