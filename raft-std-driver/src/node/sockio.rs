//! The node socket's batched I/O: many datagrams per system call (`recvmmsg`, `sendmmsg`),
//! the socket left in one mode, its buffers sized for the configured clients, and the
//! kernel's count of datagrams it dropped for want of buffer space.
//!
//! # One mode
//!
//! The socket stays blocking with one receive timeout, set once ([`recv_granule`]: a quarter
//! tick, within 200 µs..5 ms). [`RecvBatch::recv`] blocks until the first datagram (or the
//! timeout) and takes whatever else is queued in the same call (`MSG_WAITFORONE`); further
//! calls in the same turn do not wait (`MSG_DONTWAIT`). No `ioctl`/`setsockopt` per turn: a
//! tick is at most one granule late, and an idle node wakes about four times a tick.
//!
//! # Buffers and drops
//!
//! [`size_buffers`] asks for [`buffer_bytes`] of receive and send buffer (a privileged process
//! past `net.core.rmem_max`/`wmem_max` with `SO_RCVBUFFORCE`, others up to those limits),
//! and returns what the kernel granted, which the node logs. [`kernel_drops`] reads the
//! socket's count of datagrams dropped because its receive buffer was full (`SO_MEMINFO` on
//! Linux; elsewhere the `drops` column of its line in `/proc/net/udp`, found by the socket's
//! inode), when the counters are read (not per datagram). (`SO_RXQ_OVFL` would carry the
//! count on each datagram, but nix's `recvmmsg` does not restore the control-buffer lengths
//! the kernel shrinks, so the count would stop arriving after the first datagram without
//! one.)

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{
    recvmmsg, sendmmsg, setsockopt, sockopt, MsgFlags, MultiHeaders, SockaddrStorage,
};

/// Datagrams one `recvmmsg` takes at most.
pub(super) const RECV_BATCH: usize = 64;
/// Datagrams queued before a `sendmmsg` goes out (the queue is also flushed before every WAL
/// sync and at the end of each turn).
pub(super) const SEND_BATCH: usize = 64;
/// Receive buffer allowance per configured client: a few requests in flight (each small
/// datagram costs the kernel about 1-2 KiB of buffer, headers and bookkeeping included).
const PER_CLIENT_BYTES: usize = 8 * 1024;
/// The allowance for the other nodes' traffic (appends, acknowledgements, snapshot chunks).
const PEER_BYTES: usize = 1024 * 1024;

/// The socket buffer size (each direction) wanted for `clients` concurrent clients.
pub(crate) fn buffer_bytes(clients: usize) -> usize {
    clients
        .saturating_mul(PER_CLIENT_BYTES)
        .saturating_add(PEER_BYTES)
}

/// The receive timeout the socket keeps: a quarter tick, within 200 µs..5 ms.
pub(super) fn recv_granule(tick: Duration) -> Duration {
    (tick / 4).clamp(Duration::from_micros(200), Duration::from_millis(5))
}

/// The buffer sizes the kernel granted (it reports twice the size asked for, the doubling
/// covering its bookkeeping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Buffers {
    pub(super) recv: usize,
    pub(super) send: usize,
}

/// Puts `sock` in its one mode (blocking, a receive timeout of `granule`) and asks for
/// `bytes` of receive and send buffer; returns the sizes granted.
pub(super) fn prepare(sock: &UdpSocket, granule: Duration, bytes: usize) -> io::Result<Buffers> {
    sock.set_nonblocking(false)?;
    sock.set_read_timeout(Some(granule))?;
    size_buffers(sock, bytes)
}

/// The socket's inode: what names its line in `/proc/net/udp` (`None` without `/proc`).
pub(super) fn socket_inode(sock: &UdpSocket) -> Option<u64> {
    let fd = sock.as_raw_fd();
    std::fs::metadata(format!("/proc/self/fd/{fd}"))
        .ok()
        .map(|m| m.ino())
}

