//! Snapshots, compaction and streamed InstallSnapshot (`DESIGN.md` section 3, "Snapshots
//! stream"): the leader streams chunks that each fit one frame, under the in-flight window,
//! filled from the driver's snapshot file; the follower hands each in-order chunk to its
//! driver, acknowledges the contiguous offset it holds, and rebases its log only once the
//! driver reports the snapshot installed.

use crate::common::*;
use raftcore::{
    AppendResponse, Config, Durability, EntryCount, Input, LogIndex, Membership, Message, NodeId,
    Output, Proposal, Role, SnapshotChunk, SnapshotMeta, SnapshotResponse, StepError, Term,
};

/// Small frames so a snapshot of a few entries takes several chunks: each chunk carries at
/// most `codec::max_chunk_bytes(FRAME, members)` = 137 - 84 - 5 = 48 bytes.
const FRAME: u32 = 137;
const CHUNK: u64 = 48;

fn small_frames(cfg: &mut Config) {
    cfg.max_frame_bytes = FRAME;
}

fn propose_ok(c: &mut Cluster, id: u32, data: &[u8]) {
    assert!(
        matches!(c.propose(id, data), Proposal::Accepted { .. }),
        "n{id} refused {data:?}"
    );
}

/// n1 leads term 1 of three nodes; n3 was cut off after the election (it holds only the
/// empty entry 1); `x=1..=writes` are committed and applied by n1 and n2; n1 saved a snapshot
/// of its state machine and compacted its log to it. The cut is healed, nothing is in flight.
fn leader_compacted_past_n3(writes: u32, tweak: impl Fn(&mut Config)) -> (Cluster, SnapshotMeta) {
    let mut c = Cluster::with_config(3, |cfg| {
        small_frames(cfg);
        tweak(cfg);
    });
    c.elect(1);
    c.isolate(3);
    for k in 1..=writes {
        propose_ok(&mut c, 1, format!("x={k}").as_bytes());
        c.deliver_all();
    }
    c.heartbeat(1);
    let last = u64::from(writes) + 1;
    assert_eq!((c.commit(1), c.raft(1).applied().0), (last, last));
    let (meta, out) = c.save_snapshot(1);
    assert_eq!((meta.index.0, meta.term.0), (last, 1));
    // With a snapshot to send, the log is compacted past n3 (which holds only index 1).
    assert_eq!(compacts(&out), vec![last]);
    assert_eq!(c.raft(1).first_index().0, last + 1);
    c.drain();
    c.heal();
    (c, meta)
}

/// Delivers frames until none is left, returning every frame delivered.
fn deliver_all_logged(c: &mut Cluster) -> Vec<Envelope> {
    let mut log = Vec::new();
    while let Some(env) = c.wire.pop_front() {
        c.fsync_all();
        c.deliver(&env);
        log.push(env);
    }
    log
}

fn chunk_frames(log: &[Envelope]) -> Vec<&Envelope> {
    log.iter()
        .filter(|e| matches!(e.msg, Message::Snapshot(_)))
        .collect()
}

/// The chunk descriptor a leader of term 1 sends.
fn chunk_desc(meta: SnapshotMeta, offset: u64, len: u32, round: u32) -> Message<EntryCount> {
    Message::Snapshot(SnapshotChunk {
        term: t(1),
        meta,
        offset,
        done: offset + u64::from(len) == meta.len,
        round,
        data: EntryCount(len),
    })
}

/// A heartbeat (empty AppendEntries) of a leader of term 1 whose log ends in term 1.
fn heartbeat_desc(prev: u64, commit: u64, floor: u64, round: u32) -> Message<EntryCount> {
    Message::Append(raftcore::Append {
        term: t(1),
        prev_index: i(prev),
        prev_term: t(1),
        commit: i(commit),
        floor: i(floor),
        round,
        entries: EntryCount(0),
    })
}

/// A follower's snapshot acknowledgement in term 1.
fn snap_resp(
    meta: SnapshotMeta,
    next_offset: u64,
    installed: bool,
    round: u32,
) -> SnapshotResponse {
    SnapshotResponse {
        term: t(1),
        index: meta.index,
        next_offset,
        installed,
        round,
    }
}

fn is_chunk_to(env: &Envelope, to: u32) -> bool {
    env.to == n(to) && matches!(env.msg, Message::Snapshot(_))
}

/// Removes the first frame in flight matching `pred` and delivers it.
fn deliver_first(c: &mut Cluster, pred: impl Fn(&Envelope) -> bool) -> (Envelope, Vec<Output>) {
    let at = c
        .wire
        .iter()
        .position(pred)
        .expect("a matching frame in flight");
    let env = c.wire.remove(at).expect("present");
    let out = c.deliver(&env);
    (env, out)
}

/// The snapshot file's bytes `from..to`.
fn file_bytes(c: &Cluster, id: u32, from: u64, to: u64) -> Vec<u8> {
    c.node(id).snap_file.as_ref().expect("a snapshot file").1[from as usize..to as usize].to_vec()
}

/// Node `id` lost its disk: no log, no hard state, no state machine, no snapshot.
fn wipe(c: &mut Cluster, id: u32) {
    c.crash(id);
    let node = c.node_mut(id);
    node.durable = Default::default();
    node.store = Default::default();
    node.durable_hs = Default::default();
    node.applied.clear();
    node.snap_file = None;
    c.restart(id);
}

/// The chunk writes of the 158-byte snapshot these tests stream, in order, 48 bytes a chunk.
fn in_48_byte_chunks(meta: SnapshotMeta) -> Vec<(SnapshotMeta, u64, u32)> {
    [0, 48, 96, 144]
        .into_iter()
        .map(|offset| (meta, offset, if offset == 144 { 14 } else { 48 }))
        .collect()
}

/// The leader compacted past n3 and streamed it the whole snapshot; n3's driver holds the
/// install back (every chunk written and acknowledged).
fn n3_holds_the_whole_snapshot() -> (Cluster, SnapshotMeta) {
    let (mut c, meta) = leader_compacted_past_n3(6, |_| {});
    c.hold_installs = true;
    c.ticks(1, 3);
    c.deliver_all();
    (c, meta)
}

