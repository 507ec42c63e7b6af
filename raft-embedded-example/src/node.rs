//! A node task: one raft-core `State` driven by its inbox, its own tick timer and client
//! requests, performing each step's outputs in order exactly as raft-core's output contract
//! says (`Durability::Inline`: every `Persist` is written to the node's disk before the next
//! output is performed).

use embassy_futures::select::{select3, Either3};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_time::{Duration, Instant, Ticker, Timer};
use raft_core::codec::{self, EntrySource};
use raft_core::{
    persist_entries, EntryCount, EntryKind, Input, LogIndex, LogStore, Message, NodeId, Output,
    Outputs, Proposal, Restored,
};

use crate::board::{AppliedEntry, NodeError};
use crate::cluster::{self, Disk, Node, NodeMemory, Shared, CLUSTER_ID, OUTPUTS, VOTERS};
use crate::link::{self, Frame, FRAME_BYTES};

/// The logical clock: every node steps `Input::Tick` this often, on its own timer. With the
/// example's 10-tick election timeout a leader is elected within 100-200 ms.
pub const TICK: Duration = Duration::from_millis(10);

/// What the client asks of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Request {
    /// Propose a value (its 4 little-endian bytes are the entry's payload).
    Propose(u32),
    /// Cut the power for this many milliseconds; the node then reboots from its disk.
    PowerCycle {
        /// How long the node stays off.
        off_ms: u32,
    },
}

/// A node's answer to a proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Answer {
    /// The node that answered.
    pub node: usize,
    /// The value proposed.
    pub value: u32,
    /// What the core said.
    pub proposal: Proposal,
}

/// Client requests to one node.
pub type RequestQueue = Channel<CriticalSectionRawMutex, Request, 2>;

/// Answers from all nodes to the client.
pub type AnswerQueue = Channel<CriticalSectionRawMutex, Answer, 4>;

/// Node `k`'s task body: runs forever (or parks after reporting an error on the board).
pub async fn run(k: usize, mem: &mut NodeMemory, shared: &Shared, seed: u64) -> ! {
    if let Err(error) = serve(k, mem, shared, seed).await {
        info!("node {}: stopped on {}", cluster::id(k), error);
        shared.board.fail(k, error);
    }
    core::future::pending().await
}

async fn serve(
    k: usize,
    mem: &mut NodeMemory,
    shared: &Shared,
    seed: u64,
) -> Result<(), NodeError> {
    let mut out = Outputs::<OUTPUTS>::new();
    let mut ticker = Ticker::every(TICK);
    shared.board.publish(k, &mem.state);
    loop {
        let event = select3(
            shared.inboxes[k].receive(),
            ticker.next(),
            shared.requests[k].receive(),
        )
        .await;
        match event {
            Either3::First(frame) => step(k, mem, shared, Input::Frame(&frame), &mut out)?,
            Either3::Second(()) => step(k, mem, shared, Input::Tick, &mut out)?,
            Either3::Third(Request::Propose(value)) => {
                let data = value.to_le_bytes();
                step(k, mem, shared, Input::Propose { data: &data }, &mut out)?;
                let proposal = out.iter().find_map(|o| match o {
                    Output::Proposal(p) => Some(*p),
                    _ => None,
                });
                if let Some(proposal) = proposal {
                    debug!("node {}: value {} -> {}", cluster::id(k), value, proposal);
                    // A client that stopped listening loses the answer, like a lost reply.
                    let _ = shared.answers.try_send(Answer {
                        node: k,
                        value,
                        proposal,
                    });
                }
            }
            Either3::Third(Request::PowerCycle { off_ms }) => {
                power_cycle(k, mem, shared, seed, Duration::from_millis(off_ms.into())).await?;
                ticker = Ticker::every(TICK);
            }
        }
    }
}

/// One step and its outputs, performed in order.
fn step(
    k: usize,
    mem: &mut NodeMemory,
    shared: &Shared,
    input: Input<'_>,
    out: &mut Outputs<OUTPUTS>,
) -> Result<(), NodeError> {
    mem.state.step(input, out).map_err(NodeError::Step)?;
    let disk = &mut mem.disk;
    for output in out.iter() {
        match *output {
            Output::Persist(p) => {
                // Log first, then the hard state; both are "durable" once written (RAM disk).
                persist_entries(&mut disk.log, &p, &input).map_err(NodeError::Store)?;
                if let Some(hs) = p.hard_state {
                    disk.hard_state = hs;
                }
                // Optional in the contract; kept so a rebooted node knows at once what is
                // committed and re-applies it without waiting for the leader.
                disk.commit = disk.commit.max(p.commit);
            }
            Output::Send { to, ref msg } => send(k, to, msg, disk, shared)?,
            Output::Apply { first, last } => apply(k, first, last, disk, shared)?,
            Output::RoleChanged { role, term, leader } => {
                // raft-core logs role changes itself (at info with its `defmt` feature).
                debug!(
                    "node {}: {} in {}, leader {}",
                    cluster::id(k),
                    role,
                    term,
                    leader
                );
            }
            Output::Compact { upto } => {
                // Not reached in this example (the state machine is never captured), but a
                // compacting driver keeps the base for its restart.
                if let Some(e) = disk.log.entry(upto) {
                    disk.base = (upto, e.term);
                }
                disk.log.compact_to(upto);
            }
            // `Proposal` is answered by the caller; `CaptureWanted` is ignored: nothing is
            // compacted, and the window is sized for the whole run.
            _ => {}
        }
    }
    shared.board.publish(k, &mem.state);
    Ok(())
}

