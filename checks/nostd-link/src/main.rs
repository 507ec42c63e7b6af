//! Links raft-core into a bare-metal binary with no allocator and drives one election.
#![no_std]
#![no_main]

use core::panic::PanicInfo;
use cortex_m_rt::entry;
use raftcore::{Config, Input, NodeId, Outputs, Role, State};

#[entry]
fn main() -> ! {
    let voters = [NodeId(1)];
    let mut node: State<3, 32, 4> = match State::new(Config::new(NodeId(1), 7), &voters) {
        Ok(s) => s,
        Err(_) => loop {},
    };
    let mut out: Outputs<16> = Outputs::new();
    while node.role() != Role::Leader {
        if node.step(Input::Tick, &mut out).is_err() {
            break;
        }
    }
    // Also exercise the by-value form.
    let (node, _res) = raftcore::step::<3, 32, 4, _, 16>(node, Input::Propose { data: b"x" });
    core::hint::black_box(&node);
    loop {}
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}
