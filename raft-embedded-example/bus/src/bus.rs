//! The router between the boards' serial lines.
//!
//! One TCP listener per board on 127.0.0.1 (QEMU's `-serial tcp:127.0.0.1:PORT` connects to
//! it); a board that reconnects (its QEMU restarted) replaces its old connection. Everything is
//! non-blocking and driven by [`Bus::poll`], which does a bounded amount of work per call: the
//! caller's loop owns the time.

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use raft_embedded_example::seal::WINDOW_BLOCKS;
use raft_embedded_example::serial::{self, Answer, Deframer, Msg, Pushed, Report};
use raft_seal::frame::{Header, COUNTER_AT, NONCE_AT};
use raft_seal::replay::{ReplayWindow, Stale};

use crate::faults::{Fate, FaultConfig, Faults};
use crate::udp::{UdpSide, UdpStats};

/// Bytes read from one board per poll, at most.
const READ_PER_POLL: usize = 4096;

/// Bytes queued toward one board, at most; beyond it frames are dropped (counted), as a
/// radio's queue would.
const MAX_QUEUED: usize = 64 * 1024;

/// Frames held in the delay line, at most.
const MAX_DELAYED: usize = 4096;

/// What the bus counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusStats {
    /// Raft frames routed (before faults).
    pub routed: u64,
    /// Raft frames the schedule dropped (partitions included).
    pub dropped: u64,
    /// Raft frames the schedule duplicated.
    pub duplicated: u64,
    /// Raft frames to a board not connected, or beyond a full queue.
    pub undeliverable: u64,
    /// Frames from boards that did not check out (framing, CRC) or name no known board.
    pub bad_from_boards: u64,
    /// Hostile frames injected by [`Bus::inject`].
    pub injected: u64,
}

/// What a board must have counted of the sealed datagrams the bus wrote to its line since it
/// connected: the bus runs the board's own replay window ([`ReplayWindow`] with
/// [`WINDOW_BLOCKS`]) over every authentic datagram it writes, in the order it writes them
/// (one TCP stream, so the board's order), and knows which datagrams it forged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SealExpect {
    /// Forged datagrams written (a fresh counter, so they reach the tag check).
    pub bad_tag: u32,
    /// Authentic datagrams whose counter the board had already taken.
    pub replayed: u32,
    /// Authentic datagrams below the board's window for their sender.
    pub too_old: u32,
}

struct Port {
    listener: TcpListener,
    conn: Option<TcpStream>,
    deframer: Deframer,
    out: VecDeque<u8>,
    report: Option<(Instant, Report)>,
    /// Sealed datagrams seen from this board, kept (a few) for replay injection.
    recent: VecDeque<Vec<u8>>,
    /// The board's replay windows as the bus predicts them, per sender.
    model: HashMap<u32, ReplayWindow<WINDOW_BLOCKS>>,
    /// What the board must count of what the bus wrote since it connected.
    expect: SealExpect,
    /// The last authentic datagram written to this board.
    last_in: Option<Vec<u8>>,
}

impl Port {
    /// A new connection (a board's boot): its windows and counters start empty.
    fn reset(&mut self) {
        self.deframer = Deframer::new();
        self.out.clear();
        self.model.clear();
        self.expect = SealExpect::default();
        self.last_in = None;
    }
}

/// The bus.
pub struct Bus {
    ports: Vec<Port>,
    faults: Faults,
    start: Instant,
    /// Sealed datagrams on their way: when, to which board (index), the datagram.
    delayed: Vec<(Instant, usize, Vec<u8>)>,
    answers: VecDeque<(usize, Answer)>,
    stats: BusStats,
    /// The UDP side of a mixed cluster (host nodes), if attached.
    udp: Option<UdpSide>,
    /// A node cut off from every other (steering leadership in the mixed run).
    cut: Option<u32>,
}

