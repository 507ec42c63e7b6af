//! One measured point: N closed-loop workers against one system for a fixed time, with the
//! servers' CPU time, fsync and `Busy` counters, UDP drops and (for puts) a strace window on
//! the leader read around it.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::backend::Cluster;
use crate::procstat;
use crate::strace::{self, Syscalls};
use crate::worker::{self, Shape, Shared, WorkerStats, Workload};

/// Which point to run, and how.
#[derive(Debug, Clone)]
pub struct Spec {
    /// What the workers do.
    pub workload: Workload,
    /// Closed-loop clients (one thread and one session each).
    pub clients: usize,
    /// Unrecorded time before the measurement.
    pub warmup: Duration,
    /// The measured time.
    pub measure: Duration,
    /// Keys and value size.
    pub shape: Shape,
    /// The strace window on the leader after the measurement (puts only), if any, and where
    /// its table goes.
    pub strace: Option<(Duration, PathBuf)>,
    /// Seeds the workers' generators.
    pub seed: u64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Latency {
    /// The percentiles of `us` (microseconds; sorted in place); zeros if empty.
    pub fn of(us: &mut [u32]) -> Latency {
        us.sort_unstable();
        let at = |p: f64| -> f64 {
            if us.is_empty() {
                return 0.0;
            }
            let k = ((us.len() as f64 * p).ceil() as usize).clamp(1, us.len()) - 1;
            f64::from(us[k]) / 1000.0
        };
        Latency {
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
        }
    }
}

/// What one point measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The system's name.
    pub system: &'static str,
    /// The workload.
    pub workload: Workload,
    /// Closed-loop clients.
    pub clients: usize,
    /// Requests answered while measuring, per second.
    pub ops_per_s: f64,
    /// Latency of every request answered while measuring (puts and gets together).
    pub latency: Latency,
    /// CPU time per request of the leader, the two followers (summed) and this generator, µs.
    pub cpu_us: [f64; 3],
    /// The leader's and all members' WAL fsyncs per acknowledged put (NaN without puts).
    pub fsyncs_per_put: [f64; 2],
    /// Syscalls per acknowledged put on the leader in the strace window, and the window.
    pub syscalls: Option<(f64, Syscalls, u64)>,
    /// `Busy` answers the servers counted (NaN where they keep no such counter).
    pub busy_server: f64,
    /// Overload refusals the workers saw.
    pub busy_client: u64,
    /// Failed requests other than overload refusals.
    pub errors: u64,
    /// Backoff sleeps taken by the workers.
    pub backoffs: u64,
    /// The first failure's text.
    pub first_error: Option<String>,
    /// Datagrams the kernel dropped on the members' sockets (None: not a UDP system).
    pub udp_drops: Option<u64>,
    /// Load averages at the end of the point.
    pub load: String,
    /// Whether the leader changed during the point.
    pub leader_changed: bool,
}

struct Sample {
    cpu: Vec<Option<f64>>,
    own: Option<f64>,
    at: Instant,
}

fn sample(cluster: &dyn Cluster) -> Sample {
    Sample {
        cpu: cluster
            .pids()
            .iter()
            .map(|&p| procstat::cpu_seconds(p))
            .collect(),
        own: procstat::own_cpu_seconds(),
        at: Instant::now(),
    }
}

