//! Transport behaviour, told as packet traces: each refused datagram lands under one reason.

use std::net::SocketAddr;

use super::replay::WINDOW;
use super::*;

const MAX: usize = 1500;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn key(b: u8) -> ClusterKey {
    ClusterKey::from_bytes([b; 32])
}

/// Node 1 receives; nodes 2 and 3 are configured at ports 9002 and 9003, client 100 roams.
fn opener() -> Opener {
    Opener::new(
        &key(1),
        1,
        [
            (1, PeerBinding::Fixed(addr(9001))),
            (2, PeerBinding::Fixed(addr(9002))),
            (3, PeerBinding::Fixed(addr(9003))),
            (100, PeerBinding::Roaming),
        ],
        MAX,
    )
}

fn sealed(s: &mut Sealer, msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    s.seal(msg, &mut out).unwrap();
    out
}

/// Counters with exactly `n` drops for `reason` and `accepted` accepted.
fn only(reason: Option<DropReason>, n: u64, accepted: u64) -> DropCounters {
    let mut c = DropCounters::default();
    c.accepted = accepted;
    if let Some(r) = reason {
        for _ in 0..n {
            c.record(r);
        }
    }
    c
}

#[test]
fn sealed_frame_opens_to_its_plaintext() {
    let mut o = opener();
    let mut s = Sealer::new(&key(1), 2, 7, MAX);
    let d = sealed(&mut s, b"append entries");
    assert_eq!(d.len(), b"append entries".len() + OVERHEAD);
    let got = o.open(addr(9002), &d).unwrap();
    assert_eq!(
        (got.sender, got.counter >> 32, got.plaintext),
        (2, 7, &b"append entries"[..])
    );
    assert_eq!(*o.counters(), only(None, 0, 1));
}

#[test]
fn short_and_unknown_version_are_malformed() {
    let mut o = opener();
    let mut s = Sealer::new(&key(1), 2, 7, MAX);
    let mut d = sealed(&mut s, b"");
    assert_eq!(
        o.open(addr(9002), &d[..OVERHEAD - 1]),
        Err(DropReason::Malformed)
    );
    assert_eq!(o.open(addr(9002), &[]), Err(DropReason::Malformed));
    d[0] = 0xA2;
    assert_eq!(o.open(addr(9002), &d), Err(DropReason::Malformed));
    assert_eq!(*o.counters(), only(Some(DropReason::Malformed), 3, 0));
}

#[test]
fn oversized_datagram_is_counted_and_sealing_refuses_it() {
    let mut o = opener();
    assert_eq!(
        o.open(addr(9002), &vec![0xA1; MAX + 1]),
        Err(DropReason::Oversized)
    );
    assert_eq!(*o.counters(), only(Some(DropReason::Oversized), 1, 0));
    let mut s = Sealer::new(&key(1), 2, 7, MAX);
    let mut out = Vec::new();
    assert_eq!(
        s.seal(&vec![0; MAX - OVERHEAD + 1], &mut out),
        Err(SealError::TooLarge {
            len: MAX - OVERHEAD + 1,
            max: MAX - OVERHEAD
        })
    );
    s.seal(&vec![0; MAX - OVERHEAD], &mut out).unwrap();
    assert_eq!(out.len(), MAX);
}

#[test]
fn frame_sealed_with_a_wrong_key_is_a_bad_tag_and_moves_nothing() {
    let mut o = opener();
    let mut wrong = Sealer::new(&key(2), 2, 7, MAX);
    let mut right = Sealer::new(&key(1), 2, 7, MAX);
    let forged = sealed(&mut wrong, b"vote for me");
    assert_eq!(o.open(addr(9002), &forged), Err(DropReason::BadTag));
    // The forged counter was not recorded: the genuine frame with the same counter opens.
    assert!(o.open(addr(9002), &sealed(&mut right, b"hello")).is_ok());
    assert_eq!(*o.counters(), only(Some(DropReason::BadTag), 1, 1));
}