impl Bus {
    /// Listens for `boards` boards on ephemeral loopback ports, faults from `seed`.
    pub fn bind(boards: usize, seed: u64, faults: FaultConfig) -> std::io::Result<Bus> {
        let mut ports = Vec::with_capacity(boards);
        for _ in 0..boards {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            listener.set_nonblocking(true)?;
            ports.push(Port {
                listener,
                conn: None,
                deframer: Deframer::new(),
                out: VecDeque::new(),
                report: None,
                recent: VecDeque::new(),
                model: HashMap::new(),
                expect: SealExpect::default(),
                last_in: None,
            });
        }
        Ok(Bus {
            ports,
            faults: Faults::new(seed, faults),
            start: Instant::now(),
            delayed: Vec::new(),
            answers: VecDeque::new(),
            stats: BusStats::default(),
            udp: None,
            cut: None,
        })
    }

    /// Attaches the UDP side of a mixed cluster: frames the boards address to its host nodes
    /// leave from the boards' sockets, and what host nodes send the boards is written to their
    /// lines (both unchanged; the fault schedule applies between boards only).
    pub fn attach_udp(&mut self, udp: UdpSide) {
        self.udp = Some(udp);
    }

    /// The UDP side's counters (zero without one).
    pub fn udp_stats(&self) -> UdpStats {
        self.udp.as_ref().map(UdpSide::stats).unwrap_or_default()
    }

    /// Cuts node `node` off from every other (its raft frames both ways are dropped and
    /// counted in [`BusStats::dropped`]), or heals the cut (`None`). Client traffic (proposals,
    /// answers, reports) still flows.
    pub fn set_cut(&mut self, node: Option<u32>) {
        self.cut = node;
    }

    fn is_cut(&self, a: u32, b: u32) -> bool {
        self.cut.is_some_and(|c| c == a || c == b)
    }

    /// Where board `k` (index `0..boards`, node id `k + 1`) must connect.
    pub fn addr(&self, k: usize) -> std::io::Result<SocketAddr> {
        self.ports[k].listener.local_addr()
    }

    /// Turns the fault schedule on or off.
    pub fn set_faults(&mut self, on: bool) {
        self.faults.set_on(on);
    }

    /// What the bus counted.
    pub fn stats(&self) -> BusStats {
        self.stats
    }

    /// Board `k`'s latest report, and when it came.
    pub fn report(&self, k: usize) -> Option<(Instant, Report)> {
        self.ports[k].report
    }

    /// Forgets board `k`'s reports (after it was killed).
    pub fn forget(&mut self, k: usize) {
        self.ports[k].report = None;
        self.ports[k].conn = None;
        self.ports[k].reset();
    }

    /// What board `k` must have counted of the sealed datagrams written to it since it
    /// connected.
    pub fn expected(&self, k: usize) -> SealExpect {
        self.ports[k].expect
    }

    /// Writes a sealed datagram to board `k` as node `k + 1`'s line carries it, and predicts
    /// what the board makes of it (`authentic`: sealed by a board, else forged). `false` if
    /// it could not be queued.
    fn deliver(&mut self, k: usize, datagram: &[u8], authentic: bool) -> bool {
        let mut wire = [0u8; serial::MAX_WIRE];
        let msg = Msg::Sealed {
            to: k as u32 + 1,
            datagram,
        };
        let Ok(bytes) = serial::encode(&msg, &mut wire) else {
            return false;
        };
        let bytes = bytes.to_vec();
        if !self.queue(k, &bytes) {
            return false;
        }
        let p = &mut self.ports[k];
        let Some(h) = Header::read(datagram) else {
            return true;
        };
        if !authentic {
            p.expect.bad_tag += 1;
            return true;
        }
        let w = p.model.entry(h.sender).or_default();
        match w.check(h.counter) {
            Ok(()) => {
                w.mark(h.counter);
                p.last_in = Some(datagram.to_vec());
            }
            Err(Stale::Replayed) => p.expect.replayed += 1,
            Err(Stale::TooOld) => p.expect.too_old += 1,
        }
        true
    }

