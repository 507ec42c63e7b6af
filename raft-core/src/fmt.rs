//! The logging shim: one set of macros routed to `defmt` or `log`, or compiled away.
//!
//! As in smoltcp's `fmt.rs`, every log call in the crate goes through these macros so that
//! the protocol code never names a logging backend. With neither feature on, the arguments
//! are type-checked but no code is emitted.

#[cfg(all(feature = "defmt", feature = "log"))]
compile_error!(
    "the `defmt` and `log` features of raft-core are mutually exclusive: enable at most one"
);

#[cfg(feature = "defmt")]
macro_rules! raft_debug {
    ($($arg:tt)*) => { ::defmt::debug!($($arg)*) };
}
#[cfg(feature = "log")]
macro_rules! raft_debug {
    ($($arg:tt)*) => { ::log::debug!($($arg)*) };
}
#[cfg(not(any(feature = "defmt", feature = "log")))]
macro_rules! raft_debug {
    ($($arg:tt)*) => {{
        // Keep the arguments type-checked (and "used") without emitting code.
        if false {
            let _ = ($($arg)*,);
        }
    }};
}

#[cfg(feature = "defmt")]
macro_rules! raft_info {
    ($($arg:tt)*) => { ::defmt::info!($($arg)*) };
}
#[cfg(feature = "log")]
macro_rules! raft_info {
    ($($arg:tt)*) => { ::log::info!($($arg)*) };
}
#[cfg(not(any(feature = "defmt", feature = "log")))]
macro_rules! raft_info {
    ($($arg:tt)*) => {{
        if false {
            let _ = ($($arg)*,);
        }
    }};
}

pub(crate) use raft_debug;
pub(crate) use raft_info;
