//! Errors: small `Copy` enums with `Display`, one per seam.

use core::fmt;

use crate::feature::Feature;

/// Why a [`Config`](crate::Config) or a membership list was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConfigError {
    /// `heartbeat_ticks` must be at least 1.
    HeartbeatZero,
    /// `election_ticks` must be larger than `heartbeat_ticks`, or a healthy leader would
    /// be deposed between two heartbeats.
    ElectionNotAboveHeartbeat,
    /// The voter list lists a node twice.
    BadVoters,
    /// More voters than the `PEERS` capacity of the `State` type (or than
    /// [`MAX_MEMBERS`](crate::MAX_MEMBERS)).
    TooManyVoters,
    /// `max_frame_bytes` is too small to carry even an empty AppendEntries.
    FrameTooSmall,
    /// `max_frame_bytes` above [`MAX_FRAME_BYTES`](crate::codec::MAX_FRAME_BYTES).
    FrameTooLarge,
    /// `max_inflight_msgs` is zero or above the `INFLIGHT` capacity of the `State` type.
    BadInflight,
    /// `max_inflight_bytes` is smaller than `max_frame_bytes`, so not even one full
    /// message could ever be in flight.
    InflightBytesTooSmall,
    /// `max_uncommitted` is zero.
    UncommittedZero,
    /// `max_apply` is zero: nothing could ever be applied.
    ApplyZero,
    /// `log_bytes` cannot hold even one entry of the largest payload.
    LogBytesTooSmall,
    /// The `LOG` capacity of the `State` type is below 4 entries.
    LogWindowTooSmall,
    /// The storage given for the log window does not hold exactly `LOG` slots.
    WindowStorage,
    /// The restored hard state or log is inconsistent (a log shorter than the applied index,
    /// terms that go down, a malformed membership entry).
    BadRestore,
    /// The configuration asks for a part of the protocol this build left out (a Cargo
    /// feature of raft-core that is off): `lease_reads` without `reads`.
    Disabled(Feature),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::HeartbeatZero => "heartbeat_ticks must be at least 1",
            ConfigError::ElectionNotAboveHeartbeat => {
                "election_ticks must be larger than heartbeat_ticks"
            }
            ConfigError::BadVoters => "voters must be listed once each",
            ConfigError::WindowStorage => "the log window storage must hold exactly LOG slots",
            ConfigError::TooManyVoters => "more voters than the PEERS capacity",
            ConfigError::FrameTooSmall => "max_frame_bytes is too small for an empty append",
            ConfigError::FrameTooLarge => "max_frame_bytes is above codec::MAX_FRAME_BYTES",
            ConfigError::BadInflight => "max_inflight_msgs must be in 1..=INFLIGHT",
            ConfigError::InflightBytesTooSmall => "max_inflight_bytes must be >= max_frame_bytes",
            ConfigError::UncommittedZero => "max_uncommitted must be at least 1",
            ConfigError::ApplyZero => "max_apply must be at least 1",
            ConfigError::LogBytesTooSmall => "log_bytes cannot hold one maximum-size entry",
            ConfigError::LogWindowTooSmall => "the LOG capacity must be at least 4 entries",
            ConfigError::BadRestore => "the restored hard state or log is inconsistent",
            ConfigError::Disabled(feature) => {
                return write!(
                    f,
                    "raft-core was built without the `{}` feature",
                    feature.name()
                )
            }
        })
    }
}

/// A programming error of the driver, reported instead of a panic. Received messages never
/// produce these: a bad message is ignored and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StepError {
    /// The node stopped after a storage failure; rebuild it with
    /// [`State::restore`](crate::State::restore).
    Halted,
    /// `Persisted { seq }` named a sequence number that was never handed out.
    UnknownPersistSeq,
    /// `Captured { index }` named an index beyond what was applied.
    CaptureBeyondApplied,
    /// `Read { id }` did not increase over the previous read id.
    ReadIdNotIncreasing,
    /// `SnapshotSaved` named an index whose term in the log differs from the snapshot's.
    SnapshotMismatch,
    /// `SnapshotInstalled` named a snapshot the core did not ask to install.
    SnapshotNotRequested,
    /// The input belongs to a part of the protocol this build left out (a Cargo feature of
    /// raft-core that is off); nothing changed.
    Disabled(Feature),
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepError::Halted => "the node halted after a storage failure",
            StepError::UnknownPersistSeq => "Persisted named a sequence number never issued",
            StepError::CaptureBeyondApplied => "Captured named an index beyond the applied index",
            StepError::ReadIdNotIncreasing => "Read ids must increase",
            StepError::SnapshotMismatch => "SnapshotSaved term differs from the log's",
            StepError::SnapshotNotRequested => "SnapshotInstalled for a snapshot not requested",
            StepError::Disabled(feature) => {
                return write!(
                    f,
                    "raft-core was built without the `{}` feature",
                    feature.name()
                )
            }
        })
    }
}

impl core::error::Error for ConfigError {}
impl core::error::Error for StepError {}

/// Why a frame could not be encoded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CodecError {
    /// The output buffer is too small for the frame.
    BufferTooSmall,
    /// The frame is longer than [`MAX_FRAME_BYTES`](crate::codec::MAX_FRAME_BYTES).
    Oversized,
    /// The frame is empty or ends inside a field.
    Truncated,
    /// The first byte is not [`VERSION`](crate::codec::VERSION).
    BadVersion,
    /// The header or message does not decode.
    Malformed,
    /// An entry record is malformed (unknown kind, length past the end).
    BadEntry,
    /// Bytes remain after the last entry (or after a message without entries).
    TrailingBytes,
    /// Encoding: the log store does not hold an entry the message names.
    EntryMissing,
    /// A snapshot chunk whose length, offset or `done` flag contradict its snapshot.
    BadChunk,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodecError::BufferTooSmall => "buffer too small for the frame",
            CodecError::Oversized => "frame longer than MAX_FRAME_BYTES",
            CodecError::Truncated => "frame truncated",
            CodecError::BadVersion => "unknown frame version",
            CodecError::Malformed => "malformed header or message",
            CodecError::BadEntry => "malformed entry record",
            CodecError::TrailingBytes => "trailing bytes after the message",
            CodecError::EntryMissing => "the log store lacks an entry the message names",
            CodecError::BadChunk => "snapshot chunk inconsistent with its snapshot",
        })
    }
}

impl core::error::Error for CodecError {}
