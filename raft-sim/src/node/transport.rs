//! The [`Transport`] seam of a simulated node: checks that nothing is acknowledged before it
//! is durable, encodes the frame with the real codec and queues it for the network.

use std::cell::RefCell;
use std::rc::Rc;

use raftcore::codec::EntrySource;
use raftcore::engine::{Outgoing, Transport};
use raftcore::{LogStore, Message};

use super::{Disk, SimError};
use crate::network::Packet;

/// One node's link to the simulated network: frames wait in an outbox that the cluster
/// moves onto its network after each call into the engine, in the order they were sent.
pub struct SimTransport {
    pos: usize,
    nodes: usize,
    max_frame_bytes: u32,
    disk: Rc<RefCell<Disk>>,
    /// Frames sent and not yet on the network.
    pub(crate) outbox: Vec<Packet>,
}

impl SimTransport {
    /// The transport of the node at position `pos` of a cluster of `nodes` (ids are
    /// positions + 1; with `nodes` 0, every frame is checked and encoded, then lost),
    /// checking acknowledgements against its `disk`.
    pub fn new(pos: usize, nodes: usize, max_frame_bytes: u32, disk: Rc<RefCell<Disk>>) -> Self {
        SimTransport {
            pos,
            nodes,
            max_frame_bytes,
            disk,
            outbox: Vec::new(),
        }
    }

    /// A vote grant names the durable vote; an append acknowledgement covers only durable
    /// entries of the log the node holds.
    fn check_durable<L: EntrySource + ?Sized>(
        &self,
        msg: &Outgoing<'_, L>,
    ) -> Result<(), SimError> {
        let me = self.pos + 1;
        let to = msg.to();
        let disk = self.disk.borrow();
        match msg.message() {
            Message::VoteResponse(r) if r.granted => {
                let hs = disk.hard_state;
                if hs.term != r.term || hs.vote != Some(to) {
                    return Err(SimError(format!(
                        "n{me}: vote for {to} in {} sent before it was durable",
                        r.term
                    )));
                }
            }
            Message::AppendResponse(r) if r.success => {
                let d = &disk.durable;
                let ok = r.index <= d.base()
                    || (d.last_index() >= r.index && d.chain(r.index) == disk.log.chain(r.index));
                if !ok || disk.hard_state.term < r.term {
                    return Err(SimError(format!(
                        "n{me}: acknowledged {} before it was durable",
                        r.index
                    )));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl Transport for SimTransport {
    type Error = SimError;

    /// Checks the message, encodes it within `max_frame_bytes` and queues it. A frame to an
    /// id beyond the cluster is lost (an answer to a hostile frame from an unknown sender: a
    /// node outside its configuration takes appends from any leader).
    fn send<L: EntrySource + ?Sized>(&mut self, msg: Outgoing<'_, L>) -> Result<(), SimError> {
        self.check_durable(&msg)?;
        let to = msg.to().0 as usize;
        let mut buf = vec![0u8; self.max_frame_bytes as usize];
        let n = msg.encode(&mut buf).map_err(|e| {
            SimError(format!(
                "n{}: encode {:?}: {e}",
                self.pos + 1,
                msg.message()
            ))
        })?;
        buf.truncate(n);
        if to == 0 || to > self.nodes {
            return Ok(());
        }
        self.outbox.push(Packet {
            from: self.pos,
            to: to - 1,
            frame: buf,
        });
        Ok(())
    }
}
