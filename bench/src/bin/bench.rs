//! Runs every BENCH.md workload on raft-rs and raft-core in one process and prints one
//! side-by-side Markdown table with ratios.
//!
//! ```text
//! bench                    full run (timings, allocations, memory, callgrind per micro case)
//! bench --smoke            small counts, no callgrind; asserts the deterministic allocation
//!                          properties (CI runs this; wall-clock times are never asserted)
//! bench --no-callgrind     full run without the valgrind children
//! bench --markdown FILE    also write the table (with its notes) to FILE
//! bench --throughput B --lib LIB [--ops N]
//!                          one throughput run of N entries (default 100,000) in batches of B,
//!                          for profiling under callgrind or perf
//! bench --callgrind CASE --lib LIB [--ops N]
//!                          child mode used under valgrind: set up the micro cluster of LIB
//!                          (raft-rs | raft-core | raft-core-inproc) and run the loop function of CASE
//!                          (follower-heartbeat | leader-tick | leader-append-response) once
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ::raftcore::codec;
use raft_bench::counting::{self, Counting};
use raft_bench::raftcore::{self, RaftCoreFrames, RaftCoreInProcess};
use raft_bench::raftrs::RaftRs;
use raft_bench::report::{self, Cell, Row, Unit};
use raft_bench::{election, median, Micro, MicroRun, Subject, PAYLOAD_LEN};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Batch sizes of workload 1.
const BATCHES: [usize; 4] = [1, 10, 100, 1000];
/// Batch sizes reported for workload 2.
const ALLOC_BATCHES: [usize; 2] = [1, 100];
/// Batch size whose end-of-run heap is reported as resident memory.
const MEMORY_BATCH: usize = 100;

struct Params {
    smoke: bool,
    election_seeds: u64,
    entries: u64,
    runs: usize,
    micro_runs: usize,
    micro_div: u64,
    callgrind: bool,
}

impl Params {
    fn micro_ops(&self, m: Micro) -> u64 {
        m.full_ops() / self.micro_div
    }
}

/// What one library measured.
struct Measured {
    /// Median entries/s per batch size of [`BATCHES`].
    throughput: Vec<f64>,
    /// (allocations, bytes) per entry in the timed phase, per batch size of [`BATCHES`]
    /// (median over the runs; they are deterministic for a given library build).
    allocs: Vec<(f64, f64)>,
    /// Resident heap bytes per node at the end of the [`MEMORY_BATCH`] run.
    resident_per_node: f64,
    /// Per micro case (order of [`Micro::ALL`]).
    micro: Vec<MicroRun>,
    /// Instructions per op from callgrind, per micro case, if measured.
    instructions: Vec<Option<f64>>,
    /// Most leader ticks any run needed after its timer stopped to apply everything everywhere.
    settle_ticks: u64,
}

/// Raw samples of one library, gathered run by run.
#[derive(Default)]
struct Samples {
    rates: Vec<Vec<f64>>,
    allocs: Vec<Vec<f64>>,
    bytes: Vec<Vec<f64>>,
    resident: Vec<Vec<f64>>,
    settle_ticks: u64,
    micro: Vec<MicroRun>,
}

impl Samples {
    fn new() -> Samples {
        let per_batch = || vec![Vec::new(); BATCHES.len()];
        Samples {
            rates: per_batch(),
            allocs: per_batch(),
            bytes: per_batch(),
            resident: per_batch(),
            ..Samples::default()
        }
    }

    fn throughput<S: Subject>(&mut self, p: &Params, i: usize) {
        let r = S::throughput(BATCHES[i], p.entries);
        self.rates[i].push(p.entries as f64 / r.elapsed.as_secs_f64());
        self.allocs[i].push(r.allocs.allocs as f64 / p.entries as f64);
        self.bytes[i].push(r.allocs.bytes as f64 / p.entries as f64);
        self.resident[i].push(r.resident_bytes as f64 / 3.0);
        self.settle_ticks = self.settle_ticks.max(r.settle_ticks);
    }

    fn micro<S: Subject>(&mut self, p: &Params, case: Micro) {
        let m = S::micro(case, p.micro_ops(case), p.micro_runs);
        eprintln!(
            "{}: {}: {:.1} ns/op, {:.3} allocs/op",
            S::NAME,
            case.label(),
            m.ns_per_op,
            m.allocs_per_op
        );
        self.micro.push(m);
    }