#[test]
fn leader_streams_a_snapshot_in_chunks_that_fit_one_frame_to_a_follower_behind_its_compacted_log() {
    let (mut c, meta) = leader_compacted_past_n3(6, |_| {});
    // The state machine (the empty entry and six writes, 20 bytes + payload each) is 158
    // bytes: four chunks of at most 48 bytes.
    assert_eq!(meta.len, 158);
    assert_eq!(c.node(3).log_terms(), vec![1]);

    // The first heartbeat finds n3's next entry compacted: a chunk at offset 0 instead of an
    // AppendEntries. (Round 3: the election's, the setup's heartbeat, this one.)
    assert_eq!(c.raft(1).stats().needs_snapshot, 0);
    let out = c.ticks(1, 3);
    assert_eq!(c.raft(1).stats().needs_snapshot, 1);
    assert_eq!(
        sends(&out),
        vec![
            (n(2), heartbeat_desc(7, 7, 1, 3)),
            (n(3), chunk_desc(meta, 0, 48, 3)),
        ]
    );

    // Each acknowledgement brings the next chunk; every frame fits in max_frame_bytes.
    let log = deliver_all_logged(&mut c);
    let to_n3: Vec<Message<EntryCount>> = log
        .iter()
        .filter(|e| is_chunk_to(e, 3))
        .map(|e| {
            assert!(e.frame.len() <= FRAME as usize, "{} bytes", e.frame.len());
            e.msg
        })
        .collect();
    assert_eq!(
        to_n3,
        vec![
            chunk_desc(meta, 0, 48, 3),
            chunk_desc(meta, 48, 48, 3),
            chunk_desc(meta, 96, 48, 3),
            chunk_desc(meta, 144, 14, 3),
        ]
    );
    let acks: Vec<SnapshotResponse> = log
        .iter()
        .filter_map(|e| match e.msg {
            Message::SnapshotResponse(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(
        acks,
        vec![
            snap_resp(meta, 48, false, 3),
            snap_resp(meta, 96, false, 3),
            snap_resp(meta, 144, false, 3),
            snap_resp(meta, 158, false, 3),
            snap_resp(meta, 158, true, 0),
        ]
    );

    // n3's driver wrote each chunk in order, then installed the snapshot.
    let n3 = &c.node(3).outputs;
    assert_eq!(chunk_writes(n3), in_48_byte_chunks(meta));
    assert_eq!(installs(n3), vec![meta]);
    assert_eq!(c.node(3).snap_file, c.node(1).snap_file);
    assert_eq!(c.node(3).applied, c.node(1).applied);
    let r3 = c.raft(3);
    assert_eq!(
        (r3.first_index(), r3.last_index(), r3.commit(), r3.applied()),
        (i(8), i(7), i(7), i(7))
    );
    assert_eq!(c.raft(1).match_index(n(3)), Some(i(7)));

    // Replication resumes with AppendEntries after the snapshot.
    propose_ok(&mut c, 1, b"x=7");
    let log = deliver_all_logged(&mut c);
    assert!(chunk_frames(&log).is_empty());
    c.heartbeat(1);
    assert_eq!(c.node(3).log(), vec![(1, b"x=7".to_vec())]);
    assert_eq!(c.node(3).applied_data(), c.node(1).applied_data());
    assert_eq!(c.node(3).applied_data().len(), 7);
}

/// n1 leads three nodes that all hold `x=1..=6` (index 7), committed and applied everywhere;
/// n1 saved a snapshot at 7 and compacted its log to it.
fn all_caught_up_and_leader_compacted() -> (Cluster, SnapshotMeta) {
    let mut c = Cluster::with_config(3, small_frames);
    c.elect(1);
    for k in 1..=6 {
        propose_ok(&mut c, 1, format!("x={k}").as_bytes());
        c.deliver_all();
    }
    c.heartbeat(1);
    let (meta, out) = c.save_snapshot(1);
    assert_eq!(compacts(&out), vec![7]);
    for id in c.ids() {
        assert_eq!(c.raft(id).applied(), i(7), "n{id}");
    }
    (c, meta)
}

#[test]

fn snapshot_sent_to_a_follower_that_crashed_and_lost_its_whole_log() {
    let (mut c, meta) = all_caught_up_and_leader_compacted();
    assert_eq!(c.raft(1).match_index(n(3)), Some(i(7)));
    // n3's disk is replaced: it restarts with an empty log in term 0.
    wipe(&mut c, 3);
    assert_eq!((c.term(3), c.raft(3).last_index()), (0, i(0)));

    // A quiet cluster: only heartbeats. n3 rejects the heartbeat anchored at its old match
    // index; the leader must probe below it, find the entries compacted, and stream the
    // snapshot, within a few heartbeats.
    for _ in 0..20 {
        c.heartbeat(1);
    }
    assert_eq!(
        installs(&c.node(3).outputs),
        vec![meta],
        "n3 never got the snapshot"
    );
    assert_eq!(c.node(3).applied, c.node(1).applied);
    assert_eq!(c.raft(3).first_index(), i(8));
    assert_eq!(c.raft(1).match_index(n(3)), Some(i(7)));
}

#[test]
fn snapshot_sent_to_a_follower_that_crashed_and_lost_its_whole_log_once_a_write_arrives() {
    let (mut c, meta) = all_caught_up_and_leader_compacted();
    wipe(&mut c, 3);
    // The heartbeat anchored at n3's match index is refused: the leader probes below it,
    // finds the entries compacted and streams the snapshot; a write meanwhile follows it.
    c.ticks(1, 3);
    let mut log = deliver_all_logged(&mut c);
    propose_ok(&mut c, 1, b"x=7");
    log.extend(deliver_all_logged(&mut c));
    for _ in 0..3 {
        c.ticks(1, 3);
        log.extend(deliver_all_logged(&mut c));
    }
    let first = chunk_frames(&log)[0].msg;
    assert_eq!(first, chunk_desc(meta, 0, 48, first_round(&first)));
    assert_eq!(installs(&c.node(3).outputs), vec![meta]);
    // n3 holds the snapshot, then the write after it, and applied everything exactly once.
    assert_eq!(c.node(3).applied_data(), c.node(1).applied_data());
    assert_eq!(c.node(3).log(), vec![(1, b"x=7".to_vec())]);
    assert_eq!(c.raft(1).match_index(n(3)), Some(i(8)));
}

fn first_round(m: &Message<EntryCount>) -> u32 {
    match m {
        Message::Snapshot(ch) => ch.round,
        _ => panic!("not a chunk"),
    }
}

#[test]
fn compaction_while_a_follower_is_mid_snapshot_restarts_the_stream_with_the_newer_snapshot() {
    let (mut c, s1) = leader_compacted_past_n3(6, |_| {});
    c.ticks(1, 3);
    // n3 receives the first two chunks of S1 (at 7).
    deliver_first(&mut c, |e| is_chunk_to(e, 3));
    deliver_first(&mut c, |e| e.to == n(1) && e.from == n(3));
    let (_, out) = deliver_first(&mut c, |e| is_chunk_to(e, 3));
    assert_eq!(chunk_writes(&out), vec![(s1, 48, 48)]);

    // A write commits meanwhile (with n2), and it is sent the next S1 chunk as it goes out.
    let out = c.step(1, Input::Propose { data: b"x=7" });
    assert_eq!(chunks_sent(&out).len(), 1);
    while let Some(at) = c.wire.iter().position(|e| e.to != n(3) && e.from != n(3)) {
        let env = c.wire.remove(at).expect("present");
        c.deliver(&env);
    }
    assert_eq!(c.raft(1).applied(), i(8));
    // n1 captures again at 8 and compacts to it: S1 is gone from its storage.
    let (s2, out) = c.save_snapshot(1);
    assert_eq!((s2.index, compacts(&out)), (i(8), vec![8]));

    // The next chunk n3 is sent is S2's first: the stream restarts with the newer snapshot.
    let (_, out) = deliver_first(&mut c, |e| e.from == n(3));
    let restart = chunks_sent(&out);
    assert_eq!(restart.len(), 1);
    assert_eq!(
        (restart[0].0, restart[0].1.meta, restart[0].1.offset),
        (n(3), s2, 0)
    );
    let s2_first = c
        .wire
        .iter()
        .position(|e| is_chunk_to(e, 3) && e.msg == Message::Snapshot(restart[0].1))
        .expect("in flight");
    let env = c.wire.remove(s2_first).expect("present");
    let out = c.deliver(&env);
    // n3's driver starts S2 at offset 0, discarding the partial S1.
    assert_eq!(chunk_writes(&out), vec![(s2, 0, 48)]);

    // The S1 chunks still in flight are refused: n3 wants S1 from offset 0, which the leader
    // (streaming S2) ignores.
    let rejected = c.raft(3).stats().snapshot_chunks_rejected;
    let stale =
        c.take(|e| is_chunk_to(e, 3) && matches!(e.msg, Message::Snapshot(ch) if ch.meta == s1));
    assert!(!stale.is_empty());
    for env in &stale {
        let out = c.deliver(env);
        assert!(chunk_writes(&out).is_empty());
        let round = first_round(&env.msg);
        assert_eq!(
            snapshot_resps(&out),
            vec![(n(1), snap_resp(s1, 0, false, round))]
        );
        let (_, out) = deliver_first(&mut c, |e| {
            e.from == n(3) && e.msg == Message::SnapshotResponse(snap_resp(s1, 0, false, round))
        });
        assert!(
            sends(&out).is_empty(),
            "the leader ignores answers about S1: {out:?}"
        );
    }
    assert_eq!(
        c.raft(3).stats().snapshot_chunks_rejected,
        rejected + stale.len() as u64
    );

    // S2 streams to the end and is installed: n3 holds n1's state at 8.
    c.deliver_all();
    assert_eq!(installs(&c.node(3).outputs), vec![s2]);
    assert_eq!(c.node(3).applied, c.node(1).applied);
    assert_eq!(c.raft(3).first_index(), i(9));
    assert_eq!(c.raft(1).match_index(n(3)), Some(i(8)));
}

#[test]
fn follower_rebases_its_log_only_after_the_snapshot_is_installed() {
    let (mut c, meta) = leader_compacted_past_n3(6, |_| {});
    c.hold_installs = true;
    let before = view(c.raft(3));
    let store_before = (c.node(3).store.clone(), c.node(3).durable.clone());
    assert_eq!(
        (
            c.raft(3).first_index(),
            c.raft(3).last_index(),
            c.raft(3).commit()
        ),
        (i(1), i(1), i(1))
    );

    // Every chunk arrives; the last asks the driver to install.
    let mark = c.node(3).outputs.len();
    c.ticks(1, 3);
    let mut last = Vec::new();
    while let Some(at) = c.wire.iter().position(|e| e.to == n(3) || e.from == n(3)) {
        let env = c.wire.remove(at).expect("present");
        let out = c.deliver(&env);
        if env.to == n(3) {
            last = out;
        }
    }
    assert_eq!(installs(&last), vec![meta]);
    // Until the driver reports it installed, n3's log, commit and applied index are as
    // before, nothing was persisted or truncated, and its stores are untouched.
    let n3 = &c.node(3).outputs[mark..];
    assert!(persists(n3).is_empty(), "{:?}", persists(n3));
    let r3 = c.raft(3);
    assert_eq!(
        (r3.first_index(), r3.last_index(), r3.commit(), r3.applied()),
        (i(1), i(1), i(1), i(1))
    );
    assert_eq!(
        (c.node(3).store.clone(), c.node(3).durable.clone()),
        store_before
    );
    // A heartbeat meanwhile finds n3 without the leader's compaction point: rejected, and
    // nothing is applied.
    c.ticks(1, 3);
    let (_, out) = deliver_first(&mut c, |e| e.to == n(3));
    assert!(applies(&out).is_empty());
    assert!(matches!(
        sends(&out)[..],
        [(
            _,
            Message::AppendResponse(AppendResponse { success: false, .. })
        )]
    ));
    assert_ne!(view(c.raft(3)), before);

    // The driver installed it: now the log starts after the snapshot.
    let out = c.install(3);
    let r3 = c.raft(3);
    assert_eq!(
        (
            r3.first_index(),
            r3.last_index(),
            r3.last_term(),
            r3.commit(),
            r3.applied()
        ),
        (i(8), i(7), t(1), i(7), i(7))
    );
    assert_eq!(r3.durable_index(), i(7));
    assert!(
        applies(&out).is_empty(),
        "the snapshot is not applied again"
    );
    assert_eq!(
        snapshot_resps(&out),
        vec![(n(1), snap_resp(meta, 158, true, 0))]
    );
    // The core's bookkeeping of the dropped log: a truncation of everything it held.
    assert_eq!(
        persists(&out)
            .iter()
            .map(|p| (p.truncate_from, p.entries))
            .collect::<Vec<_>>(),
        vec![(Some(i(1)), None)]
    );
    assert_eq!(c.node(3).store.base(), i(7));
    assert!(c.node(3).store.entries().is_empty());
}

/// n3 (and every node) holds twelve entries of term 1, none known committed.
fn follower_with_twelve_entries() -> Cluster {
    let log = vec![1; 12];
    Cluster::with_logs(
        &[(1, log.clone()), (1, log.clone()), (1, log)],
        small_frames,
    )
}

/// The state machine after applying the harness's entries 1..=upto of term 1.
fn machine_upto(upto: u64) -> Vec<(LogIndex, Term, Vec<u8>)> {
    (1..=upto).map(|k| (i(k), t(1), payload(k, 1))).collect()
}

/// Hands node `to` every chunk of `file` from leader n1 of `term`, in order; the outputs of
/// the last step.
fn send_whole_snapshot(
    c: &mut Cluster,
    to: u32,
    term: u64,
    file: &(SnapshotMeta, Vec<u8>),
) -> Vec<Output> {
    let (meta, bytes) = file;
    let mut out = Vec::new();
    for (k, piece) in bytes.chunks(CHUNK as usize).enumerate() {
        out = c.recv(to, 1, chunk(term, *meta, k as u64 * CHUNK, piece));
    }
    out
}

#[test]
fn follower_keeps_entries_after_the_snapshot_when_its_log_matches_it() {
    let mut c = follower_with_twelve_entries();
    c.hold_installs = true;
    let file = snapshot_of(&machine_upto(10), *c.raft(3).membership());
    let meta = file.0;
    let out = send_whole_snapshot(&mut c, 3, 1, &file);
    assert_eq!(installs(&out), vec![meta]);
    let out = c.install(3);
    // Its entry 10 has the snapshot's term: entries 11 and 12 stay, nothing is truncated.
    assert!(persists(&out).is_empty(), "{out:?}");
    assert_eq!(
        snapshot_resps(&out),
        vec![(n(1), snap_resp(meta, meta.len, true, 0))]
    );
    let r3 = c.raft(3);
    assert_eq!(
        (r3.first_index(), r3.last_index(), r3.commit(), r3.applied()),
        (i(11), i(12), i(10), i(10))
    );
    assert_eq!(
        c.node(3).log(),
        vec![(1, payload(11, 1)), (1, payload(12, 1))]
    );
    assert_eq!(c.node(3).applied, machine_upto(10));
    // The kept entries are applied once the leader says they are committed.
    let none = Ents::none();
    let out = c.recv(3, 1, append(1, 12, 1, 12, &none));
    assert_eq!(applies(&out), vec![(11, 12)]);
    assert_eq!(c.node(3).applied, machine_upto(12));

    // Counter-case: n2 holds entry 10 in another term (from a deposed leader of term 2). A
    // snapshot from the leader of term 3 replaces its whole log.
    let mut c = Cluster::with_logs(
        &[
            (3, vec![1; 12]),
            (2, [vec![1; 9], vec![2; 3]].concat()),
            (1, vec![1]),
        ],
        small_frames,
    );
    c.hold_installs = true;
    let out = send_whole_snapshot(&mut c, 2, 3, &file);
    assert_eq!(installs(&out), vec![meta]);
    let out = c.install(2);
    let r2 = c.raft(2);
    assert_eq!(
        (
            r2.first_index(),
            r2.last_index(),
            r2.last_term(),
            r2.commit()
        ),
        (i(11), i(10), t(1), i(10))
    );
    assert!(c.node(2).log().is_empty());
    assert_eq!(
        persists(&out)
            .iter()
            .map(|p| p.truncate_from)
            .collect::<Vec<_>>(),
        vec![Some(i(1))]
    );
    assert_eq!(c.node(2).applied, machine_upto(10));
}

/// The driver may finish an install after the node stopped following (the install is not
/// role state): a snapshot whose membership adds a voter, installed while the node campaigns,
/// makes that voter count in the node's next election like any other.
#[test]
fn a_voter_added_by_a_snapshot_installed_mid_campaign_counts_in_the_next_election() {
    let mut c = follower_with_twelve_entries();
    c.hold_installs = true;
    let four = Membership::new(&[n(1), n(2), n(3), n(4)], &[]).unwrap();
    let file = snapshot_of(&machine_upto(10), four);
    let out = send_whole_snapshot(&mut c, 3, 1, &file);
    assert_eq!(installs(&out), vec![file.0]);
    // n3 times out before its driver reports the install.
    c.tick_until_campaign(3);
    assert_eq!((c.role(3), c.term(3)), (Role::Candidate, 2));
    c.drain();
    let out = c.install(3);
    assert_eq!(
        snapshot_resps(&out).len(),
        0,
        "no leader to answer: {out:?}"
    );
    assert_eq!(*c.raft(3).membership(), four);
    assert_eq!(c.role(3), Role::Candidate);

    // Its next election asks n4 too; n4 and n2 grant: 3 of the 4 voters.
    let out = c.tick_until_campaign(3);
    assert_eq!((c.role(3), c.term(3)), (Role::Candidate, 3));
    let asked: Vec<u32> = sends(&out).iter().map(|(to, _)| to.0).collect();
    assert_eq!(asked, vec![1, 2, 4]);
    c.drain();
    c.recv(3, 4, vote_resp(3, true));
    assert_eq!(c.role(3), Role::Candidate, "2 of 4");
    c.recv(3, 2, vote_resp(3, true));
    assert_eq!((c.role(3), c.term(3)), (Role::Leader, 3));
}

/// An append reaching below the follower's compaction point: entries at or below it are
/// committed, hence held; a message entirely below it is acknowledged as is, and one that
/// reaches past it is checked at the compaction point (the leader's entry there must be the
/// one compacted) and then taken like any other. One whose entry there differs is forged or
/// corrupt: ignored and counted.
#[test]
fn an_append_reaching_below_the_compaction_point_is_checked_at_it() {
    let mut c = follower_with_twelve_entries();
    c.hold_installs = true;
    let file = snapshot_of(&machine_upto(10), *c.raft(3).membership());
    send_whole_snapshot(&mut c, 3, 1, &file);
    c.install(3);
    let r3 = c.raft(3);
    assert_eq!((r3.first_index(), r3.last_index()), (i(11), i(12)));
    let acks = |out: &[Output]| -> Vec<(bool, u64)> {
        append_resps(out)
            .iter()
            .map(|(_, r)| (r.success, r.index.0))
            .collect()
    };

    // Entirely below: entry 6 after 5.
    let six = Ents::terms(6, &[1]);
    let out = c.recv(3, 1, append(1, 5, 1, 10, &six));
    assert_eq!(acks(&out), vec![(true, 6)]);
    // Entries 10 and 11 after 9: checked at 10, 11 already held.
    let ten_eleven = Ents::terms(10, &[1, 1]);
    let out = c.recv(3, 1, append(1, 9, 1, 10, &ten_eleven));
    assert_eq!(acks(&out), vec![(true, 11)]);
    // A leader of term 2 whose entry 10 is of term 2: not the one compacted.
    let ignored = c.raft(3).stats().ignored_unexpected;
    let forged = Ents::terms(10, &[2]);
    let out = c.recv(3, 1, append(2, 9, 1, 10, &forged));
    assert_eq!(acks(&out), vec![]);
    assert_eq!(c.raft(3).stats().ignored_unexpected, ignored + 1);
    assert_eq!(
        c.node(3).log(),
        vec![(1, payload(11, 1)), (1, payload(12, 1))]
    );
}

/// `SnapshotSaved` names a snapshot the driver captured: it must be of an applied index, of
/// the entry the log holds there, and of the membership in force there; anything else is a
/// driver error and changes nothing. A capture older than the newest applied entry is fine.
#[test]
fn a_saved_snapshot_must_match_the_applied_log_and_its_membership() {
    let mut c = Cluster::new(3);
    c.elect(1);
    propose_ok(&mut c, 1, b"x=1");
    propose_ok(&mut c, 1, b"x=2");
    c.deliver_all();
    c.heartbeat(1);
    let applied = c.raft(1).applied().0;
    assert_eq!(applied, 3);
    let members = *c.raft(1).membership();
    let meta = |index: u64, term: u64, members: Membership| SnapshotMeta {
        index: i(index),
        term: t(term),
        len: 0,
        checksum: 0,
        members,
    };
    let two = Membership::new(&[n(1), n(2)], &[]).unwrap();
    let refused = [
        (
            meta(applied + 1, 1, members),
            StepError::CaptureBeyondApplied,
        ),
        (meta(applied, 2, members), StepError::SnapshotMismatch),
        (meta(applied, 1, two), StepError::SnapshotMismatch),
    ];
    for (m, want) in refused {
        let r = c.try_step(1, Input::SnapshotSaved { meta: m });
        assert_eq!(r.map(|_| ()), Err(want), "{m:?}");
        assert_eq!(c.raft(1).first_index(), i(1));
    }
    // An older capture, of entry 2.
    let r = c.try_step(
        1,
        Input::SnapshotSaved {
            meta: meta(2, 1, members),
        },
    );
    assert_eq!(r.map(|_| ()), Ok(()));
}

/// Two leaders in one term cannot happen: a snapshot chunk that a leader receives from
/// another leader of its own term (forged or corrupt) is ignored and counted.
#[test]
fn a_leader_ignores_and_counts_a_snapshot_chunk_of_its_own_term() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.heartbeat(1);
    let file = snapshot_of(&machine_upto(1), *c.raft(1).membership());
    let ignored = c.raft(1).stats().ignored_unexpected;
    let out = c.recv(1, 2, chunk(1, file.0, 0, &file.1));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!((c.role(1), c.term(1)), (Role::Leader, 1));
    assert_eq!(c.raft(1).stats().ignored_unexpected, ignored + 1);
}

/// No leader sends a snapshot whose membership has no voter, or more members than this node
/// can hold: a chunk naming one (forged or corrupt) is ignored and counted, and nothing of
/// it reaches the driver.
#[test]
fn a_snapshot_chunk_naming_a_membership_this_node_cannot_hold_is_ignored_and_counted() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.heartbeat(1);
    let no_voter = Membership::new(&[], &[n(1), n(2), n(3)]).unwrap();
    let eight: Vec<NodeId> = (1..=8).map(n).collect();
    let too_many = Membership::new(&eight, &[]).unwrap();
    for members in [no_voter, too_many] {
        let file = snapshot_of(&machine_upto(5), members);
        let ignored = c.raft(3).stats().ignored_unexpected;
        let out = c.recv(3, 1, chunk(1, file.0, 0, &file.1));
        assert!(out.is_empty(), "{members:?}: {out:?}");
        assert_eq!(c.raft(3).stats().ignored_unexpected, ignored + 1);
    }
}

#[test]
fn stale_duplicate_and_out_of_order_chunks_are_refused_with_the_offset_wanted() {
    let (mut c, meta) = leader_compacted_past_n3(6, |_| {});
    c.ticks(1, 3);
    // n3 takes chunks 0 and 48 of the real stream (answers to the leader dropped).
    for _ in 0..2 {
        deliver_first(&mut c, |e| is_chunk_to(e, 3));
        deliver_first(&mut c, |e| e.from == n(3));
    }
    c.drain();
    let bytes = |from: u64, to: u64| file_bytes(&c, 1, from, to);
    let (b0, b48, b96, b144) = (bytes(0, 48), bytes(48, 96), bytes(96, 144), bytes(144, 158));
    let wants_96 = vec![(n(1), snap_resp(meta, 96, false, 0))];
    let rejected = |c: &Cluster| c.raft(3).stats().snapshot_chunks_rejected;
    assert_eq!(rejected(&c), 0);

    // Duplicates (of the first chunk, of the latest one): refused, nothing written; the
    // answer names the offset wanted.
    for (offset, data) in [(0, &b0), (48, &b48)] {
        let out = c.recv(3, 1, chunk(1, meta, offset, data));
        assert!(chunk_writes(&out).is_empty(), "{out:?}");
        assert_eq!(snapshot_resps(&out), wants_96);
    }
    // Out of order: the last chunk before the one at 96. Refused, no install.
    let out = c.recv(3, 1, chunk(1, meta, 144, &b144));
    assert!(chunk_writes(&out).is_empty() && installs(&out).is_empty());
    assert_eq!(snapshot_resps(&out), wants_96);
    // A chunk (not the first) of a snapshot n3 is not receiving: it wants that one from 0.
    let older = SnapshotMeta {
        index: i(5),
        ..meta
    };
    let out = c.recv(3, 1, chunk(1, older, 48, &b48));
    assert!(chunk_writes(&out).is_empty());
    assert_eq!(
        snapshot_resps(&out),
        vec![(n(1), snap_resp(older, 0, false, 0))]
    );
    assert_eq!(rejected(&c), 4);
    // A chunk from a leader of an older term: told the newer term, like a stale append.
    let out = c.recv(3, 1, chunk(2, meta, 96, &b96));
    assert_eq!(c.term(3), 2);
    assert_eq!(chunk_writes(&out), vec![(meta, 96, 48)]);
    let out = c.recv(3, 1, chunk(1, meta, 144, &b144));
    assert!(chunk_writes(&out).is_empty());
    assert_eq!(
        sends(&out),
        vec![(
            n(1),
            Message::AppendResponse(AppendResponse {
                term: t(2),
                success: false,
                index: i(7),
                hint_index: i(0),
                hint_term: t(0),
                round: 0,
                commit: i(1),
            })
        )]
    );
    assert_eq!(rejected(&c), 4);

    // The stream was not disturbed: the next chunk in order completes it.
    let out = c.recv(3, 1, chunk(2, meta, 144, &b144));
    assert_eq!(chunk_writes(&out), vec![(meta, 144, 14)]);
    assert_eq!(installs(&c.node(3).outputs), vec![meta]);
    assert_eq!(c.node(3).applied, c.node(1).applied);
}

#[test]
fn a_crash_mid_transfer_restarts_the_stream_from_offset_zero() {
    let (mut c, meta) = leader_compacted_past_n3(6, |_| {});
    c.ticks(1, 3);
    // n3 takes three chunks and the leader hears it (it holds 144 bytes).
    for _ in 0..3 {
        deliver_first(&mut c, |e| is_chunk_to(e, 3));
        deliver_first(&mut c, |e| e.from == n(3));
    }
    let in_flight: Vec<Message<EntryCount>> = c
        .wire
        .iter()
        .filter(|e| is_chunk_to(e, 3))
        .map(|e| e.msg)
        .collect();
    assert_eq!(in_flight, vec![chunk_desc(meta, 144, 14, 3)]);
    assert_eq!(chunk_writes(&c.node(3).outputs).len(), 3);

    // n3 crashes: its partial incoming file is gone with the process.
    c.crash_restart(3);
    let mark = c.node(3).outputs.len();
    let (_, out) = deliver_first(&mut c, |e| is_chunk_to(e, 3));
    assert!(chunk_writes(&out).is_empty() && installs(&out).is_empty());
    assert_eq!(
        snapshot_resps(&out),
        vec![(n(1), snap_resp(meta, 0, false, 3))]
    );
    // The leader rewinds at once and sends from offset 0.
    let (_, out) = deliver_first(&mut c, |e| e.from == n(3));
    assert_eq!(sends(&out), vec![(n(3), chunk_desc(meta, 0, 48, 3))]);

    c.deliver_all();
    assert_eq!(
        chunk_writes(&c.node(3).outputs[mark..]),
        in_48_byte_chunks(meta)
    );
    assert_eq!(installs(&c.node(3).outputs), vec![meta]);
    assert_eq!(c.node(3).applied, c.node(1).applied);
    assert_eq!(c.raft(1).match_index(n(3)), Some(i(7)));
}

#[test]

fn a_crash_after_the_last_chunk_before_the_install_restarts_the_stream() {
    let (mut c, meta) = n3_holds_the_whole_snapshot();
    // Every chunk arrives and is acknowledged; the driver is installing when n3 crashes.
    assert_eq!(c.node(3).install_wanted, Some(meta));
    c.crash_restart(3);
    assert!(c.node(3).snap_file.is_none() && c.node(3).incoming.is_none());

    // Within a few heartbeats the leader must send the snapshot again. (It does not: n3
    // rejects every heartbeat, anchored at the compaction point it lacks, and the leader
    // ignores rejections while streaming; with nothing in flight nothing is re-sent.)
    let mark = c.node(3).outputs.len();
    for _ in 0..20 {
        c.heartbeat(1);
    }
    assert_eq!(
        installs(&c.node(3).outputs[mark..]),
        vec![meta],
        "never resent"
    );
}

#[test]

fn a_failed_install_whose_answer_is_lost_restarts_the_transfer() {
    let (mut c, meta) = n3_holds_the_whole_snapshot();
    // The snapshot does not verify; the answer saying so is lost.
    c.node_mut(3).incoming.as_mut().expect("written").1[0] ^= 1;
    let out = c.install(3);
    assert_eq!(
        snapshot_resps(&out),
        vec![(n(1), snap_resp(meta, 0, false, 0))]
    );
    c.drain();

    let mark = c.node(3).outputs.len();
    for _ in 0..20 {
        c.heartbeat(1);
    }
    assert_eq!(
        installs(&c.node(3).outputs[mark..]),
        vec![meta],
        "never resent"
    );
}

/// The chunks in flight to n3, in order sent.
fn chunks_in_flight(c: &Cluster) -> Vec<Message<EntryCount>> {
    c.wire
        .iter()
        .filter(|e| is_chunk_to(e, 3))
        .map(|e| e.msg)
        .collect()
}

#[test]
fn chunks_stream_under_the_in_flight_window_and_are_acknowledged_by_contiguous_offset() {
    // A window of 137 bytes (one frame): 48 + 48 + 41 bytes fill it.
    let (mut c, meta) = leader_compacted_past_n3(6, |cfg| cfg.max_inflight_bytes = FRAME);
    c.ticks(1, 3);
    // Each write sends n3 the next chunk while the window allows; the third is cut to the
    // bytes left, the fourth write sends none.
    for k in 7..=9 {
        propose_ok(&mut c, 1, format!("x={k}").as_bytes());
    }
    assert_eq!(
        chunks_in_flight(&c),
        vec![
            chunk_desc(meta, 0, 48, 3),
            chunk_desc(meta, 48, 48, 3),
            chunk_desc(meta, 96, 41, 3),
        ]
    );
    // (Writes beyond the uncommitted window would be refused; n2 is not answering yet.)
    let out = c.step(1, Input::Propose { data: b"x=10" });
    assert!(chunks_sent(&out).is_empty(), "{out:?}");

    // n3 takes all three; its first two acknowledgements are lost. The third names the
    // contiguous offset 137, which frees the whole window: the leader sends the rest.
    for _ in 0..3 {
        deliver_first(&mut c, |e| is_chunk_to(e, 3));
    }
    let acks = c.take(|e| e.from == n(3));
    let acks: Vec<Message<EntryCount>> = acks.iter().map(|e| e.msg).collect();
    assert_eq!(
        acks,
        [48, 96, 137]
            .map(|o| Message::SnapshotResponse(snap_resp(meta, o, false, 3)))
            .to_vec()
    );
    let out = c.recv(
        1,
        3,
        Message::SnapshotResponse(snap_resp(meta, 137, false, 3)),
    );
    assert_eq!(sends(&out), vec![(n(3), chunk_desc(meta, 137, 21, 3))]);
    c.deliver_all();
    assert_eq!(installs(&c.node(3).outputs), vec![meta]);
    assert_eq!(c.raft(1).match_index(n(3)), Some(i(11)));

    // A window of two messages: the third write sends no chunk.
    let (mut c, meta) = leader_compacted_past_n3(6, |cfg| cfg.max_inflight_msgs = 2);
    c.ticks(1, 3);
    for k in 7..=8 {
        propose_ok(&mut c, 1, format!("x={k}").as_bytes());
    }
    assert_eq!(
        chunks_in_flight(&c),
        vec![chunk_desc(meta, 0, 48, 3), chunk_desc(meta, 48, 48, 3)]
    );
    let out = c.step(1, Input::Propose { data: b"x=9" });
    assert!(chunks_sent(&out).is_empty(), "{out:?}");
    // One acknowledgement frees one slot: one more chunk.
    deliver_first(&mut c, |e| is_chunk_to(e, 3));
    let (_, out) = deliver_first(&mut c, |e| e.from == n(3));
    assert_eq!(sends(&out), vec![(n(3), chunk_desc(meta, 96, 48, 3))]);
}

#[test]
fn a_failed_install_restarts_the_transfer() {
    let (mut c, meta) = n3_holds_the_whole_snapshot();
    assert_eq!(c.node(3).install_wanted, Some(meta));
    // A byte went bad on the way: the checksum does not hold and the driver reports it.
    c.node_mut(3).incoming.as_mut().expect("written").1[100] ^= 0x40;
    let before = (
        c.raft(3).first_index(),
        c.raft(3).last_index(),
        c.raft(3).commit(),
    );
    let out = c.install(3);
    assert_eq!(
        sends(&out),
        vec![(
            n(1),
            Message::SnapshotResponse(snap_resp(meta, 0, false, 0))
        )]
    );
    assert!(persists(&out).is_empty() && applies(&out).is_empty());
    assert_eq!(
        (
            c.raft(3).first_index(),
            c.raft(3).last_index(),
            c.raft(3).commit()
        ),
        before
    );
    assert!(c.node(3).snap_file.is_none());

    // The leader streams it again from offset 0, and this time it installs.
    let (_, out) = deliver_first(&mut c, |e| e.from == n(3));
    assert_eq!(sends(&out), vec![(n(3), chunk_desc(meta, 0, 48, 3))]);
    let mark = c.node(3).outputs.len();
    c.deliver_all();
    assert_eq!(
        chunk_writes(&c.node(3).outputs[mark..]),
        in_48_byte_chunks(meta)
    );
    c.install(3);
    c.deliver_all();
    assert_eq!(c.node(3).applied, c.node(1).applied);
    assert_eq!(c.raft(3).first_index(), i(8));
    assert_eq!(c.raft(1).match_index(n(3)), Some(i(7)));
}

#[test]
fn installed_snapshot_counts_as_applied_and_apply_resumes_after_it() {
    let (mut c, meta) = leader_compacted_past_n3(6, |_| {});
    let applied_before = applies(&c.node(3).outputs);
    assert_eq!(applied_before, vec![(1, 1)]);
    c.heartbeat(1);
    c.deliver_all();
    assert_eq!(installs(&c.node(3).outputs), vec![meta]);
    // The snapshot stands for entries 2..=7: they are never handed out in an Apply.
    assert_eq!(applies(&c.node(3).outputs), applied_before);
    assert_eq!(c.raft(3).applied(), i(7));

    // New writes are applied from 8 on, once each.
    for k in 7..=8 {
        propose_ok(&mut c, 1, format!("x={k}").as_bytes());
        c.deliver_all();
    }
    c.heartbeat(1);
    let n3 = applies(&c.node(3).outputs);
    assert_eq!(n3[1..].first().map(|a| a.0), Some(8));
    assert_eq!(n3.last().map(|a| a.1), Some(9));
    assert_eq!(c.node(3).applied, c.node(1).applied);

    // After a restart whose state machine is rebuilt from the snapshot alone, apply resumes
    // right after the snapshot too.
    c.node_mut(3).machine_is_durable = false;
    c.crash_restart(3);
    assert_eq!(c.node(3).applied_index(), i(7));
    assert_eq!(c.raft(3).applied(), i(7));
    let mark = c.node(3).outputs.len();
    c.heartbeat(1);
    assert_eq!(applies(&c.node(3).outputs[mark..]), vec![(8, 9)]);
    assert_eq!(c.node(3).applied, c.node(1).applied);
}

#[test]
fn snapshot_installed_for_an_unrequested_snapshot_is_a_driver_error() {
    let (mut c, meta) = leader_compacted_past_n3(6, |_| {});
    c.hold_installs = true;
    c.shadow_by_value(3);
    let unrequested = |c: &mut Cluster, meta: SnapshotMeta, ok: bool| {
        let before = format!("{:?}", c.raft(3));
        let r = c.try_step(3, Input::SnapshotInstalled { meta, ok });
        assert_eq!(r, Err(StepError::SnapshotNotRequested));
        // Refused before any change.
        assert_eq!(format!("{:?}", c.raft(3)), before);
    };
    // Nothing is being received.
    unrequested(&mut c, meta, true);
    unrequested(&mut c, meta, false);
    // Mid-stream: the snapshot is not complete.
    c.ticks(1, 3);
    deliver_first(&mut c, |e| is_chunk_to(e, 3));
    unrequested(&mut c, meta, true);
    // Complete, but the driver names another snapshot.
    c.deliver_all();
    assert_eq!(c.node(3).install_wanted, Some(meta));
    let other = SnapshotMeta {
        checksum: meta.checksum ^ 1,
        ..meta
    };
    unrequested(&mut c, other, true);
    // The snapshot asked for installs normally, once; a second report is an error again.
    c.install(3);
    assert_eq!(c.raft(3).first_index(), i(8));
    unrequested(&mut c, meta, true);
}

#[test]
fn a_snapshot_older_than_the_followers_durable_commit_is_acknowledged_without_transfer() {
    let (mut c, meta) = all_caught_up_and_leader_compacted();
    assert_eq!((c.commit(3), c.raft(3).durable_index()), (7, i(7)));
    let log = c.node(3).log();
    let bytes = file_bytes(&c, 1, 0, meta.len);
    // A delayed chunk of an older stream (a snapshot at 5), or of this one, at any offset:
    // everything it covers is committed and durable on n3 already.
    let older = SnapshotMeta {
        index: i(5),
        ..meta
    };
    for (m, offset) in [(older, 0), (older, 48), (meta, 0), (meta, 96)] {
        let out = c.recv(
            3,
            1,
            chunk(1, m, offset, &bytes[offset as usize..offset as usize + 48]),
        );
        assert!(chunk_writes(&out).is_empty() && installs(&out).is_empty());
        assert!(persists(&out).is_empty());
        assert_eq!(
            snapshot_resps(&out),
            vec![(n(1), snap_resp(m, m.len, true, 0))]
        );
    }
    assert_eq!(c.node(3).log(), log);
    assert_eq!(c.raft(3).first_index(), i(1));
    // The leader, not streaming to n3, ignores those answers.
    let out = c.recv(
        1,
        3,
        Message::SnapshotResponse(snap_resp(older, older.len, true, 0)),
    );
    assert!(sends(&out).is_empty());
    assert_eq!(c.raft(1).match_index(n(3)), Some(i(7)));

    // Counter-case under Durability::Deferred: n3 knows entry 8 committed but has not made
    // it durable. A snapshot at 8 is then received, not acknowledged as held.
    let mut c = Cluster::with_config(3, |cfg| {
        small_frames(cfg);
        cfg.durability = Durability::Deferred;
    });
    c.elect(1);
    c.auto_fsync = false;
    propose_ok(&mut c, 1, b"x=1");
    // n3 holds entry 2 but has not made it durable (its acknowledgement waits); n2 has.
    deliver_first(&mut c, |e| e.to == n(3));
    deliver_first(&mut c, |e| e.to == n(2));
    c.fsync(1);
    c.fsync(2);
    deliver_first(&mut c, |e| e.from == n(2));
    assert_eq!(c.commit(1), 2);
    // The leader's next message tells n3 that 2 is committed.
    let none = Ents::none();
    c.recv(3, 1, append(1, 2, 1, 2, &none));
    assert_eq!((c.commit(3), c.raft(3).durable_index()), (2, i(1)));
    assert_eq!(c.raft(1).applied(), i(2));
    let (s, _) = c.save_snapshot(1);
    assert_eq!(s.index, i(2));
    // (The snapshot of two entries, 43 bytes, is a single chunk.)
    c.hold_installs = true;
    let bytes = file_bytes(&c, 1, 0, s.len);
    let out = c.recv(3, 1, chunk(1, s, 0, &bytes));
    assert_eq!(chunk_writes(&out), vec![(s, 0, 43)]);
    assert_eq!(installs(&out), vec![s]);
    assert_eq!(
        snapshot_resps(&out),
        vec![(n(1), snap_resp(s, 43, false, 0))]
    );
}

#[test]
fn without_a_snapshot_compaction_stops_at_the_slowest_voter() {
    let mut c = Cluster::with_config(3, small_frames);
    c.elect(1);
    c.isolate(3);
    for k in 1..=6 {
        propose_ok(&mut c, 1, format!("x={k}").as_bytes());
        c.deliver_all();
    }
    c.heartbeat(1);
    assert_eq!(c.raft(1).applied(), i(7));
    // n1 and n2 captured their state machines at 7, but n3 holds only entry 1: nobody
    // compacts past it, so it can still be caught up by AppendEntries.
    for id in [1, 2] {
        let out = c.step(id, Input::Captured { index: i(7) });
        assert_eq!(compacts(&out), vec![1], "n{id}");
        assert_eq!(c.raft(id).first_index(), i(2), "n{id}");
    }
    for _ in 0..3 {
        let out = c.ticks(1, 3);
        assert!(compacts(&out).is_empty());
        c.deliver_all();
    }

    // n3 is back: it catches up by AppendEntries alone, and then the log is compacted.
    c.heal();
    let mark = c.node(1).outputs.len();
    let mut log = Vec::new();
    for _ in 0..3 {
        c.ticks(1, 3);
        log.extend(deliver_all_logged(&mut c));
    }
    assert!(chunk_frames(&log).is_empty());
    assert_eq!(c.node(3).applied, c.node(1).applied);
    // (The floor follows n3 as it catches up, four entries per 137-byte frame.)
    assert_eq!(compacts(&c.node(1).outputs[mark..]), vec![5, 7]);
    assert_eq!(c.raft(1).first_index(), i(8));
    assert_eq!(c.raft(1).stats().needs_snapshot, 0);
    assert_eq!(compacts(&c.node(2).outputs).last(), Some(&7));
}

#[test]
fn a_lost_chunk_is_sent_again_after_a_heartbeat_without_progress() {
    let (mut c, meta) = leader_compacted_past_n3(6, |_| {});
    c.ticks(1, 3);
    deliver_first(&mut c, |e| is_chunk_to(e, 3));
    deliver_first(&mut c, |e| e.from == n(3));
    // The chunk at 48 is lost.
    let lost = c.take(|e| is_chunk_to(e, 3));
    assert_eq!(
        lost.iter().map(|e| e.msg).collect::<Vec<_>>(),
        vec![chunk_desc(meta, 48, 48, 3)]
    );
    // Later chunks are refused with the offset wanted (48); within two heartbeats without
    // progress the leader sends from 48 again and the snapshot completes.
    for _ in 0..2 {
        c.heartbeat(1);
    }
    let n3 = &c.node(3).outputs;
    assert_eq!(chunk_writes(n3), in_48_byte_chunks(meta));
    assert_eq!(installs(n3), vec![meta]);
    assert_eq!(c.node(3).applied, c.node(1).applied);
}

/// A follower that acknowledged every chunk is installing (its driver may take a while): the
/// leader sends it nothing of the snapshot again, only heartbeats, until an election timeout
/// passes without an answer; then it streams the snapshot again from the start.
#[test]
fn a_follower_installing_a_whole_snapshot_gets_no_chunk_again_within_an_election_timeout() {
    let (mut c, meta) = n3_holds_the_whole_snapshot();
    let (hb, et) = (c.node(1).cfg.heartbeat_ticks, c.node(1).cfg.election_ticks);
    let mut first = None;
    for t in 1..=2 * et {
        let out = c.tick(1);
        let chunks = chunks_sent(&out);
        if !chunks.is_empty() {
            first = Some((t, chunks));
            break;
        }
        c.drain();
    }
    let (t, sent) = first.expect("streamed again");
    assert!(t > et - hb, "a chunk after {t} ticks");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].0, sent[0].1.meta, sent[0].1.offset),
        (n(3), meta, 0)
    );
}