#[test]
fn tampered_header_or_ciphertext_is_a_bad_tag() {
    let mut o = opener();
    let mut s = Sealer::new(&key(1), 2, 7, MAX);
    let d = sealed(&mut s, b"payload");
    // Counter (authenticated as associated data), nonce, ciphertext and tag bytes.
    for i in [6, 20, HEADER_LEN + 1, d.len() - 1] {
        let mut t = d.clone();
        t[i] ^= 0x80;
        assert_eq!(o.open(addr(9002), &t), Err(DropReason::BadTag), "byte {i}");
    }
    assert_eq!(*o.counters(), only(Some(DropReason::BadTag), 4, 0));
}

#[test]
fn a_replayed_frame_is_dropped() {
    let mut o = opener();
    let mut s = Sealer::new(&key(1), 2, 7, MAX);
    let a = sealed(&mut s, b"a");
    let b = sealed(&mut s, b"b");
    assert!(o.open(addr(9002), &b).is_ok());
    assert!(o.open(addr(9002), &a).is_ok()); // reordered, still fresh
    assert_eq!(o.open(addr(9002), &a), Err(DropReason::Replayed));
    assert_eq!(o.open(addr(9002), &b), Err(DropReason::Replayed));
    assert_eq!(*o.counters(), only(Some(DropReason::Replayed), 2, 2));
}

#[test]
fn a_frame_older_than_the_window_is_too_old() {
    let mut o = opener();
    let mut s = Sealer::new(&key(1), 2, 7, MAX);
    let old = sealed(&mut s, b"old");
    let mut last = Vec::new();
    for _ in 0..=WINDOW {
        last = sealed(&mut s, b"x");
    }
    assert!(o.open(addr(9002), &last).is_ok());
    assert_eq!(o.open(addr(9002), &old), Err(DropReason::TooOld));
    assert_eq!(*o.counters(), only(Some(DropReason::TooOld), 1, 1));
}

#[test]
fn a_restarted_sender_is_heard_and_its_previous_boot_is_too_old() {
    let mut o = opener();
    let mut boot1 = Sealer::new(&key(1), 2, 100, MAX);
    let recorded = sealed(&mut boot1, b"boot 1");
    let _ = sealed(&mut boot1, b"boot 1, unseen");
    assert!(o.open(addr(9002), &recorded).is_ok());
    let mut boot2 = Sealer::new(&key(1), 2, 101, MAX);
    assert!(o.open(addr(9002), &sealed(&mut boot2, b"boot 2")).is_ok());
    let stale = sealed(&mut boot1, b"late boot 1");
    assert_eq!(o.open(addr(9002), &stale), Err(DropReason::TooOld));
}

#[test]
fn unknown_sender_and_own_id_are_unknown_peers() {
    let mut o = opener();
    let mut stranger = Sealer::new(&key(1), 4, 7, MAX);
    let mut me = Sealer::new(&key(1), 1, 7, MAX);
    assert_eq!(
        o.open(addr(9004), &sealed(&mut stranger, b"hi")),
        Err(DropReason::UnknownPeer)
    );
    assert_eq!(
        o.open(addr(9001), &sealed(&mut me, b"echo")),
        Err(DropReason::UnknownPeer)
    );
    assert_eq!(*o.counters(), only(Some(DropReason::UnknownPeer), 2, 0));
}