    fn finish<S: Subject>(mut self, p: &Params, lib_key: &str) -> Measured {
        let mut throughput = Vec::new();
        let mut allocs = Vec::new();
        let mut resident_per_node = 0.0;
        for (i, b) in BATCHES.iter().enumerate() {
            let rate = median(&mut self.rates[i]);
            eprintln!("{}: throughput B={b}: {rate:.0} entries/s", S::NAME);
            throughput.push(rate);
            allocs.push((median(&mut self.allocs[i]), median(&mut self.bytes[i])));
            if *b == MEMORY_BATCH {
                resident_per_node = median(&mut self.resident[i]);
            }
        }
        let instructions = Micro::ALL
            .iter()
            .map(|&case| {
                p.callgrind
                    .then(|| callgrind::<S>(case, p.micro_ops(case), lib_key))
                    .flatten()
            })
            .collect();
        Measured {
            throughput,
            allocs,
            resident_per_node,
            micro: self.micro,
            instructions,
            settle_ticks: self.settle_ticks,
        }
    }
}

/// What each subject measured.
struct All {
    rs: Measured,
    core: Measured,
    inproc: Measured,
}

/// Runs every timed workload on raft-rs and on raft-core over both transports, interleaved
/// (each throughput run of raft-rs is followed by the same run of each raft-core, each micro
/// case likewise), so that a change in the machine's load during the run affects every column
/// alike; then the callgrind children.
fn measure_all(p: &Params) -> All {
    let mut rs = Samples::new();
    let mut core = Samples::new();
    let mut inproc = Samples::new();
    for i in 0..BATCHES.len() {
        for _ in 0..p.runs {
            rs.throughput::<RaftRs>(p, i);
            core.throughput::<RaftCoreFrames>(p, i);
            inproc.throughput::<RaftCoreInProcess>(p, i);
        }
    }
    for case in Micro::ALL {
        rs.micro::<RaftRs>(p, case);
        core.micro::<RaftCoreFrames>(p, case);
        inproc.micro::<RaftCoreInProcess>(p, case);
    }
    All {
        rs: rs.finish::<RaftRs>(p, "raft-rs"),
        core: core.finish::<RaftCoreFrames>(p, "raft-core"),
        inproc: inproc.finish::<RaftCoreInProcess>(p, "raft-core-inproc"),
    }
}

/// Runs this executable under callgrind in child mode and returns instructions per op.
fn callgrind<S: Subject>(case: Micro, ops: u64, lib_key: &str) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.join("callgrind");
    std::fs::create_dir_all(&dir).ok()?;
    let out = dir.join(format!("callgrind.out.{lib_key}.{}", case.key()));
    let toggle = format!("--toggle-collect=*{}*", S::loop_symbol(case));
    let status = Command::new("valgrind")
        .args(["--tool=callgrind", "--collect-atstart=no", &toggle])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&exe)
        .args(["--callgrind", case.key(), "--lib", lib_key, "--ops"])
        .arg(ops.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            eprintln!("valgrind for {lib_key} {} exited with {s}", case.key());
            return None;
        }
        Err(e) => {
            eprintln!("valgrind not runnable ({e}); instructions/op skipped");
            return None;
        }
    }
    let ir = callgrind_total(&out)?;
    let per_op = ir as f64 / ops as f64;
    eprintln!(
        "{}: {}: {per_op:.0} instructions/op ({})",
        S::NAME,
        case.label(),
        out.display()
    );
    Some(per_op)
}

/// The collected `Ir` total of a callgrind output file ("totals:" or "summary:" line).
fn callgrind_total(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let pick = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    pick("totals:").or_else(|| pick("summary:"))
}

