//! The micro benchmarks of BENCH.md (workload 3) on raft-core, one `#[inline(never)]` loop
//! function per case and transport (callgrind toggles collection on its name).
//!
//! Each operation is the receiver's work. Frames: decode the frame the sender encoded once
//! before the loop, step it through the receiver's engine (which encodes any answer into its
//! outbox), drop the answer. In-process: attach the (empty) body to the descriptor, step it
//! through the engine (which queues any answer's descriptor), drop the answer.

use std::hint::black_box;

use raftcore::codec::{self, Header};
use raftcore::{AppendResponse, EntryCount, Input, Message, NodeId, Proposal};

use super::net::Transport;
use super::{Buffers, Cluster, CLUSTER};
use crate::Micro;

/// The micro-benchmark cluster: timeouts that never fire, node 1 elected, 10 entries committed
/// and applied everywhere, the network empty.
pub fn micro_cluster(bufs: &mut Buffers, transport: Transport) -> Cluster<'_> {
    let mut c = Cluster::new(bufs, super::micro_config, transport);
    c.record_templates = true;
    c.elect_node1();
    for seq in 0..10 {
        c.propose(seq);
        assert!(matches!(c.last_proposal(), Some(Proposal::Accepted { .. })));
    }
    c.drive();
    // One heartbeat round, untimed: these timeouts never bring the leader's next heartbeat, so
    // queue exactly what its next heartbeat tick would send each follower (anchored at its
    // match index, the leader's last index) and drive. A follower whose acknowledgement
    // reached the leader only after the commit learns the last commit from it, and the
    // messages of the micro benchmarks are modelled on this steady-state exchange (node 2's
    // answer to this heartbeat is the append response template).
    for k in 1..3 {
        let hb = c.leader_heartbeat();
        c.inject(0, k, &hb);
    }
    c.drive();
    assert_eq!(c.applied(), [10; 3], "10 entries applied everywhere");
    assert!(c.net.is_empty());
    let last = c.nodes[0].state().last_index();
    for n in &c.nodes {
        assert_eq!(n.state().commit(), last);
        assert_eq!(n.state().applied(), last);
    }
    c
}

/// Steps `input` into node index `k` through its engine and drops whatever it sends.
#[inline(always)]
fn step_and_drop(c: &mut Cluster<'_>, k: usize, input: Input<'_>) {
    let node = &mut c.nodes[k];
    node.step(input, &mut c.heard).expect("step");
    debug_assert!(c.heard.capture.is_none());
    node.transport_mut().clear(); // the answer is dropped
}

/// Delivers the frame in `rx` to node index `k` (decode, step, perform), answer dropped.
#[inline(always)]
fn deliver_frame_and_drop(c: &mut Cluster<'_>, k: usize, rx: &[u8]) {
    let (hdr, msg) = codec::decode(rx).expect("decode");
    let input = Input::Message {
        from: hdr.from,
        msg,
    };
    step_and_drop(c, k, input);
}

/// Delivers `msg` from `from` in-process (attach its empty body, step, perform), answer dropped.
#[inline(always)]
fn deliver_local_and_drop(c: &mut Cluster<'_>, k: usize, from: NodeId, msg: &Message<EntryCount>) {
    let msg = codec::attach_body(msg, &[]).expect("attach body");
    step_and_drop(c, k, Input::Message { from, msg });
}

/// `msg` from `from` to `to` encoded into `buf`; the frame's length.
fn frame(
    from: usize,
    to: usize,
    msg: &Message<EntryCount>,
    c: &Cluster<'_>,
    buf: &mut [u8],
) -> usize {
    let hdr = Header {
        cluster_id: 0,
        from: CLUSTER[from],
        to: CLUSTER[to],
    };
    codec::encode(&hdr, msg, c.nodes[from].storage(), buf).expect("encode")
}

/// The append response node 2 sends for the leader's last index (already acknowledged).
fn append_response(c: &Cluster<'_>) -> Message<EntryCount> {
    let leader = c.nodes[0].state();
    let last = c.last_2_to_1.expect("node 2 has answered node 1");
    Message::AppendResponse(AppendResponse {
        term: leader.term(),
        success: true,
        index: leader.last_index(),
        ..last
    })
}