/// Datagrams the kernel dropped on `sock` because its receive buffer was full: on Linux the
/// socket's own counter (`SO_MEMINFO`'s `SK_MEMINFO_DROPS`, one `getsockopt`), else (or on a
/// kernel without it) [`proc_drops`] for `inode`.
///
/// The counter is the one `/proc/net/udp` prints, but that file lists every UDP socket of
/// the network namespace (over a thousand lines with the load generator's 1,024 clients on
/// the machine), and the node read it in its loop once a second. No change in throughput or
/// tails was measured from this (BENCHMARKS.md); it is one system call instead of a scan.
pub(super) fn kernel_drops(sock: &UdpSocket, inode: Option<u64>) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        const VARS: usize = libc::SK_MEMINFO_DROPS as usize + 1;
        let mut info = [0u32; VARS];
        let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
        // SAFETY: `info` is a writable buffer of `len` bytes, which the kernel fills (and
        // shrinks `len` to what it wrote) for this open socket's descriptor.
        let r = unsafe {
            libc::getsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_MEMINFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if r == 0 && len as usize >= std::mem::size_of_val(&info) {
            return Some(u64::from(info[libc::SK_MEMINFO_DROPS as usize]));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = sock;
    inode.and_then(proc_drops)
}

/// Datagrams the kernel dropped on the socket with inode `inode` because its receive buffer
/// was full: the `drops` column of its `/proc/self/net/udp` (or `udp6`) line. `None` when
/// there is no such line (no `/proc`, another system).
pub(super) fn proc_drops(inode: u64) -> Option<u64> {
    for table in ["/proc/self/net/udp", "/proc/self/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            let mut cols = line.split_whitespace();
            if cols.nth(9).and_then(|c| c.parse::<u64>().ok()) == Some(inode) {
                return cols.nth(2).and_then(|c| c.parse().ok());
            }
        }
    }
    None
}

/// Asks for `bytes` of receive and send buffer (forced past the system limits when the process
/// may); returns what the kernel granted.
pub(super) fn size_buffers(sock: &UdpSocket, bytes: usize) -> io::Result<Buffers> {
    // The kernel doubles what it is given; ask for half so the granted size is `bytes`.
    let ask = bytes / 2;
    if setsockopt(sock, sockopt::RcvBufForce, &ask).is_err() {
        setsockopt(sock, sockopt::RcvBuf, &ask).map_err(io::Error::from)?;
    }
    if setsockopt(sock, sockopt::SndBufForce, &ask).is_err() {
        setsockopt(sock, sockopt::SndBuf, &ask).map_err(io::Error::from)?;
    }
    Ok(Buffers {
        recv: nix::sys::socket::getsockopt(sock, sockopt::RcvBuf).map_err(io::Error::from)?,
        send: nix::sys::socket::getsockopt(sock, sockopt::SndBuf).map_err(io::Error::from)?,
    })
}

/// nix's preallocated `mmsghdr`s, movable to the node's thread.
struct Headers(MultiHeaders<SockaddrStorage>);

// SAFETY: `MultiHeaders` is not `Send` only because it holds raw pointers, and those point into
// its own boxed buffers (the addresses and control-message space it allocated), which move
// with it; the iovec pointers are written by each `recvmmsg`/`sendmmsg` call and used only
// within it. Nothing is shared with another thread, and the value is used by one thread at a
// time (`&mut` for every call).
unsafe impl Send for Headers {}

/// Receives datagrams in batches into preallocated buffers (no allocation per call).
pub(super) struct RecvBatch {
    /// `RECV_BATCH` slots of `slot` bytes each.
    bufs: Vec<u8>,
    slot: usize,
    headers: Headers,
    /// What the last call received: the slot, length and source of each datagram.
    got: Vec<(usize, usize, SocketAddr)>,
}

impl RecvBatch {
    /// Batches of datagrams up to `max_datagram` bytes; a longer one arrives cut to
    /// `max_datagram + 1` bytes (so it is still refused as oversized, not as forged).
    pub(super) fn new(max_datagram: usize) -> RecvBatch {
        let slot = max_datagram + 1;
        RecvBatch {
            bufs: vec![0; slot * RECV_BATCH],
            slot,
            headers: Headers(MultiHeaders::preallocate(RECV_BATCH, None)),
            got: Vec::with_capacity(RECV_BATCH),
        }
    }

