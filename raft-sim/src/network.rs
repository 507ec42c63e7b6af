//! The simulated network: frames in flight that can be delivered in any order, dropped,
//! duplicated, or cut by (asymmetric) partitions.

/// A frame in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Sender position.
    pub from: usize,
    /// Receiver position.
    pub to: usize,
    /// The encoded frame.
    pub frame: Vec<u8>,
}

/// Frames in flight and the current partition.
#[derive(Clone, Debug, Default)]
pub struct Network {
    /// In flight, oldest first.
    pub packets: Vec<Packet>,
    /// Bit `from * 8 + to` set: frames from `from` to `to` are lost.
    pub cut: u64,
    /// Frames dropped (by loss, partitions or overflow).
    pub dropped: u64,
    /// Frames delivered.
    pub delivered: u64,
}

/// The network holds at most this many frames; beyond it the oldest is lost.
pub const MAX_IN_FLIGHT: usize = 4096;

impl Network {
    /// Queues a frame.
    pub fn send(&mut self, p: Packet) {
        if self.packets.len() >= MAX_IN_FLIGHT {
            self.packets.remove(0);
            self.dropped += 1;
        }
        self.packets.push(p);
    }

    /// Whether the directed link is cut.
    pub fn is_cut(&self, from: usize, to: usize) -> bool {
        from < 8 && to < 8 && self.cut & (1 << (from * 8 + to)) != 0
    }

    /// Removes frame `i` (modulo the count) for delivery; `None` if nothing is in flight or
    /// the link is cut (then the frame is lost).
    pub fn take(&mut self, i: usize) -> Option<Packet> {
        if self.packets.is_empty() {
            return None;
        }
        let p = self.packets.remove(i % self.packets.len());
        if self.is_cut(p.from, p.to) {
            self.dropped += 1;
            return None;
        }
        self.delivered += 1;
        Some(p)
    }

    /// Loses frame `i` (modulo the count).
    pub fn drop_one(&mut self, i: usize) {
        if !self.packets.is_empty() {
            let n = self.packets.len();
            self.packets.remove(i % n);
            self.dropped += 1;
        }
    }

    /// Delivers frame `i` (modulo the count) twice: queues a copy.
    pub fn duplicate(&mut self, i: usize) {
        if !self.packets.is_empty() {
            let p = self.packets[i % self.packets.len()].clone();
            self.send(p);
        }
    }
}
