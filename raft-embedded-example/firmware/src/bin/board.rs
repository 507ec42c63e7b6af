//! One board of a multi-board cluster: ONE raft-core node on the driver engine, its id and
//! seed from the semihosting command line, its log journaled to a semihosting file (its
//! flash), its frames sealed under the cluster key file (the host's format) and sent on UART0
//! to the host's bus (`raft-board-bus`). No heap.
//!
//! ```text
//! qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic \
//!   -semihosting-config enable=on,target=native -serial tcp:127.0.0.1:PORT -kernel raft-board \
//!   -append "id=1 seed=7 flash=board-1.flash key=cluster.key"
//! ```
//!
//! It runs until killed (a board has no end); a node that stops on an error exits 1.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::debug::{self, EXIT_FAILURE};
use defmt_semihosting as _;
use embassy_executor::{Executor, Spawner};
use raft_embedded_example::board_node::{
    self, BoardDisk, BoardEngine, BoardState, BOARD_LOG, BOARD_STORE,
};
use raft_embedded_example::cluster::{WindowPool, VOTERS};
use raft_embedded_example::seal::{self, BoardSeal};
use raft_embedded_firmware::semihost::{self, FileFlash};
use raft_embedded_firmware::uart::{self, UartRx, UartTx};
use raft_embedded_firmware::{stack, time_driver};
use raftcore::{LogSlot, NodeId};
use static_cell::{ConstStaticCell, StaticCell};

defmt::timestamp!("{=u64:ms}", embassy_time::Instant::now().as_millis());

/// The node's engine, built at boot from what the journal replayed.
type Engine = BoardEngine<FileFlash, UartTx>;

static RING: ConstStaticCell<[u8; BOARD_STORE]> = ConstStaticCell::new([0; BOARD_STORE]);
static ENGINE: StaticCell<Engine> = StaticCell::new();
// The node's protocol state, borrowed by `ENGINE`.
static STATE: StaticCell<BoardState> = StaticCell::new();
// The node's log window, lent to `WINDOW_POOL` at boot and taken by its `State`.
static WINDOW: ConstStaticCell<[LogSlot; BOARD_LOG]> =
    ConstStaticCell::new([LogSlot::EMPTY; BOARD_LOG]);
static WINDOW_POOL: WindowPool = WindowPool::new();
static EXECUTOR: StaticCell<Executor> = StaticCell::new();

#[entry]
fn main() -> ! {
    let mut core = cortex_m::Peripherals::take().expect("core peripherals taken once");
    time_driver::start(&mut core.SYST);
    uart::init();
    defmt::info!(
        "board: stack reserved {=usize} B, size_of::<State>() = {=usize} B, engine {=usize} B",
        stack::reserved(),
        core::mem::size_of::<BoardState>(),
        core::mem::size_of::<Engine>()
    );
    let executor = EXECUTOR.init(Executor::new());
    executor.run(boot)
}

/// Reads the command line, replays the flash and spawns the node; any failure ends the run.
/// Not inlined into `Executor::run`, whose frame lives for ever.
#[inline(never)]
fn boot(spawner: Spawner) {
    let args = match semihost::args() {
        Ok(a) => a,
        Err(e) => fail_boot("command line", e),
    };
    let Some(cfg) = board_node::config(NodeId(args.id), args.seed) else {
        fail_boot("node id", args.id)
    };
    let flash = match FileFlash::open(&args) {
        Ok(f) => f,
        Err(e) => fail_boot("flash file", e),
    };
    let key = match semihost::read_key(&args) {
        Ok(k) => k,
        Err(e) => fail_boot("key file", e),
    };
    let restarts = u32::from(!flash.fresh);
    let (mut disk, restored, replay) = match BoardDisk::open(RING.take(), flash) {
        Ok(d) => d,
        Err(e) => fail_boot("flash replay", e),
    };
    // Durable before the first frame is sealed: no boot reuses another's counters.
    let epoch = match disk.advance_epoch() {
        Ok(e) => e,
        Err(e) => fail_boot("boot epoch", e),
    };
    let id = NodeId(args.id);
    let prefix = seal::nonce_prefix(args.seed, id, epoch);
    let Some(seal) = BoardSeal::new(&key, id, &VOTERS, epoch, prefix) else {
        fail_boot("node id", args.id)
    };
    defmt::info!(
        "board {=u32}: epoch {=u32}, replayed {} (term {}, commit {}, last {})",
        args.id,
        epoch,
        replay,
        restored.hard_state.term,
        restored.commit,
        raftcore::LogStore::last_index(&disk)
    );
    let (tx, rx) = uart::split().expect("UART split once");
    WINDOW_POOL.lend_slots(WINDOW.take());
    let window = WINDOW_POOL.take().expect("the window was just lent");
    // The node's `State` is written into its own static and the engine, which borrows it,
    // into another: measured, building the engine by value around a `State` it owned kept
    // copies of both in this frame (9,344 B).
    let state = match board_node::state(STATE.uninit(), cfg, &disk, restored, window) {
        Ok(s) => s,
        Err(e) => fail_boot("restore", e),
    };
    let engine = ENGINE.init_with(|| board_node::engine(state, disk, restored.commit, tx, seal));
    defmt::info!(
        "board: boot peak stack {=usize} B",
        stack::high_water_mark()
    );
    spawner.spawn(node_task(engine, rx, restarts).expect("node spawned once"));
}

fn fail_boot(what: &str, e: impl defmt::Format) -> ! {
    defmt::error!("board: {=str} refused: {}", what, e);
    debug::exit(EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[embassy_executor::task]
async fn node_task(engine: &'static mut Engine, mut rx: UartRx, restarts: u32) {
    let error = board_node::run(engine, &mut rx, restarts, stack::high_water_mark).await;
    defmt::error!(
        "board: node stopped on {}; peak stack {=usize} B",
        error,
        stack::high_water_mark()
    );
    debug::exit(EXIT_FAILURE);
}

#[exception]
fn SysTick() {
    time_driver::on_systick();
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    uart::on_interrupt(irqn);
}

/// Logs where, not what: formatting the message linked more of `core::fmt` (the rest stays,
/// for the messages of core's own panics).
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    match info.location() {
        Some(at) => defmt::error!("panic at {=str}:{=u32}", at.file(), at.line()),
        None => defmt::error!("panic"),
    }
    debug::exit(EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