/// Follower heartbeat over frames: the leader's heartbeat at its current term and commit index
/// (an AppendEntries with no entries anchored at node 2's match index, the leader's last
/// index), encoded once; each operation is node 2's work.
#[inline(never)]
pub fn raftcore_loop_follower_heartbeat(c: &mut Cluster<'_>, ops: u64) {
    let hb = c.leader_heartbeat();
    let mut rx = [0u8; 256];
    let n = frame(0, 1, &hb, c, &mut rx);
    for _ in 0..ops {
        deliver_frame_and_drop(c, 1, black_box(&rx[..n]));
    }
}

/// Follower heartbeat in-process: the same heartbeat, its descriptor handed over.
#[inline(never)]
pub fn raftcore_inproc_loop_follower_heartbeat(c: &mut Cluster<'_>, ops: u64) {
    let hb = c.leader_heartbeat();
    for _ in 0..ops {
        deliver_local_and_drop(c, 1, CLUSTER[0], black_box(&hb));
    }
}

/// Leader tick: one tick on node 1; nothing comes due (no outputs). No message travels, so
/// both transports run this one.
#[inline(never)]
pub fn raftcore_loop_leader_tick(c: &mut Cluster<'_>, ops: u64) {
    for _ in 0..ops {
        c.nodes[0]
            .step(black_box(Input::Tick), &mut c.heard)
            .expect("tick");
    }
}

/// Leader append response over frames: node 2's successful response for the leader's last
/// index (already acknowledged), encoded once; each operation is node 1's work.
#[inline(never)]
pub fn raftcore_loop_leader_append_response(c: &mut Cluster<'_>, ops: u64) {
    let resp = append_response(c);
    let mut rx = [0u8; 256];
    let n = frame(1, 0, &resp, c, &mut rx);
    for _ in 0..ops {
        deliver_frame_and_drop(c, 0, black_box(&rx[..n]));
    }
}

/// Leader append response in-process: the same response, its descriptor handed over.
#[inline(never)]
pub fn raftcore_inproc_loop_leader_append_response(c: &mut Cluster<'_>, ops: u64) {
    let resp = append_response(c);
    for _ in 0..ops {
        deliver_local_and_drop(c, 0, CLUSTER[1], black_box(&resp));
    }
}

/// Runs the loop function of `case` for the cluster's transport.
pub(super) fn run_loop(case: Micro, c: &mut Cluster<'_>, ops: u64) {
    match (case, c.net.transport) {
        (Micro::FollowerHeartbeat, Transport::Frames) => raftcore_loop_follower_heartbeat(c, ops),
        (Micro::FollowerHeartbeat, Transport::InProcess) => {
            raftcore_inproc_loop_follower_heartbeat(c, ops)
        }
        (Micro::LeaderTick, _) => raftcore_loop_leader_tick(c, ops),
        (Micro::LeaderAppendResponse, Transport::Frames) => {
            raftcore_loop_leader_append_response(c, ops)
        }
        (Micro::LeaderAppendResponse, Transport::InProcess) => {
            raftcore_inproc_loop_leader_append_response(c, ops)
        }
    }
}

/// The loop function's name of `case` under `transport`, for `--toggle-collect='*NAME*'`.
pub(super) fn loop_symbol(case: Micro, transport: Transport) -> &'static str {
    match (case, transport) {
        (Micro::FollowerHeartbeat, Transport::Frames) => "raftcore_loop_follower_heartbeat",
        (Micro::FollowerHeartbeat, Transport::InProcess) => {
            "raftcore_inproc_loop_follower_heartbeat"
        }
        (Micro::LeaderTick, _) => "raftcore_loop_leader_tick",
        (Micro::LeaderAppendResponse, Transport::Frames) => "raftcore_loop_leader_append_response",
        (Micro::LeaderAppendResponse, Transport::InProcess) => {
            "raftcore_inproc_loop_leader_append_response"
        }
    }
}