    /// Writes the last authentic datagram board `k` was sent once more (a replay); `false`
    /// if there is none yet.
    pub fn replay_last(&mut self, k: usize) -> bool {
        match self.ports[k].last_in.clone() {
            Some(d) => self.deliver(k, &d, true),
            None => false,
        }
    }

    /// Writes `datagram` (sealed by a board earlier) to board `k` as it is.
    pub fn replay(&mut self, k: usize, datagram: &[u8]) -> bool {
        self.deliver(k, datagram, true)
    }

    /// Writes a forgery to board `k`: `template` (a datagram a board sealed) with its counter
    /// changed to `counter` (fresh: above anything sent) and its nonce scrambled by `noise`,
    /// so that only the tag check can refuse it.
    pub fn forge(&mut self, k: usize, template: &[u8], counter: u64, noise: u64) -> bool {
        let mut d = template.to_vec();
        if d.len() < NONCE_AT + 8 {
            return false;
        }
        d[COUNTER_AT..NONCE_AT].copy_from_slice(&counter.to_le_bytes());
        for (b, n) in d[NONCE_AT..NONCE_AT + 8]
            .iter_mut()
            .zip(noise.to_le_bytes())
        {
            *b ^= n;
        }
        self.deliver(k, &d, false)
    }

    /// The next answer to a proposal: from which board, and what.
    pub fn answer(&mut self) -> Option<(usize, Answer)> {
        self.answers.pop_front()
    }

    /// Asks board `k` to propose `value`.
    pub fn propose(&mut self, k: usize, value: u32) {
        self.send(k, &Msg::Propose(value));
    }

    fn send(&mut self, k: usize, msg: &Msg<'_>) {
        let mut wire = [0u8; serial::MAX_WIRE];
        if let Ok(bytes) = serial::encode(msg, &mut wire) {
            let bytes = bytes.to_vec();
            self.queue(k, &bytes);
        }
    }

    fn queue(&mut self, k: usize, bytes: &[u8]) -> bool {
        let p = &mut self.ports[k];
        if p.conn.is_none() || p.out.len() + bytes.len() > MAX_QUEUED {
            return false;
        }
        p.out.extend(bytes);
        true
    }

    /// Writes `bytes` to board `k` as they are, between whole frames (hostile input for the
    /// board's counters); counted in [`BusStats::injected`] once per call.
    pub fn inject(&mut self, k: usize, bytes: &[u8]) {
        if self.queue(k, bytes) {
            self.stats.injected += 1;
        }
    }

    /// A sealed datagram board `k` sent lately, if any (for replays and forgeries).
    pub fn recent_frame(&self, k: usize) -> Option<Vec<u8>> {
        self.ports[k].recent.front().cloned()
    }

    /// The last sealed datagram board `k` sent, if any.
    pub fn latest_frame(&self, k: usize) -> Option<Vec<u8>> {
        self.ports[k].recent.back().cloned()
    }

    /// One bounded pass: accept connections, read and route what boards sent, release due
    /// delayed frames, write queued bytes.
    pub fn poll(&mut self) {
        let now = Instant::now();
        let n = self.ports.len();
        for k in 0..n {
            self.accept(k);
            self.read(k, now);
        }
        for k in 0..n {
            let got = match self.udp.as_mut() {
                Some(u) => u.recv(k),
                None => break,
            };
            for (from, datagram) in got {
                if self.is_cut(from, k as u32 + 1) {
                    self.stats.dropped += 1;
                } else if !self.deliver(k, &datagram, true) {
                    self.stats.undeliverable += 1;
                }
            }
        }
        let mut due = Vec::new();
        self.delayed.retain(|(at, to, frame)| {
            if *at <= now {
                due.push((*to, frame.clone()));
                false
            } else {
                true
            }
        });
        for (to, datagram) in due {
            if !self.deliver(to, &datagram, true) {
                self.stats.undeliverable += 1;
            }
        }
        for k in 0..n {
            self.write(k);
        }
    }

