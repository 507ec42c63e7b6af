//! The bus's UDP side without QEMU: a board's datagram leaves from the board's own loopback
//! address unchanged, a host node's datagram is taken for the board, and anything from another
//! address is counted and dropped.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use raft_board_bus::udp::{UdpSide, UdpStats};

/// Reads board `k`'s socket until something arrives or a second passes.
fn recv_some(udp: &mut UdpSide, k: usize) -> Vec<(u32, Vec<u8>)> {
    let end = Instant::now() + Duration::from_secs(1);
    loop {
        let got = udp.recv(k);
        if !got.is_empty() || Instant::now() > end {
            return got;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn datagrams_go_both_ways_unchanged_and_strangers_are_dropped() {
    let ips = [Ipv4Addr::new(127, 0, 0, 31), Ipv4Addr::new(127, 0, 0, 32)];
    let mut udp = UdpSide::bind(&ips).expect("bind the boards' sockets");
    let host = UdpSocket::bind("127.0.0.33:0").expect("host socket");
    host.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    udp.add_host(3, host.local_addr().unwrap());
    assert_eq!(udp.host(3), Some(host.local_addr().unwrap()));
    assert_eq!(udp.host(1), None);

    // Board 2's frame for the host leaves from board 2's address, byte for byte.
    udp.send(1, host.local_addr().unwrap(), b"sealed by board 2");
    let mut buf = [0u8; 64];
    let (n, from) = host.recv_from(&mut buf).expect("the board's datagram");
    assert_eq!(&buf[..n], b"sealed by board 2");
    assert_eq!(from, udp.addr(1).unwrap());
    assert_eq!(from.ip(), ips[1]);

    // The host's datagram to board 1's address is taken for board 1, with its sender's id.
    host.send_to(b"sealed by node 3", udp.addr(0).unwrap())
        .unwrap();
    assert_eq!(
        recv_some(&mut udp, 0),
        vec![(3, b"sealed by node 3".to_vec())]
    );

    // Another address: counted, not taken.
    let stranger = UdpSocket::bind("127.0.0.34:0").unwrap();
    stranger
        .send_to(b"not a host node", udp.addr(0).unwrap())
        .unwrap();
    let end = Instant::now() + Duration::from_secs(1);
    while udp.stats().strangers == 0 && Instant::now() < end {
        assert!(udp.recv(0).is_empty());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        udp.stats(),
        UdpStats {
            sent: 1,
            received: 1,
            strangers: 1,
            send_errors: 0
        }
    );
}

#[test]
fn only_loopback_addresses_are_taken() {
    assert!(UdpSide::bind(&[Ipv4Addr::new(10, 0, 0, 1)]).is_err());
}
