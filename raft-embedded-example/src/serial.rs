//! What travels on a board's serial line: COBS-framed messages between a board and the host's
//! bus (`raft-board-bus`).
//!
//! A message is its postcard encoding ([`Msg`]) followed by a little-endian CRC-32 of those
//! bytes, COBS-encoded (the `cobs` crate) and ended by a `0x00` byte. The CRC makes a torn or
//! bit-flipped frame a counted drop rather than a different message (a UART has no checksum
//! of its own); COBS lets a receiver find the next frame after any garbage. The datagrams
//! inside [`Msg::Sealed`] are exactly what the UDP driver sends: raft-core's codec frame,
//! sealed ([`crate::seal`], the host's format and key file).
//!
//! Both ends use this module: the board's node loop ([`crate::board_node`]) and the host bus.

use serde::{Deserialize, Serialize};

use crate::seal::MAX_DATAGRAM;

/// The largest postcard encoding of a [`Msg`]: a sealed datagram of [`MAX_DATAGRAM`] bytes
/// with the variant tag, the addressee and the length prefix.
pub const MAX_MSG: usize = MAX_DATAGRAM + 8;

/// The largest decoded message: a [`Msg`] and its CRC-32.
pub const MAX_PLAIN: usize = MAX_MSG + 4;

/// The largest frame on the wire: COBS overhead and the `0x00` delimiter included.
pub const MAX_WIRE: usize = cobs::max_encoding_length(MAX_PLAIN) + 1;

/// The CRC-32 (ISO-HDLC, the zlib one) of serial frames and journal records, bit by bit: no
/// table in flash (the 1 KiB table cost a board 1 KiB of its 64 KiB; a 200-byte frame takes
/// about 13,000 cycles, half a millisecond at 25 MHz, against a 100 ms tick).
pub(crate) const CRC32: crc::Crc<u32, crc::NoTable> =
    crc::Crc::<u32, crc::NoTable>::new(&crc::CRC_32_ISO_HDLC);

/// One message on the serial line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg<'a> {
    /// A sealed raft-core frame, either way: the bus routes it to node `to` (the datagram's
    /// destination address, outside the seal as a UDP destination is) and forwards the
    /// datagram unchanged.
    Sealed {
        /// The node it is for.
        to: u32,
        /// The sealed datagram, byte for byte what a host node sends.
        datagram: &'a [u8],
    },
    /// Bus to board: propose this value (a client write).
    Propose(u32),
    /// Board to bus: what became of a proposal.
    Answer(Answer),
    /// Board to bus, periodically: what the board shows.
    Report(Report),
}

/// What became of a proposed value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// Committed and applied by the leader that took it: the write is acknowledged.
    Applied,
    /// This board is not the leader; the leader it knows, if any (0: none).
    NotLeader(u32),
    /// Not taken now (a bounded resource is full, or another proposal is pending); retry.
    Busy,
}

/// A board's answer to [`Msg::Propose`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Answer {
    /// The value proposed.
    pub value: u32,
    /// What became of it.
    pub outcome: Outcome,
}

/// A board's periodic report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Report {
    /// The board's node id.
    pub id: u32,
    /// 0 follower, 1 candidate, 2 leader (also for a pre-candidate: 1).
    pub role: u8,
    /// Its term.
    pub term: u64,
    /// The leader it knows (0: none).
    pub leader: u32,
    /// Its commit index.
    pub commit: u64,
    /// The last index of its log.
    pub last_index: u64,
    /// The first index of its log (above 1 once it was compacted).
    pub first_index: u64,
    /// Garbage collections of its flash journal since the flash was new.
    pub collections: u32,
    /// Client values its state machine applied (each at most once; across reboots too: the
    /// count restarts from the board's last capture and the log after it).
    pub values: u32,
    /// The last value applied (values are applied only in increasing order).
    pub last_value: u32,
    /// Boots of this board that found durable state (0 on a fresh flash).
    pub restarts: u32,
    /// Hostile or damaged input dropped on the board: see [`Drops`].
    pub drops: Drops,
    /// The board's clock: milliseconds since it booted (election timeouts are in this clock,
    /// which under QEMU runs slower than the host's when the host is loaded).
    pub uptime_ms: u64,
    /// The deepest the board's stack has been since boot, in bytes (painted; 0 if the board
    /// does not measure it).
    pub peak_stack: u32,
}