/// A follower acknowledging the chunks slowly (one a heartbeat) is not sent the snapshot
/// again while it makes progress: the leader's wait of an election timeout for the install
/// starts only once every chunk is acknowledged.
#[test]
fn a_follower_acknowledging_one_chunk_a_heartbeat_is_not_sent_the_snapshot_again() {
    let (mut c, meta) = leader_compacted_past_n3(6, |_| {});
    c.hold_installs = true;
    let hb = c.node(1).cfg.heartbeat_ticks;
    // The offsets of every chunk the leader sends.
    let mut sent: Vec<u64> = Vec::new();
    let offsets =
        |out: &[Output]| -> Vec<u64> { chunks_sent(out).iter().map(|(_, ch)| ch.offset).collect() };
    sent.extend(offsets(&c.ticks(1, hb)));
    let mut beats = 0;
    while c.node(3).install_wanted.is_none() {
        deliver_first(&mut c, |e| is_chunk_to(e, 3));
        let (_, out) = deliver_first(&mut c, |e| e.from == n(3) && e.to == n(1));
        sent.extend(offsets(&out));
        sent.extend(offsets(&c.ticks(1, hb)));
        beats += 1;
        assert!(beats < 10, "never complete: {sent:?}");
    }
    assert_eq!(c.node(3).install_wanted, Some(meta));
    assert!(beats >= 4, "{beats} heartbeats");
    // One more heartbeat after the last acknowledgement: still nothing sent again.
    sent.extend(offsets(&c.ticks(1, hb)));
    assert_eq!(sent, vec![0, 48, 96, 144]);
}
