//! Memory of the example configuration: 3 peers, a 32-entry log window of up to 64-byte
//! payloads, 4 appends in flight. The numbers are printed (and documented in the crate docs);
//! the asserts keep them from growing unnoticed.

use core::mem::size_of;

use raftcore::{outputs_needed, Output, Outputs, RingStore, State, StepError};

type Small = State<3, 32, 4>;
const N: usize = outputs_needed(3);

#[test]
fn state_and_by_value_step_sizes_for_the_small_configuration() {
    let state = size_of::<Small>();
    let outputs = size_of::<Outputs<N>>();
    // The by-value step moves the State in, and the State plus the Result<Outputs> out.
    let by_value = state + size_of::<(Small, Result<Outputs<N>, StepError>)>();
    let store_bytes = 32 * (64 + raftcore::codec::ENTRY_OVERHEAD as usize);
    let ring = size_of::<RingStore<'static, 32>>();
    println!("size_of::<State<3, 32, 4>>()      = {state} bytes");
    println!("  of which log window (32 x 16)   = {} bytes", 32 * 16);
    println!(
        "size_of::<Output>()               = {} bytes",
        size_of::<Output>()
    );
    println!("size_of::<Outputs<{N}>>()           = {outputs} bytes");
    println!("bytes a by-value step copies      = {by_value} bytes");
    println!("RingStore<32> index + 32 x 75-byte records = {ring} + {store_bytes} bytes");
    println!("RAM per entry: 16 bytes of metadata in State + 4 bytes of index in RingStore + 11 bytes of record header + payload");
    assert!(state <= 2300, "State grew: {state}");
    assert!(size_of::<Output>() <= 104, "Output grew");
}