/// Bytes and frames a board dropped, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Drops {
    /// Frames that were not valid COBS or longer than [`MAX_PLAIN`].
    pub framing: u32,
    /// Frames whose CRC-32 did not match (torn, bit-flipped).
    pub crc: u32,
    /// Frames whose CRC matched but that are not a [`Msg`] a board takes, and sealed
    /// datagrams too short, too long or of another version.
    pub malformed: u32,
    /// Raft frames the core refused (malformed, wrong cluster, misaddressed).
    pub core: u32,
    /// Sealed datagrams whose tag did not verify (forged, damaged, another key).
    pub bad_tag: u32,
    /// Sealed datagrams with a counter already taken from that sender (duplicates, replays).
    pub replayed: u32,
    /// Sealed datagrams below the sender's replay window (e.g. from its earlier boot).
    pub too_old: u32,
    /// Sealed datagrams from a sender that is not one of the board's peers. (A datagram too
    /// short, too long or of another version counts as `malformed`.)
    pub unknown_peer: u32,
    /// Received bytes lost before they were framed ([`SerialRx::overruns`]); each may merge
    /// two frames or cut one, so the frame counters above are exact only while this is 0.
    ///
    /// [`SerialRx::overruns`]: crate::board_node::SerialRx::overruns
    pub overrun: u32,
    /// Frames not sent because the transmit buffer was full.
    pub tx_full: u32,
}

/// Why a message could not be framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TooLarge;

/// Frames `msg` into `out` (CRC, COBS, `0x00`); returns the bytes to send.
pub fn encode<'b>(msg: &Msg<'_>, out: &'b mut [u8; MAX_WIRE]) -> Result<&'b [u8], TooLarge> {
    let mut plain = [0u8; MAX_PLAIN];
    let n = postcard::to_slice(msg, &mut plain[..MAX_MSG])
        .map_err(|_| TooLarge)?
        .len();
    let crc = CRC32.checksum(&plain[..n]);
    plain[n..n + 4].copy_from_slice(&crc.to_le_bytes());
    let m = cobs::try_encode(&plain[..n + 4], &mut out[..MAX_WIRE - 1]).map_err(|_| TooLarge)?;
    out[m] = 0;
    Ok(&out[..=m])
}

/// What [`Deframer::push`] made of one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Nothing yet.
    More,
    /// A frame checked out: [`Deframer::message`] decodes it.
    Frame,
    /// A frame was dropped for this reason (already counted).
    Dropped(Drop),
}

/// Why a received frame was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// Not COBS, or too long.
    Framing,
    /// CRC mismatch.
    Crc,
}

/// Turns a byte stream into checked frames, with a fixed buffer (no heap). Garbage between
/// frames, overlong frames, bad COBS and CRC mismatches are dropped and counted; the next
/// `0x00` starts afresh.
pub struct Deframer {
    state: cobs::DecoderState,
    buf: heapless::Vec<u8, MAX_PLAIN>,
    /// Set after an error until the next delimiter: the rest of that frame is skipped.
    skipping: bool,
    /// The frame reported last is in `buf` (its length without the CRC) until the next push.
    ready: Option<usize>,
}

impl Default for Deframer {
    fn default() -> Deframer {
        Deframer::new()
    }
}

impl Deframer {
    /// Waiting for the first frame.
    pub const fn new() -> Deframer {
        Deframer {
            state: cobs::DecoderState::Idle,
            buf: heapless::Vec::new(),
            skipping: false,
            ready: None,
        }
    }

    /// Takes one received byte.
    pub fn push(&mut self, byte: u8) -> Pushed {
        if self.ready.take().is_some() {
            self.buf.clear();
        }
        if self.skipping {
            if byte == 0 {
                self.skipping = false;
                self.state = cobs::DecoderState::Idle;
                self.buf.clear();
            }
            return Pushed::More;
        }
        match self.state.feed(byte) {
            Ok(cobs::DecodeResult::NoData) => Pushed::More,
            Ok(cobs::DecodeResult::DataContinue(b)) => {
                if self.buf.push(b).is_err() {
                    self.fail(byte)
                } else {
                    Pushed::More
                }
            }
            Ok(cobs::DecodeResult::DataComplete) => {
                let n = self.buf.len();
                if n < 4 {
                    self.buf.clear();
                    return Pushed::Dropped(Drop::Framing);
                }
                let (body, crc) = self.buf.split_at(n - 4);
                let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
                if CRC32.checksum(body) != crc {
                    self.buf.clear();
                    return Pushed::Dropped(Drop::Crc);
                }
                self.ready = Some(n - 4);
                Pushed::Frame
            }
            // The decoder is back to idle after an error; a `0x00` ended the bad frame.
            Err(_) => {
                self.buf.clear();
                Pushed::Dropped(Drop::Framing)
            }
        }
    }

    fn fail(&mut self, byte: u8) -> Pushed {
        self.buf.clear();
        self.state = cobs::DecoderState::Idle;
        self.skipping = byte != 0;
        Pushed::Dropped(Drop::Framing)
    }

    /// The message of the frame [`Deframer::push`] just reported as [`Pushed::Frame`]
    /// (`None` if there is none, or it is not a [`Msg`]: count that as malformed).
    pub fn message(&self) -> Option<Msg<'_>> {
        let n = self.ready?;
        postcard::from_bytes(&self.buf[..n]).ok()
    }
}