fn rows(p: &Params, all: &All) -> Vec<Row> {
    let (rs, core, inproc) = (&all.rs, &all.core, &all.inproc);
    let mut rows = Vec::new();
    let val = |f: &dyn Fn(&Measured) -> f64| -> (Cell, Cell, Cell) {
        (
            Cell::Value(f(rs)),
            Cell::Value(f(core)),
            Cell::Value(f(inproc)),
        )
    };
    for (i, b) in BATCHES.iter().enumerate() {
        let (a, c, l) = val(&|m| m.throughput[i]);
        rows.push(Row {
            label: format!("throughput B={b} (entries/s)"),
            unit: Unit::PerSecond,
            raftrs: a,
            raftcore: c,
            inproc: l,
        });
    }
    for b in ALLOC_BATCHES {
        let i = BATCHES
            .iter()
            .position(|&x| x == b)
            .expect("batch measured");
        let (a, c, l) = val(&|m| m.allocs[i].0);
        rows.push(Row {
            label: format!("allocations per entry, B={b}"),
            unit: Unit::Count1,
            raftrs: a,
            raftcore: c,
            inproc: l,
        });
        let (a, c, l) = val(&|m| m.allocs[i].1);
        rows.push(Row {
            label: format!("bytes allocated per entry, B={b}"),
            unit: Unit::Count0,
            raftrs: a,
            raftcore: c,
            inproc: l,
        });
    }
    for (i, case) in Micro::ALL.iter().enumerate() {
        let (a, c, l) = val(&|m| m.micro[i].ns_per_op);
        rows.push(Row {
            label: format!("{} (ns/op)", case.label()),
            unit: Unit::Nanos,
            raftrs: a,
            raftcore: c,
            inproc: l,
        });
        let (a, c, l) = val(&|m| m.micro[i].allocs_per_op);
        rows.push(Row {
            label: format!("{} (allocations/op)", case.label()),
            unit: Unit::Count1,
            raftrs: a,
            raftcore: c,
            inproc: l,
        });
        let instr = |m: &Measured| match m.instructions[i] {
            Some(v) => Cell::Value(v),
            None => Cell::Skipped,
        };
        rows.push(Row {
            label: format!("{} (instructions/op)", case.label()),
            unit: Unit::Count0,
            raftrs: instr(rs),
            raftcore: instr(core),
            inproc: instr(inproc),
        });
    }
    let (a, c, l) = val(&|m| m.resident_per_node);
    rows.push(Row {
        label: format!(
            "resident heap per node at the end of a {}-entry run (bytes)",
            report::thousands(p.entries as i64)
        ),
        unit: Unit::Count0,
        raftrs: a,
        raftcore: c,
        inproc: l,
    });
    let per_entry = raftcore::state_bytes_per_entry()
        + (codec::ENTRY_OVERHEAD as usize + PAYLOAD_LEN + 4) as f64;
    rows.push(Row {
        label: format!(
            "bytes per log entry held (raft-rs: resident / entries; raft-core: core metadata {:.0} \
             + store record {} + store offset 4)",
            raftcore::state_bytes_per_entry(),
            codec::ENTRY_OVERHEAD as usize + PAYLOAD_LEN
        ),
        unit: Unit::Count1,
        raftrs: Cell::Value(rs.resident_per_node / p.entries as f64),
        raftcore: Cell::Value(per_entry),
        inproc: Cell::Value(per_entry),
    });
    rows.push(Row {
        label: format!(
            "raft-core `State<3, {}, {}>` size (bytes; a by-value step copies this)",
            raftcore::LOG,
            raftcore::INFLIGHT
        ),
        unit: Unit::Count0,
        raftrs: Cell::NotApplicable,
        raftcore: Cell::Value(raftcore::state_bytes() as f64),
        inproc: Cell::Value(raftcore::state_bytes() as f64),
    });
    rows
}

