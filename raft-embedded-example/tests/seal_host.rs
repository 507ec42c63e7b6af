//! A board's sealed frames on the host: they are the host's datagrams (a host node's opener
//! takes a board's, a board takes a host node's), and forged, replayed and too old datagrams
//! are refused, across a board's reboot too (its epoch, kept in its flash journal, is strictly
//! greater every boot).

use std::net::SocketAddr;

mod common;

use common::RamFlash;

use raft_embedded_example::board_node::{BoardDisk, BOARD_STORE};
use raft_embedded_example::cluster::VOTERS;
use raft_embedded_example::seal::{
    nonce_prefix, BoardSeal, SealDrop, SealError, FRAME_AT, MAX_DATAGRAM, MAX_PLAIN,
};
use raft_std_driver::transport::{ClusterKey, DropReason, Opener, PeerBinding, Sealer};
use raftcore::NodeId;

const KEY: [u8; 32] = [0x42; 32];

/// Boots board `id` on `flash`: replays its journal and takes the next epoch, as the firmware
/// does before it seals anything.
fn boot(id: u32, flash: &RamFlash) -> (u32, BoardSeal) {
    let ring: &'static mut [u8; BOARD_STORE] = Box::leak(Box::new([0; BOARD_STORE]));
    let (mut disk, _, _) = BoardDisk::open(ring, flash.clone()).expect("ram flash");
    let epoch = disk.advance_epoch().expect("epochs left");
    let seal = BoardSeal::new(
        &KEY,
        NodeId(id),
        &VOTERS,
        epoch,
        nonce_prefix(7, NodeId(id), epoch),
    )
    .expect("a voter");
    (epoch, seal)
}

fn sealed(seal: &mut BoardSeal, frame: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; MAX_DATAGRAM];
    buf[FRAME_AT..FRAME_AT + frame.len()].copy_from_slice(frame);
    let n = seal.seal(&mut buf, frame.len()).expect("counters left");
    buf[..n].to_vec()
}

fn open(seal: &mut BoardSeal, d: &[u8]) -> Result<(u32, Vec<u8>), SealDrop> {
    let mut buf = [0u8; MAX_DATAGRAM];
    seal.open(d, &mut buf).map(|(s, f)| (s.0, f.to_vec()))
}

fn addr(id: u32) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 10 + id as u8], 9000))
}

#[test]
fn a_boards_datagram_is_a_host_datagram_both_ways() {
    let flash = RamFlash::new(8192);
    let (epoch, mut board) = boot(1, &flash);
    let d = sealed(&mut board, b"frame from board 1");
    assert_eq!(
        u64::from_le_bytes(d[5..13].try_into().unwrap()),
        u64::from(epoch) << 32
    );

    // A host node (id 3) opens it with the host's own transport.
    let key = ClusterKey::from_bytes(KEY);
    let peers = (1..=3).map(|id| (id, PeerBinding::Fixed(addr(id))));
    let mut host = Opener::new(&key, 3, peers, 1500);
    let opened = host
        .open(addr(1), &d)
        .expect("a host opens a board's datagram");
    assert_eq!(
        (opened.sender, opened.plaintext),
        (1, &b"frame from board 1"[..])
    );
    assert_eq!(host.open(addr(1), &d).unwrap_err(), DropReason::Replayed);

    // And the board opens what the host seals.
    let mut sealer = Sealer::new(&key, 3, 1_800_000_000, 1500);
    let mut out = Vec::new();
    sealer.seal(b"frame from host node 3", &mut out).unwrap();
    assert_eq!(
        open(&mut board, &out),
        Ok((3, b"frame from host node 3".to_vec()))
    );
    assert_eq!(open(&mut board, &out), Err(SealDrop::Replayed));
}

#[test]
fn forged_replayed_unknown_and_malformed_datagrams_are_refused() {
    let flash = |_| RamFlash::new(8192);
    let (_, mut b1) = boot(1, &flash(1));
    let (_, mut b2) = boot(2, &flash(2));
    let d = sealed(&mut b1, b"hello");
    // A flipped bit in the body, or a counter changed to a fresh one: the tag fails, and the
    // window does not move (the genuine datagram is still taken afterwards).
    let mut bad = d.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(open(&mut b2, &bad), Err(SealDrop::BadTag));
    let mut bad = d.clone();
    bad[5..13].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(open(&mut b2, &bad), Err(SealDrop::BadTag));
    assert_eq!(open(&mut b2, &d), Ok((1, b"hello".to_vec())));
    assert_eq!(open(&mut b2, &d), Err(SealDrop::Replayed));
    // Another key: a bad tag.
    let mut other = BoardSeal::new(&[1; 32], NodeId(1), &VOTERS, 9, [0; 16]).unwrap();
    assert_eq!(
        open(&mut b2, &sealed(&mut other, b"x")),
        Err(SealDrop::BadTag)
    );
    // Its own id (a reflected frame), an id outside the cluster, short and long datagrams.
    assert_eq!(open(&mut b1, &d), Err(SealDrop::UnknownPeer));
    let mut stranger = d.clone();
    stranger[1..5].copy_from_slice(&9u32.to_le_bytes());
    assert_eq!(open(&mut b2, &stranger), Err(SealDrop::UnknownPeer));
    assert_eq!(open(&mut b2, &d[..40]), Err(SealDrop::Malformed));
    assert_eq!(
        open(&mut b2, &[0xA1; MAX_DATAGRAM + 1]),
        Err(SealDrop::Malformed)
    );
    let mut version = d.clone();
    version[0] = 0xA2;
    assert_eq!(open(&mut b2, &version), Err(SealDrop::Malformed));
    // A plaintext longer than a board's (tag and frame) is refused before it takes a counter.
    let next = b1.next_counter();
    let mut buf = [0u8; MAX_DATAGRAM];
    assert_eq!(b1.seal(&mut buf, MAX_PLAIN + 1), Err(SealError::TooLarge));
    assert_eq!(b1.next_counter(), next);
}

#[test]
fn a_rebooted_board_seals_under_a_greater_epoch_and_its_earlier_boot_is_too_old() {
    let flash1 = RamFlash::new(8192);
    let flash2 = RamFlash::new(8192);
    let (e1, mut first) = boot(1, &flash1);
    let (_, mut b2) = boot(2, &flash2);
    let old: Vec<Vec<u8>> = (0..3).map(|i| sealed(&mut first, &[i])).collect();
    assert!(open(&mut b2, &old[0]).is_ok());
    // A power cut, and the board boots again from the same flash: a greater epoch, so its
    // counters start above everything it sent before.
    let (e2, mut second) = boot(1, &flash1);
    assert!(e2 > e1, "epoch {e2} after {e1}");
    let (e3, _) = boot(1, &flash1);
    assert!(e3 > e2, "epoch {e3} after {e2}");
    let new = sealed(&mut second, b"after the reboot");
    assert!(open(&mut b2, &new).is_ok());
    // Every datagram of the earlier boot is now below the window, taken or not.
    for d in &old {
        assert_eq!(open(&mut b2, d), Err(SealDrop::TooOld));
    }
    // The prefix differs per boot (so do the nonces, beyond the counter).
    assert_ne!(
        nonce_prefix(7, NodeId(1), e1),
        nonce_prefix(7, NodeId(1), e2)
    );
    assert_ne!(
        nonce_prefix(7, NodeId(1), e1),
        nonce_prefix(7, NodeId(2), e1)
    );
}