    /// Receives what is queued, up to a batch: waits for the first datagram up to the socket's
    /// timeout when `wait`, else not at all. Returns how many came (0: none); a socket error
    /// other than a timeout is returned (not fatal: e.g. an ICMP error of an earlier send).
    pub(super) fn recv(&mut self, sock: &UdpSocket, wait: bool) -> io::Result<usize> {
        self.got.clear();
        let flags = if wait {
            MsgFlags::MSG_WAITFORONE
        } else {
            MsgFlags::MSG_DONTWAIT
        };
        let mut chunks = self.bufs.chunks_exact_mut(self.slot);
        let mut iovs: [[IoSliceMut<'_>; 1]; RECV_BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
        let results = match recvmmsg(
            sock.as_raw_fd(),
            &mut self.headers.0,
            iovs.iter_mut(),
            flags,
            None,
        ) {
            Ok(r) => r,
            // A timeout, or a signal: nothing this time (the loop comes back next turn).
            Err(Errno::EAGAIN | Errno::EINTR) => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        for (slot, msg) in results.enumerate() {
            let from = msg.address.as_ref().and_then(to_std);
            // A datagram without a usable source address cannot be answered or checked.
            if let Some(from) = from {
                self.got.push((slot, msg.bytes, from));
            }
        }
        Ok(self.got.len())
    }

    /// The `i`th datagram of the last call and its source.
    pub(super) fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let &(slot, n, from) = self.got.get(i)?;
        let at = slot * self.slot;
        Some((self.bufs.get(at..at + n.min(self.slot))?, from))
    }
}

/// Sealed datagrams waiting to go out in one `sendmmsg`.
pub(super) struct SendQueue {
    /// Reused datagram buffers; the first `len` are queued.
    bufs: Vec<Vec<u8>>,
    addrs: Vec<SocketAddr>,
    len: usize,
    headers: Headers,
}

impl SendQueue {
    /// An empty queue.
    pub(super) fn new() -> SendQueue {
        SendQueue {
            bufs: Vec::new(),
            addrs: Vec::new(),
            len: 0,
            headers: Headers(MultiHeaders::preallocate(SEND_BATCH, None)),
        }
    }

    /// Whether nothing is queued.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a batch is full (time to [`SendQueue::flush`]).
    pub(super) fn is_full(&self) -> bool {
        self.len >= SEND_BATCH
    }

    /// The next free buffer (cleared), to be filled and then [`SendQueue::push`]ed.
    pub(super) fn slot(&mut self) -> &mut Vec<u8> {
        if self.bufs.len() <= self.len {
            self.bufs.push(Vec::new());
            self.addrs.push(SocketAddr::from(([0, 0, 0, 0], 0)));
        }
        let buf = &mut self.bufs[self.len];
        buf.clear();
        buf
    }

    /// Queues the datagram just written into [`SendQueue::slot`] for `to`.
    pub(super) fn push(&mut self, to: SocketAddr) {
        if self.len < self.bufs.len() {
            self.addrs[self.len] = to;
            self.len += 1;
        }
    }

    /// Sends everything queued (as few `sendmmsg` calls as the kernel allows); returns how
    /// many datagrams could not be sent.
    pub(super) fn flush(&mut self, sock: &UdpSocket) -> u64 {
        let mut failed = 0;
        let mut at = 0;
        while at < self.len {
            let end = self.len.min(at + SEND_BATCH);
            let n = end - at;
            let slices: [[IoSlice<'_>; 1]; SEND_BATCH] = std::array::from_fn(|i| {
                [IoSlice::new(
                    self.bufs.get(at + i).filter(|_| i < n).map_or(&[], |b| b),
                )]
            });
            let addrs: [Option<SockaddrStorage>; SEND_BATCH] =
                std::array::from_fn(|i| (i < n).then(|| SockaddrStorage::from(self.addrs[at + i])));
            match sendmmsg(
                sock.as_raw_fd(),
                &mut self.headers.0,
                slices[..n].iter(),
                &addrs[..n],
                [],
                MsgFlags::empty(),
            ) {
                Ok(r) => {
                    let sent = r.count();
                    if sent == 0 {
                        failed += 1;
                        at += 1;
                    } else {
                        at += sent;
                    }
                }
                Err(Errno::EINTR) => {}
                // E.g. ECONNREFUSED left by an ICMP error of an earlier send: the first
                // datagram is given up, like a failed `send_to`.
                Err(_) => {
                    failed += 1;
                    at += 1;
                }
            }
        }
        self.len = 0;
        failed
    }
}

/// The std form of a socket address from the kernel.
fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

#[cfg(test)]
mod test {
    use super::*;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        (a, b)
    }

    #[test]
    fn a_batch_goes_out_in_one_call_and_comes_in_in_one_call() {
        let (a, b) = pair();
        prepare(&b, Duration::from_millis(200), 1 << 20).unwrap();
        let to = b.local_addr().unwrap();
        let mut q = SendQueue::new();
        for i in 0..10u8 {
            q.slot().extend_from_slice(&[i; 5]);
            q.push(to);
        }
        assert!(!q.is_empty());
        assert_eq!(q.flush(&a), 0);
        assert!(q.is_empty());
        let mut r = RecvBatch::new(100);
        let mut got = Vec::new();
        while got.len() < 10 {
            let n = r.recv(&b, true).unwrap();
            assert!(n > 0, "timed out with {got:?}");
            for i in 0..n {
                let (d, from) = r.get(i).unwrap();
                assert_eq!(from, a.local_addr().unwrap());
                got.push(d.to_vec());
            }
        }
        assert_eq!(got, (0..10u8).map(|i| vec![i; 5]).collect::<Vec<_>>());
        // Nothing queued: no wait without `wait`, a timeout with it.
        assert_eq!(r.recv(&b, false).unwrap(), 0);
        assert_eq!(r.recv(&b, true).unwrap(), 0);
        assert_eq!(kernel_drops(&b, socket_inode(&b)), Some(0));
    }

    #[test]
    fn an_oversized_datagram_arrives_cut_one_byte_past_the_limit() {
        let (a, b) = pair();
        prepare(&b, Duration::from_millis(200), 1 << 20).unwrap();
        a.send_to(&[7; 300], b.local_addr().unwrap()).unwrap();
        let mut r = RecvBatch::new(100);
        assert_eq!(r.recv(&b, true).unwrap(), 1);
        assert_eq!(r.get(0).unwrap().0.len(), 101);
        assert!(r.get(1).is_none());
    }

    #[test]
    fn a_full_receive_buffer_is_counted_as_kernel_drops() {
        let (a, b) = pair();
        prepare(&b, Duration::from_millis(200), 1 << 20).unwrap();
        // The smallest buffer the kernel allows, then far more than it holds.
        setsockopt(&b, sockopt::RcvBuf, &0).unwrap();
        let to = b.local_addr().unwrap();
        for _ in 0..2_000 {
            let _ = a.send_to(&[1; 1000], to);
        }
        let inode = socket_inode(&b);
        let dropped = kernel_drops(&b, inode).unwrap();
        assert!(dropped > 0 && dropped < 2_000, "{dropped}");
        // The socket's own counter is the one `/proc/net/udp` prints.
        assert_eq!(inode.and_then(proc_drops), Some(dropped));
        // Receiving does not change the count.
        let mut r = RecvBatch::new(1000);
        assert!(r.recv(&b, true).unwrap() > 0);
        while r.recv(&b, false).unwrap() > 0 {}
        assert_eq!(kernel_drops(&b, inode), Some(dropped));
    }

    #[test]
    fn buffers_are_sized_for_the_clients() {
        let (_, b) = pair();
        let got = size_buffers(&b, buffer_bytes(64)).unwrap();
        // At least what was asked, or the system limit (unprivileged, small rmem_max).
        let limit = |f: &str| -> usize {
            std::fs::read_to_string(f)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        };
        assert!(
            got.recv >= buffer_bytes(64).min(2 * limit("/proc/sys/net/core/rmem_max")),
            "{got:?}"
        );
        assert!(
            got.send >= buffer_bytes(64).min(2 * limit("/proc/sys/net/core/wmem_max")),
            "{got:?}"
        );
        assert_eq!(
            recv_granule(Duration::from_millis(10)),
            Duration::from_micros(2500)
        );
        assert_eq!(
            recv_granule(Duration::from_millis(1)),
            Duration::from_micros(250)
        );
        assert_eq!(
            recv_granule(Duration::from_secs(1)),
            Duration::from_millis(5)
        );
    }
}