/// Runs one point against `cluster`.
pub fn run(cluster: &dyn Cluster, spec: &Spec) -> Result<Outcome, String> {
    let leader = cluster.leader()?;
    let shared = Arc::new(Shared::default());
    shared.phase.store(worker::WARMUP, Ordering::Release);
    let ready = Arc::new(Barrier::new(spec.clients + 1));
    let mut sessions = Vec::with_capacity(spec.clients);
    for _ in 0..spec.clients {
        sessions.push(cluster.session(leader)?);
    }
    let workers: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(i, mut session)| {
            let (shared, ready) = (shared.clone(), ready.clone());
            let (workload, shape) = (spec.workload, spec.shape);
            let seed = spec.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    ready.wait();
                    worker::run(session.as_mut(), workload, shape, seed, &shared)
                })
                .map_err(|e| format!("cannot start worker {i}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    ready.wait();
    std::thread::sleep(spec.warmup);

    let ports = cluster.udp_ports();
    let drops0 = procstat::udp_drops(&ports);
    let c0 = cluster.counters(leader)?;
    let s0 = sample(cluster);
    shared.phase.store(worker::MEASURE, Ordering::Release);
    std::thread::sleep(spec.measure);
    shared.phase.store(worker::WINDOW, Ordering::Release);
    let s1 = sample(cluster);
    let c1 = cluster.counters(leader)?;
    let drops1 = procstat::udp_drops(&ports);
    let load = procstat::loadavg();

    let mut syscalls = None;
    if let (Workload::Put, Some((window, out))) = (spec.workload, &spec.strace) {
        // The leader of the moment (it may have changed while measuring); a window in which
        // it changes again is thrown away.
        let traced = cluster.leader()?;
        let (mut before, mut after) = (0, 0);
        let counted = strace::count(
            cluster.pids()[traced],
            *window,
            out,
            || before = shared.window_puts.load(Ordering::Relaxed),
            || after = shared.window_puts.load(Ordering::Relaxed),
        );
        let puts = after - before;
        match counted {
            Ok(_) if cluster.leader()? != traced => {
                eprintln!("strace window: the leader changed; no syscall count")
            }
            Ok(s) if puts > 0 => syscalls = Some((s.total as f64 / puts as f64, s, puts)),
            Ok(_) => eprintln!("strace window: no put acknowledged"),
            Err(e) => eprintln!("strace window: {e}"),
        }
    }
    shared.phase.store(worker::STOP, Ordering::Release);
    let mut all = WorkerStats::default();
    for w in workers {
        let s = w.join().map_err(|_| "a worker panicked")?;
        all.puts.extend(s.puts);
        all.gets.extend(s.gets);
        all.errors += s.errors;
        all.busy += s.busy;
        all.backoffs += s.backoffs;
        all.first_error = all.first_error.or(s.first_error);
    }
    let leader_changed = cluster.leader()? != leader;

    let secs = s1.at.duration_since(s0.at).as_secs_f64();
    let puts = all.puts.len() as u64;
    let mut lat: Vec<u32> = all.puts;
    lat.extend(all.gets);
    let ops = lat.len() as f64;
    let per_op = |d: f64| if ops > 0.0 { d * 1e6 / ops } else { f64::NAN };
    let delta = |k: usize| match (s0.cpu[k], s1.cpu[k]) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    let followers: f64 = (0..s0.cpu.len()).filter(|&k| k != leader).map(delta).sum();
    let own = match (s0.own, s1.own) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    let per_put = |d: f64| {
        if puts > 0 {
            d / puts as f64
        } else {
            f64::NAN
        }
    };
    Ok(Outcome {
        system: cluster.name(),
        workload: spec.workload,
        clients: spec.clients,
        ops_per_s: ops / secs,
        latency: Latency::of(&mut lat),
        cpu_us: [per_op(delta(leader)), per_op(followers), per_op(own)],
        fsyncs_per_put: [
            per_put(c1.leader_fsyncs - c0.leader_fsyncs),
            per_put(c1.all_fsyncs - c0.all_fsyncs),
        ],
        syscalls,
        busy_server: c1.busy - c0.busy,
        busy_client: all.busy,
        errors: all.errors,
        backoffs: all.backoffs,
        first_error: all.first_error,
        udp_drops: match (drops0, drops1, ports.is_empty()) {
            (Some(a), Some(b), false) => Some(b.saturating_sub(a)),
            _ => None,
        },
        load,
        leader_changed,
    })
}

#[cfg(test)]
mod test {
    use super::Latency;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut us: Vec<u32> = (1..=1000).rev().map(|i| i * 1000).collect();
        let l = Latency::of(&mut us);
        assert_eq!((l.p50, l.p99, l.p999, l.max), (500.0, 990.0, 999.0, 1000.0));
        assert_eq!(Latency::of(&mut []).max, 0.0);
    }
}
