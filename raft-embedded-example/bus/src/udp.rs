//! The bus's UDP side, for a mixed cluster: one UDP socket per board, each on a loopback
//! address of its own (`127.0.0.x`), standing in for the board on the host network.
//!
//! A sealed datagram a board addresses to a host node (a `raft-node` process) leaves from that
//! board's socket to the node's address, unchanged: the node's peer table binds the board's id
//! to that address, as it would bind another host. A datagram arriving on a board's socket
//! from a host node's address is written to that board's serial line, unchanged; from any
//! other address it is counted and dropped (a host node would drop it too). Every socket is
//! non-blocking and each poll reads a bounded number of datagrams.

use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

/// Datagrams read from one board's socket per poll, at most.
const RECV_PER_POLL: usize = 64;

/// The largest datagram read (a host node's are far smaller; a larger one is cut short and
/// then refused by the board's length check).
const MAX_RECV: usize = 2048;

/// What the UDP side counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpStats {
    /// Datagrams sent for the boards to host nodes.
    pub sent: u64,
    /// Datagrams from host nodes taken for the boards.
    pub received: u64,
    /// Datagrams from an address that is no host node's, dropped.
    pub strangers: u64,
    /// Sends that failed (e.g. nothing listening: a host node killed).
    pub send_errors: u64,
}

/// The boards' UDP sockets and the host nodes' addresses.
pub struct UdpSide {
    socks: Vec<UdpSocket>,
    hosts: Vec<(u32, SocketAddr)>,
    stats: UdpStats,
}

impl UdpSide {
    /// One socket per board, board `k` on `ips[k]` (an ephemeral port).
    pub fn bind(ips: &[Ipv4Addr]) -> io::Result<UdpSide> {
        let mut socks = Vec::with_capacity(ips.len());
        for ip in ips {
            if !ip.is_loopback() {
                return Err(io::Error::new(
                    ErrorKind::InvalidInput,
                    format!("{ip} is not a loopback address"),
                ));
            }
            let s = UdpSocket::bind((*ip, 0))?;
            s.set_nonblocking(true)?;
            socks.push(s);
        }
        Ok(UdpSide {
            socks,
            hosts: Vec::new(),
            stats: UdpStats::default(),
        })
    }

    /// Board `k`'s address on the host network (what the host nodes' peer tables name).
    pub fn addr(&self, k: usize) -> io::Result<SocketAddr> {
        self.socks[k].local_addr()
    }

    /// Adds host node `id` at `addr`.
    pub fn add_host(&mut self, id: u32, addr: SocketAddr) {
        self.hosts.push((id, addr));
    }

    /// Host node `id`'s address, if `id` is a host node.
    pub fn host(&self, id: u32) -> Option<SocketAddr> {
        self.hosts.iter().find(|h| h.0 == id).map(|h| h.1)
    }

    /// What was counted.
    pub fn stats(&self) -> UdpStats {
        self.stats
    }

    /// Sends `datagram` from board `k`'s socket to `to`.
    pub fn send(&mut self, k: usize, to: SocketAddr, datagram: &[u8]) {
        match self.socks[k].send_to(datagram, to) {
            Ok(_) => self.stats.sent += 1,
            Err(_) => self.stats.send_errors += 1,
        }
    }

    /// Reads what host nodes sent board `k` (at most [`RECV_PER_POLL`] datagrams): the
    /// sending node's id and the datagram.
    pub fn recv(&mut self, k: usize) -> Vec<(u32, Vec<u8>)> {
        let mut got = Vec::new();
        let mut buf = [0u8; MAX_RECV];
        for _ in 0..RECV_PER_POLL {
            match self.socks[k].recv_from(&mut buf) {
                Ok((n, from)) => match self.hosts.iter().find(|h| h.1 == from) {
                    Some(&(id, _)) => {
                        self.stats.received += 1;
                        got.push((id, buf[..n].to_vec()));
                    }
                    None => self.stats.strangers += 1,
                },
                // WouldBlock: nothing more now. Other errors (e.g. an ICMP port unreachable
                // reported for an earlier send to a killed node) end this pass too.
                Err(_) => break,
            }
        }
        got
    }
}