#[test]
fn a_new_allow_list_drops_removed_senders_admits_new_ones_and_keeps_replay_windows() {
    let mut o = opener();
    let mut two = Sealer::new(&key(1), 2, 7, MAX);
    let mut three = Sealer::new(&key(1), 3, 7, MAX);
    let mut four = Sealer::new(&key(1), 4, 7, MAX);
    let old = sealed(&mut two, b"before");
    assert!(o.open(addr(9002), &old).is_ok());
    // Node 3 removed, node 4 added, node 2 moved to another port; our own id ignored.
    o.set_peers(
        1,
        [
            (1, PeerBinding::Fixed(addr(9001))),
            (2, PeerBinding::Fixed(addr(9102))),
            (4, PeerBinding::Fixed(addr(9004))),
        ],
    );
    assert_eq!(o.peer_ids(), vec![2, 4]);
    assert_eq!(
        o.open(addr(9003), &sealed(&mut three, b"vote for me")),
        Err(DropReason::Removed)
    );
    assert!(o.open(addr(9004), &sealed(&mut four, b"hello")).is_ok());
    // Node 2's window survived: its earlier datagram cannot be replayed from the new address.
    assert_eq!(o.open(addr(9102), &old), Err(DropReason::Replayed));
    assert_eq!(
        o.open(addr(9002), &sealed(&mut two, b"old port")),
        Err(DropReason::AddressMismatch)
    );
    assert!(o.open(addr(9102), &sealed(&mut two, b"new port")).is_ok());
    // Node 3 listed again: what it sent before it was dropped is still a replay.
    let mut o = opener();
    let before = sealed(&mut three, b"append");
    assert!(o.open(addr(9003), &before).is_ok());
    o.set_peers(1, [(2, PeerBinding::Fixed(addr(9002)))]);
    o.set_peers(1, [(3, PeerBinding::Fixed(addr(9003)))]);
    assert_eq!(o.open(addr(9003), &before), Err(DropReason::Replayed));
}

#[test]
fn a_removed_node_is_authenticated_before_it_is_refused_as_removed() {
    let mut o = opener();
    let mut three = Sealer::new(&key(1), 3, 7, MAX);
    assert!(o.open(addr(9003), &sealed(&mut three, b"append")).is_ok());
    o.set_peers(1, [(2, PeerBinding::Fixed(addr(9002)))]);
    // Authentic and fresh, from any address (it may have moved): refused as removed, and the
    // sender is the one sealed in the header.
    let vote = sealed(&mut three, b"pre-vote");
    assert_eq!(o.open(addr(9003), &vote), Err(DropReason::Removed));
    assert_eq!(sender_of(&vote), Some(3));
    let moved = sealed(&mut three, b"pre-vote");
    assert_eq!(o.open(addr(7777), &moved), Err(DropReason::Removed));
    // Its replay is a replay; a forgery in its name (wrong key, or a flipped byte) is a bad
    // tag: neither may make the node send a removal notice.
    assert_eq!(o.open(addr(9003), &vote), Err(DropReason::Replayed));
    let mut forger = Sealer::new(&key(9), 3, 8, MAX);
    let forged = sealed(&mut forger, b"pre-vote");
    assert_eq!(o.open(addr(9003), &forged), Err(DropReason::BadTag));
    let mut flipped = sealed(&mut three, b"pre-vote");
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(o.open(addr(9003), &flipped), Err(DropReason::BadTag));
    // A node never listed is still an unknown peer, authenticated or not.
    let mut five = Sealer::new(&key(1), 5, 7, MAX);
    assert_eq!(
        o.open(addr(9005), &sealed(&mut five, b"hello")),
        Err(DropReason::UnknownPeer)
    );
    let mut want = only(Some(DropReason::Removed), 2, 1);
    want.record(DropReason::Replayed);
    want.record(DropReason::BadTag);
    want.record(DropReason::BadTag);
    want.record(DropReason::UnknownPeer);
    assert_eq!(*o.counters(), want);
}

#[test]
fn a_known_sender_from_another_address_is_a_mismatch() {
    let mut o = opener();
    let mut s = Sealer::new(&key(1), 2, 7, MAX);
    let d = sealed(&mut s, b"hi");
    assert_eq!(o.open(addr(9003), &d), Err(DropReason::AddressMismatch));
    assert_eq!(o.open(addr(5555), &d), Err(DropReason::AddressMismatch));
    // It did not consume the counter: from the right address it opens.
    assert!(o.open(addr(9002), &d).is_ok());
    assert_eq!(*o.counters(), only(Some(DropReason::AddressMismatch), 2, 1));
}

#[test]
fn a_roaming_client_may_send_from_any_address_but_not_replay() {
    let mut o = opener();
    let mut c = Sealer::new(&key(1), 100, 7, MAX);
    let d = sealed(&mut c, b"put");
    assert!(o.open(addr(40000), &d).is_ok());
    assert_eq!(o.open(addr(40001), &d), Err(DropReason::Replayed));
}