fn notes(p: &Params, all: &All) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "- Workloads as in BENCH.md: 3 voters, one thread, one FIFO queue; {} entries of 16 bytes \
         per throughput run, median of {} run(s) on fresh clusters (the three columns' runs \
         interleaved); micro benchmarks: median of {} \
         timed run(s) after a warm-up ({} / {} / {} ops).\n",
        report::thousands(p.entries as i64),
        p.runs,
        p.micro_runs,
        report::thousands(p.micro_ops(Micro::FollowerHeartbeat) as i64),
        report::thousands(p.micro_ops(Micro::LeaderTick) as i64),
        report::thousands(p.micro_ops(Micro::LeaderAppendResponse) as i64),
    ));
    s.push_str(
        "- Allocations count every alloc, alloc_zeroed and realloc of the process during the timed \
         phase, the harness's own included (raft-rs: one `Vec` per proposed payload and the \
         entries `MemStorage::append` copies).\n",
    );
    s.push_str(&format!(
        "- Resident heap: live heap bytes of the three nodes (library state and in-memory log \
         store) at the end of the B={MEMORY_BATCH} run, divided by 3.\n"
    ));
    if p.callgrind {
        s.push_str(
            "- Instructions/op: `valgrind --tool=callgrind --collect-atstart=no \
             --toggle-collect='*NAME*'` around each `#[inline(never)]` loop function \
             (`raftrs_loop_*`, `raftcore_loop_*`), total Ir divided by the ops.\n",
        );
    }
    s.push_str(&format!(
        "- raft-core: `State<3, {log}, {inf}>`, election 10 / heartbeat 3 ticks, PreVote and \
         CheckQuorum on, frames of 65,507 bytes (the codec's maximum), {inf} AppendEntries in \
         flight per follower, inline durability; compaction driven by the harness (it answers \
         `CaptureWanted` with `Captured` at once; the window holds {log} entries, so a node does \
         not keep the whole log, unlike raft-rs' `MemStorage`). Each node is a \
         `raftcore::Engine`, which performs the outputs through the harness's seams (the \
         `RingStore`, a per-node outbox, a counting state machine). Messages travel encoded by \
         `Outgoing::encode` from the sender's `RingStore` into its outbox's arena and are \
         decoded, borrowing, at the receiver. Micro benchmarks: the incoming frame is encoded \
         once by the sender before the loop (raft-rs builds its message struct inside the \
         loop); each operation is the receiver's work: decode the frame, step it through the \
         engine (which performs the outputs, encoding any answer).\n\
         - raft-core in-process: the same, but messages take BENCH.md's cheaper path that the \
         API offers: the `Message` descriptor itself is queued and only its body (the entry \
         records, copied once from the sender's store by `codec::encode_body`) goes into the \
         arena; the receiver attaches it with `codec::attach_body`, which checks it as decoding \
         does. No head is encoded or decoded; entries are still copied once, as raft-rs clones \
         its entry `Vec`s.\n",
        log = raftcore::LOG,
        inf = raftcore::INFLIGHT,
    ));
    s.push_str(
        "- Resident heap, raft-core: its boxed `State`, boxed `RingStore` and the store's \
         1 MiB ring, all fixed-size (they do not grow with the log).\n",
    );
    let settle_ticks = all.core.settle_ticks.max(all.inproc.settle_ticks);
    if settle_ticks > 0 {
        s.push_str(&format!(
            "- DEVIATION: after the last drive() of a raft-core run, node 3 had not applied the \
             last entry: the leader's commit-only AppendEntries is anchored at the follower's \
             match index, so the follower whose acknowledgement arrives after the commit learns \
             the final commit only from the next heartbeat. The harness then ticked the leader \
             (untimed, at most {} ticks in any run) until every node had applied everything.\n",
            settle_ticks
        ));
    }
    if p.smoke {
        s.push_str("- SMOKE RUN: small counts, timings meaningless.\n");
    }
    s
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut smoke = false;
    let mut callgrind = true;
    let mut markdown: Option<PathBuf> = None;
    let mut child: Option<Micro> = None;
    let mut lib = String::from("raft-rs");
    let mut ops: Option<u64> = None;
    let mut throughput_child: Option<usize> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .unwrap_or_else(|| die(&format!("{name} needs a value")))
                .clone()
        };
        match a.as_str() {
            "--smoke" => smoke = true,
            "--no-callgrind" => callgrind = false,
            "--markdown" => markdown = Some(PathBuf::from(val("--markdown"))),
            "--callgrind" => {
                let k = val("--callgrind");
                child =
                    Some(Micro::from_key(&k).unwrap_or_else(|| die(&format!("unknown case {k}"))));
            }
            "--lib" => lib = val("--lib"),
            "--throughput" => {
                throughput_child = Some(
                    val("--throughput")
                        .parse()
                        .unwrap_or_else(|_| die("--throughput needs a batch size")),
                )
            }
            "--ops" => {
                ops = Some(
                    val("--ops")
                        .parse()
                        .unwrap_or_else(|_| die("--ops needs a number")),
                )
            }
            "-h" | "--help" => {
                println!("usage: bench [--smoke] [--no-callgrind] [--markdown FILE] | --callgrind CASE --lib raft-rs|raft-core|raft-core-inproc [--ops N]");
                return;
            }
            other => die(&format!("unknown argument {other}")),
        }
    }

    if let Some(b) = throughput_child {
        // One throughput run, for profiling (`--toggle-collect='*throughput*'`).
        let entries = ops.unwrap_or(100_000);
        let r = match lib.as_str() {
            "raft-rs" => RaftRs::throughput(b, entries),
            "raft-core" => RaftCoreFrames::throughput(b, entries),
            "raft-core-inproc" => RaftCoreInProcess::throughput(b, entries),
            other => die(&format!("unknown library {other}")),
        };
        println!(
            "{lib} B={b}: {:.0} entries/s, {} allocations",
            entries as f64 / r.elapsed.as_secs_f64(),
            r.allocs.allocs
        );
        return;
    }
    if let Some(case) = child {
        let ops = ops.unwrap_or(case.full_ops());
        match lib.as_str() {
            "raft-rs" => RaftRs::micro_once(case, ops),
            "raft-core" => RaftCoreFrames::micro_once(case, ops),
            "raft-core-inproc" => RaftCoreInProcess::micro_once(case, ops),
            other => die(&format!("unknown library {other}")),
        }
        return;
    }

    assert!(counting::installed(), "counting allocator installed");
    let p = if smoke {
        Params {
            smoke,
            election_seeds: 20,
            entries: 2_000,
            runs: 1,
            micro_runs: 1,
            micro_div: 100,
            callgrind: false,
        }
    } else {
        Params {
            smoke,
            election_seeds: 1_000,
            entries: 100_000,
            runs: 3,
            micro_runs: 7,
            micro_div: 1,
            callgrind,
        }
    };

    let t0 = Instant::now();
    let all = measure_all(&p);
    let rs = &all.rs;

    // Deterministic sanity checks (never wall-clock): the counting allocator sees raft-rs'
    // allocations, so a zero for raft-core means zero.
    assert!(
        rs.allocs.iter().all(|&(a, _)| a >= 1.0),
        "raft-rs allocates per entry; counter broken?"
    );

    // raft-core allocates nothing: not per committed entry (timed phase of every batch size,
    // the harness's store and network included) and not per micro operation.
    for core in [&all.core, &all.inproc] {
        for (b, &(a, _)) in BATCHES.iter().zip(&core.allocs) {
            assert_eq!(a, 0.0, "raft-core allocated {a} times per entry at B={b}");
        }
        for (case, m) in Micro::ALL.iter().zip(&core.micro) {
            assert_eq!(
                m.allocs_per_op,
                0.0,
                "raft-core allocated in {}",
                case.label()
            );
        }
    }
    eprintln!("asserted: raft-core made 0 heap allocations in every timed phase");

    let mut elections = String::new();
    elections.push_str(&format!(
        "Election latency in raft-core's simulator: ticks from the loss of the leader to a new \
         leader, {} seeds, 3 nodes, election timeout {} ticks (each drawn from [{}, {})), heartbeat \
         {} ticks, CheckQuorum on (raft-rs has no equivalent simulator: not measured for it).\n\n\
         | PreVote | p50 | p99 | max |\n|---|---:|---:|---:|\n",
        report::thousands(p.election_seeds as i64),
        election::ELECTION_TICKS,
        election::ELECTION_TICKS,
        2 * election::ELECTION_TICKS,
        election::HEARTBEAT_TICKS,
    ));
    for pre_vote in [true, false] {
        let l = election::latency(pre_vote, p.election_seeds)
            .unwrap_or_else(|e| die(&format!("election latency: {e}")));
        eprintln!("raft-core: election latency pre_vote={pre_vote}: {l:?}");
        elections.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            if pre_vote { "on" } else { "off" },
            l.p50,
            l.p99,
            l.max
        ));
    }

    let table = report::markdown(&rows(&p, &all));
    let notes = notes(&p, &all);
    println!("{table}");
    println!("{notes}");
    println!("{elections}");
    eprintln!("total time {:.1}s", t0.elapsed().as_secs_f64());
    if let Some(path) = markdown {
        std::fs::write(&path, format!("{table}\n{notes}\n{elections}"))
            .unwrap_or_else(|e| die(&format!("write {}: {e}", path.display())));
    }
}

fn die(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    std::process::exit(2)
}