/// Encodes `msg` with raft-core's codec (entries read from the disk) and sends the frame.
fn send(
    k: usize,
    to: NodeId,
    msg: &Message<EntryCount>,
    disk: &Disk,
    shared: &Shared,
) -> Result<(), NodeError> {
    // The core only addresses the voters it was configured with.
    let Some(dest) = cluster::index(to) else {
        return Ok(());
    };
    let header = codec::Header {
        cluster_id: CLUSTER_ID,
        from: cluster::id(k),
        to,
    };
    let mut buf = [0u8; FRAME_BYTES];
    let n = codec::encode(&header, msg, &disk.log, &mut buf).map_err(NodeError::Codec)?;
    // `n <= FRAME_BYTES`: `encode` wrote it into `buf`.
    if let Ok(frame) = Frame::from_slice(&buf[..n]) {
        link::send(&shared.uplink, &shared.link_stats, dest, frame);
    }
    Ok(())
}

/// Applies the committed entries `first..=last`, read from the disk, to the state machine.
fn apply(
    k: usize,
    first: LogIndex,
    last: LogIndex,
    disk: &Disk,
    shared: &Shared,
) -> Result<(), NodeError> {
    let mut i = first;
    while i <= last {
        let e = disk.log.entry(i).ok_or(NodeError::MissingEntry(i))?;
        let value = match e.kind {
            EntryKind::Normal => <[u8; 4]>::try_from(e.data).ok().map(u32::from_le_bytes),
            // The example never changes its membership; neither kind carries a value.
            EntryKind::Empty | EntryKind::Membership => None,
        };
        shared.board.apply(
            k,
            AppliedEntry {
                term: u32::try_from(e.term.0).unwrap_or(u32::MAX),
                value,
            },
        )?;
        i = i.next();
    }
    Ok(())
}

/// Power off for `off`, then rebuild the state from the disk alone.
async fn power_cycle(
    k: usize,
    mem: &mut NodeMemory,
    shared: &Shared,
    seed: u64,
    off: Duration,
) -> Result<(), NodeError> {
    info!(
        "node {}: power off for {} ms",
        cluster::id(k),
        off.as_millis()
    );
    shared.board.power_off(k);
    // Off: whatever reaches the node is lost.
    let back = Instant::now() + off;
    loop {
        match select3(
            shared.inboxes[k].receive(),
            Timer::at(back),
            shared.requests[k].receive(),
        )
        .await
        {
            Either3::First(_) => shared.lost_while_off.bump(),
            Either3::Second(()) => break,
            Either3::Third(_) => {}
        }
    }
    reboot(k, mem, seed)?;
    info!(
        "node {}: power on in {} with {} entries on disk",
        cluster::id(k),
        mem.state.term(),
        mem.disk.log.last_index()
    );
    shared.board.power_on(k, &mem.state);
    Ok(())
}

/// Power on: the old `State` is overwritten; the new one knows only the disk. The state machine
/// was volatile too, so it starts from the log's base again (every committed entry is applied
/// anew).
///
/// Not inlined: the `State`-sized temporaries of `State::restore` then live in this frame, which
/// exists only during a reboot, instead of in the node task's poll frame, which every poll of
/// every node pays for (measured on thumbv7em: an 8 KiB poll frame when inlined).
#[inline(never)]
fn reboot(k: usize, mem: &mut NodeMemory, seed: u64) -> Result<(), NodeError> {
    let restored = Restored {
        hard_state: mem.disk.hard_state,
        commit: mem.disk.commit,
        base: mem.disk.base,
        applied: mem.disk.base.0,
        // No snapshots here: the membership is the initial voters (and the log's changes).
        members: None,
    };
    match Node::restore(cluster::config(k, seed), &VOTERS, restored, &mem.disk.log) {
        Ok(state) => {
            mem.state = state;
            Ok(())
        }
        Err(e) => Err(NodeError::Restore(e)),
    }
}
