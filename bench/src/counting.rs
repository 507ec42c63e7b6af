//! A counting global allocator.
//!
//! The library only defines the allocator and its counters; the `bench` binary installs it with
//! `#[global_allocator]`. Per BENCH.md every `alloc`, `alloc_zeroed` and `realloc` counts as one
//! allocation, and the bytes counted are the requested size (the new size for `realloc`).
//! `dealloc` is not an allocation; it only lowers the live-byte gauge, which is how the harness
//! measures resident heap memory per node.
//!
//! Counting is always on, so the same code path runs in every workload (timed or not). The
//! counters use relaxed `load` + `store` rather than read-modify-write instructions: the harness
//! is single-threaded (BENCH.md: "one process and one thread"), so nothing is lost, and a plain
//! store costs about a nanosecond per allocation instead of a locked instruction. Were another
//! thread to allocate concurrently the counts would merely be approximate; nothing unsafe
//! follows from that.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicI64 = AtomicI64::new(0);

#[inline(always)]
fn bump(n: &AtomicU64, by: u64) {
    n.store(n.load(Relaxed).wrapping_add(by), Relaxed);
}

#[inline(always)]
fn live_add(by: i64) {
    LIVE.store(LIVE.load(Relaxed).wrapping_add(by), Relaxed);
}

/// The system allocator, counting. Install with
/// `#[global_allocator] static A: raft_bench::counting::Counting = raft_bench::counting::Counting;`.
pub struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counters
// are plain atomics and never touch the returned memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump(&ALLOCS, 1);
        bump(&BYTES, layout.size() as u64);
        live_add(layout.size() as i64);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump(&ALLOCS, 1);
        bump(&BYTES, layout.size() as u64);
        live_add(layout.size() as i64);
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump(&ALLOCS, 1);
        bump(&BYTES, new_size as u64);
        live_add(new_size as i64 - layout.size() as i64);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        live_add(-(layout.size() as i64));
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// A reading of the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Allocations (alloc, alloc_zeroed, realloc) since start.
    pub allocs: u64,
    /// Requested bytes of those allocations.
    pub bytes: u64,
    /// Bytes currently allocated and not freed.
    pub live: i64,
}

impl Counts {
    /// Reads the counters now.
    #[inline(always)]
    pub fn now() -> Counts {
        Counts {
            allocs: ALLOCS.load(Relaxed),
            bytes: BYTES.load(Relaxed),
            live: LIVE.load(Relaxed),
        }
    }

    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: Counts) -> Counts {
        Counts {
            allocs: self.allocs - earlier.allocs,
            bytes: self.bytes - earlier.bytes,
            live: self.live - earlier.live,
        }
    }
}

/// True when the counting allocator is the global allocator of this process (it has seen at
/// least one allocation after `probe` allocated a box).
pub fn installed() -> bool {
    let before = Counts::now();
    let b = std::hint::black_box(Box::new(0u64));
    drop(b);
    Counts::now().allocs > before.allocs
}