#[test]
fn counters_display_every_reason() {
    let mut c = DropCounters::default();
    c.record(DropReason::BadTag);
    c.accepted = 3;
    assert_eq!(
        c.to_string(),
        "accepted=3 malformed=0 oversized=0 bad_tag=1 replayed=0 too_old=0 unknown_peer=0 \
         address_mismatch=0 removed_peer=0"
    );
    assert_eq!(c.dropped(), 1);
}

/// xorshift64*: deterministic test bytes, seed printed on failure by the asserts.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_bytes_and_truncations_never_panic_and_are_all_counted() {
    let seed = 0x5eed_1234_abcd_0001;
    let mut rng = Rng(seed);
    let mut o = opener();
    let mut s = Sealer::new(&key(1), 2, 7, MAX);
    let genuine = sealed(&mut s, b"the one genuine frame");
    let mut buf = Vec::new();
    let n = 100_000u64;
    for i in 0..n {
        buf.clear();
        match i % 4 {
            // Pure noise, sometimes starting with the right version byte and a known sender.
            0 | 1 => {
                let len = (rng.next() % (MAX as u64 + 64)) as usize;
                buf.extend((0..len).map(|_| rng.next() as u8));
                if i % 4 == 1 && buf.len() >= 5 {
                    buf[0] = MAGIC_VERSION;
                    buf[1..5].copy_from_slice(&2u32.to_le_bytes());
                }
            }
            // Truncations of a genuine frame.
            2 => buf.extend_from_slice(&genuine[..(rng.next() as usize % genuine.len())]),
            // A genuine frame with one random byte flipped.
            _ => {
                buf.extend_from_slice(&genuine);
                let at = rng.next() as usize % buf.len();
                buf[at] ^= (rng.next() as u8) | 1;
            }
        }
        let from = if rng.next().is_multiple_of(8) {
            addr(9003)
        } else {
            addr(9002)
        };
        assert!(
            o.open(from, &buf).is_err(),
            "seed {seed:#x}, input {i} was accepted"
        );
    }
    let c = o.counters().clone();
    assert_eq!(c.dropped(), n, "seed {seed:#x}: {c}");
    assert_eq!(c.accepted, 0);
    for r in [
        DropReason::Malformed,
        DropReason::Oversized,
        DropReason::BadTag,
    ] {
        assert!(c.get(r) > 0, "seed {seed:#x}: no {r} in {c}");
    }
    // None of it moved the replay window: the genuine frame still opens, once.
    assert!(o.open(addr(9002), &genuine).is_ok(), "seed {seed:#x}");
    assert_eq!(o.open(addr(9002), &genuine), Err(DropReason::Replayed));
}

/// The nonce of a sealed datagram (header bytes 13..37).
fn nonce_of(d: &[u8]) -> &[u8] {
    &d[13..HEADER_LEN]
}

#[test]
fn nonces_are_a_random_prefix_per_sealer_then_the_counter() {
    let mut a = Sealer::new(&key(1), 2, 7, MAX);
    let mut b = Sealer::new(&key(1), 2, 7, MAX);
    let (a1, a2, b1) = (
        sealed(&mut a, b"x"),
        sealed(&mut a, b"x"),
        sealed(&mut b, b"x"),
    );
    // One sealer: the same prefix, the counter after it, so every nonce differs.
    assert_eq!(nonce_of(&a1)[..16], nonce_of(&a2)[..16]);
    assert_eq!(nonce_of(&a1)[16..], (7u64 << 32).to_le_bytes());
    assert_eq!(nonce_of(&a2)[16..], ((7u64 << 32) + 1).to_le_bytes());
    // Two sealers with the same id and epoch (a restart within one second, say) still
    // differ: their prefixes are drawn independently.
    assert_ne!(nonce_of(&a1)[..16], nonce_of(&b1)[..16]);
    assert_ne!(a1, b1);
    // Both open, and the receiver needs nothing new.
    let mut o = opener();
    assert!(o.open(addr(9002), &a1).is_ok());
    assert!(o.open(addr(9002), &a2).is_ok());
}