    fn accept(&mut self, k: usize) {
        let p = &mut self.ports[k];
        // At most one new connection per poll; a newer one replaces the old (a reboot).
        if let Ok((s, _)) = p.listener.accept() {
            if s.set_nonblocking(true).is_ok() {
                let _ = s.set_nodelay(true);
                p.conn = Some(s);
                p.reset();
            }
        }
    }

    fn read(&mut self, k: usize, now: Instant) {
        let mut buf = [0u8; READ_PER_POLL];
        let got = match self.ports[k].conn.as_mut().map(|c| c.read(&mut buf)) {
            Some(Ok(0)) => {
                // The board's QEMU is gone.
                self.ports[k].conn = None;
                return;
            }
            Some(Ok(n)) => n,
            Some(Err(e)) if e.kind() == ErrorKind::WouldBlock => return,
            Some(Err(_)) => {
                self.ports[k].conn = None;
                return;
            }
            None => return,
        };
        for &b in &buf[..got] {
            match self.ports[k].deframer.push(b) {
                Pushed::More => {}
                Pushed::Dropped(_) => self.stats.bad_from_boards += 1,
                Pushed::Frame => {
                    let msg = self.ports[k].deframer.message();
                    match msg {
                        Some(Msg::Sealed { to, datagram }) => {
                            let datagram = datagram.to_vec();
                            self.route(k, to, &datagram, now);
                        }
                        Some(Msg::Answer(a)) => self.answers.push_back((k, a)),
                        Some(Msg::Report(r)) => self.ports[k].report = Some((now, r)),
                        Some(Msg::Propose(_)) | None => self.stats.bad_from_boards += 1,
                    }
                }
            }
        }
    }

    fn route(&mut self, from: usize, to: u32, datagram: &[u8], now: Instant) {
        if let Some(u) = self.udp.as_mut() {
            if let Some(addr) = u.host(to) {
                self.stats.routed += 1;
                if self.cut.is_some_and(|c| c == to || c == from as u32 + 1) {
                    self.stats.dropped += 1;
                } else {
                    u.send(from, addr, datagram);
                }
                return;
            }
        }
        if self.is_cut(from as u32 + 1, to) {
            self.stats.routed += 1;
            self.stats.dropped += 1;
            return;
        }
        let n = self.ports.len();
        let to = to as usize;
        if !(1..=n).contains(&to) {
            self.stats.bad_from_boards += 1;
            return;
        }
        let to = to - 1;
        self.stats.routed += 1;
        let recent = &mut self.ports[from].recent;
        if recent.len() == 4 {
            recent.pop_front();
        }
        recent.push_back(datagram.to_vec());
        match self.faults.fate(now - self.start, from, to, n) {
            Fate::Drop => self.stats.dropped += 1,
            Fate::Deliver { delay, again } => {
                for d in std::iter::once(delay).chain(again) {
                    if self.delayed.len() < MAX_DELAYED {
                        self.delayed.push((now + d, to, datagram.to_vec()));
                    } else {
                        self.stats.undeliverable += 1;
                    }
                }
                if again.is_some() {
                    self.stats.duplicated += 1;
                }
            }
        }
    }

    fn write(&mut self, k: usize) {
        let p = &mut self.ports[k];
        let Some(conn) = p.conn.as_mut() else {
            return;
        };
        // Bounded: each pass writes or stops; at most MAX_QUEUED bytes are queued.
        while !p.out.is_empty() {
            let (a, _) = p.out.as_slices();
            match conn.write(a) {
                Ok(0) => break,
                Ok(m) => {
                    p.out.drain(..m);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    p.conn = None;
                    p.out.clear();
                    break;
                }
            }
        }
    }

    /// Polls for `d`, sleeping 1 ms between passes.
    pub fn run_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.poll();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
