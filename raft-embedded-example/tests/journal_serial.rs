//! The board's journal survives torn writes, and the serial deframer counts and drops hostile
//! bytes, on the host (the same code the board runs).

use raft_embedded_example::journal::{Journal, JournalError, Rec, ERASE_UNIT};
use raft_embedded_example::serial::{self, Deframer, Drop, Msg, Pushed};

mod common;

use common::RamFlash;

fn entry(i: u64) -> Rec<'static> {
    Rec::Entry {
        index: i,
        term: 1,
        kind: 0,
        data: &[1, 2, 3, 4],
    }
}

fn replay(flash: RamFlash) -> (Journal<RamFlash>, Vec<u64>, u32) {
    let mut seen = Vec::new();
    let (j, r) = Journal::open(flash, |rec| {
        if let Rec::Entry { index, .. } = rec {
            seen.push(*index)
        }
    })
    .expect("ram flash");
    (j, seen, r.torn)
}

#[test]
fn a_torn_tail_is_detected_skipped_and_never_programmed_over() {
    let (mut j, seen, torn) = replay(RamFlash::new(4 * ERASE_UNIT as usize));
    assert!(seen.is_empty() && torn == 0);
    for i in 1..=10 {
        j.append(&entry(i)).unwrap();
    }
    let end = j.used() as usize;
    let mut bytes = j.flash().bytes();
    // A power cut in the middle of record 11: only its first bytes reached the flash.
    let whole = RamFlash::from_bytes(bytes.clone());
    let (mut k, _, _) = replay(RamFlash::from_bytes(bytes.clone()));
    k.append(&entry(11)).unwrap();
    let rec11 = k.flash().bytes()[end..k.used() as usize].to_vec();
    bytes[end..end + rec11.len() / 2].copy_from_slice(&rec11[..rec11.len() / 2]);
    let (mut j, seen, torn) = replay(RamFlash::from_bytes(bytes));
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    assert_eq!(torn, 1);
    // Appends resume at the next erase unit, never over the torn bytes (RamFlash asserts).
    assert_eq!(j.used(), ERASE_UNIT);
    j.append(&entry(11)).unwrap();
    let (_, seen, torn) = replay(RamFlash::from_bytes(j.flash().bytes()));
    assert_eq!(seen, (1..=11).collect::<Vec<_>>());
    assert_eq!(torn, 1);
    // A flipped bit inside a record is caught by its CRC as well.
    let (mut w, _, _) = replay(whole);
    w.append(&entry(11)).unwrap();
    let mut flipped = w.flash().bytes();
    flipped[end + 4] ^= 0x01;
    let (_, seen, torn) = replay(RamFlash::from_bytes(flipped));
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    assert_eq!(torn, 1);
}

/// A damaged record followed by intact ones is not a torn tail (after a tear, the next record
/// written is the `Resume` that names it): it may have held something acknowledged, so the
/// journal is refused, for any byte of any record but the last.
#[test]
fn a_flipped_byte_in_the_middle_of_the_journal_is_refused_not_skipped() {
    let (mut j, _, _) = replay(RamFlash::new(4 * ERASE_UNIT as usize));
    let mut ends = vec![j.used() as usize];
    for i in 1..=6 {
        j.append(&entry(i)).unwrap();
        ends.push(j.used() as usize);
    }
    let whole = j.flash().bytes();
    for at in ends[0]..ends[5] {
        let mut bytes = whole.clone();
        bytes[at] ^= 0x20;
        let opened = Journal::open(RamFlash::from_bytes(bytes), |_| {});
        assert_eq!(
            opened.err(),
            Some(JournalError::Damaged),
            "byte {at} flipped"
        );
    }
    // The same byte of the last record is a torn tail: the first five come back.
    for at in ends[5]..ends[6] {
        let mut bytes = whole.clone();
        bytes[at] ^= 0x20;
        let (_, seen, torn) = replay(RamFlash::from_bytes(bytes));
        assert_eq!((seen, torn), ((1..=5).collect::<Vec<_>>(), 1), "byte {at}");
    }
}

#[test]
fn hostile_bytes_are_counted_and_dropped_and_good_frames_still_pass() {
    let mut wire = [0u8; serial::MAX_WIRE];
    let good = serial::encode(
        &Msg::Sealed {
            to: 2,
            datagram: &[9, 8, 7, 0, 6],
        },
        &mut wire,
    )
    .unwrap()
    .to_vec();
    let mut stream = Vec::new();
    let mut expected = 0;
    // Random bytes, a truncated frame, a bit-flipped frame, an overlong run: one drop each.
    stream.extend([0, 0x37, 0x91, 0x05, 0xEE, 0]);
    stream.extend(&good[..good.len() / 2]);
    stream.push(0);
    let mut flipped = good.clone();
    flipped[2] ^= 0x10;
    stream.extend(&flipped);
    stream.extend(std::iter::repeat_n(0x5A, 3 * serial::MAX_WIRE));
    stream.push(0);
    expected += 4;
    stream.extend(&good);
    let mut d = Deframer::new();
    let (mut drops, mut frames) = (0, Vec::new());
    for b in stream {
        match d.push(b) {
            Pushed::More => {}
            Pushed::Dropped(Drop::Framing | Drop::Crc) => drops += 1,
            Pushed::Frame => frames.push(format!("{:?}", d.message())),
        }
    }
    assert_eq!(drops, expected);
    assert_eq!(
        frames,
        vec![format!(
            "{:?}",
            Some(Msg::Sealed {
                to: 2,
                datagram: &[9, 8, 7, 0, 6]
            })
        )]
    );
}
