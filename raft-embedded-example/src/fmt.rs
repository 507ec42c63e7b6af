//! The logging shim (smoltcp's `fmt.rs` idea): `info!` and `debug!` go to defmt when
//! the `defmt` feature is on and compile away otherwise, so the host test builds without a
//! logger and the firmware pays only for the lines it keeps.

#[cfg(feature = "defmt")]
macro_rules! info {
    ($($arg:tt)*) => { ::defmt::info!($($arg)*) };
}

#[cfg(feature = "defmt")]
macro_rules! debug {
    ($($arg:tt)*) => { ::defmt::debug!($($arg)*) };
}

// Without a logger the arguments are still borrowed, so a variable used only in a log line does
// not become "unused" in one build and used in the other.
#[cfg(not(feature = "defmt"))]
macro_rules! info {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {{ $( let _ = &$arg; )* }};
}

#[cfg(not(feature = "defmt"))]
macro_rules! debug {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {{ $( let _ = &$arg; )* }};
}
