//! The markdown tables of a run.

use std::fmt::Write;

use crate::point::Outcome;
use crate::worker::Workload;

fn num(x: f64, digits: usize) -> String {
    if x.is_nan() {
        "–".into()
    } else {
        format!("{x:.digits$}")
    }
}

fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The table of every point, in the order run.
pub fn points(outcomes: &[Outcome]) -> String {
    let mut t = String::from(
        "| workload | clients | system | ops/s | p50 ms | p99 ms | p999 ms | max ms \
         | CPU µs/op: leader / followers / generator | fsyncs/put: leader (all) \
         | syscalls/put (leader) | Busy: server / client | errors (backoffs) | UDP drops | load 1/5/15 |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---|---|---:|---|---:|---:|---|\n",
    );
    for o in outcomes {
        let l = o.latency;
        let busy_server = if o.busy_server.is_nan() {
            "–".into()
        } else {
            num(o.busy_server, 0)
        };
        let _ = writeln!(
            t,
            "| {} | {} | {}{} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} / {} / {} | {} ({}) | {} | {} / {} | {} ({}) | {} | {} |",
            o.workload.label(),
            o.clients,
            o.system,
            if o.leader_changed { " (leader changed)" } else { "" },
            thousands(o.ops_per_s),
            l.p50,
            l.p99,
            l.p999,
            l.max,
            num(o.cpu_us[0], 1),
            num(o.cpu_us[1], 1),
            num(o.cpu_us[2], 1),
            num(o.fsyncs_per_put[0], 3),
            num(o.fsyncs_per_put[1], 3),
            o.syscalls
                .as_ref()
                .map_or("–".into(), |(per, _, _)| num(*per, 1)),
            busy_server,
            o.busy_client,
            o.errors,
            o.backoffs,
            o.udp_drops.map_or("–".into(), |d| d.to_string()),
            o.load,
        );
    }
    t
}

/// Ours against etcd: ops/s of each, and the ratio, per workload and client count.
pub fn ratios(outcomes: &[Outcome], ours: &str, theirs: &str) -> String {
    let mut clients: Vec<usize> = outcomes.iter().map(|o| o.clients).collect();
    clients.sort_unstable();
    clients.dedup();
    let mut t = String::from("| workload |");
    for c in &clients {
        let _ = write!(t, " {c} clients |");
    }
    t.push_str("\n|---|");
    t.push_str(&"---:|".repeat(clients.len()));
    t.push('\n');
    for w in [Workload::Put, Workload::Get, Workload::Mix] {
        if !outcomes.iter().any(|o| o.workload == w) {
            continue;
        }
        let _ = write!(t, "| {} |", w.label());
        for &c in &clients {
            let find = |s: &str| {
                outcomes
                    .iter()
                    .find(|o| o.workload == w && o.clients == c && o.system == s)
            };
            match (find(ours), find(theirs)) {
                (Some(a), Some(b)) if b.ops_per_s > 0.0 => {
                    let _ = write!(
                        t,
                        " {} / {} = **{:.1}x** |",
                        thousands(a.ops_per_s),
                        thousands(b.ops_per_s),
                        a.ops_per_s / b.ops_per_s
                    );
                }
                _ => t.push_str(" – |"),
            }
        }
        t.push('\n');
    }
    t
}

/// The strace windows: syscalls per put on the leader, the most frequent ones.
pub fn syscalls(outcomes: &[Outcome]) -> String {
    let mut t = String::new();
    for o in outcomes {
        let Some((per, s, puts)) = &o.syscalls else {
            continue;
        };
        let top: Vec<String> = s
            .top
            .iter()
            .map(|(name, calls)| format!("{name} {:.2}", *calls as f64 / *puts as f64))
            .collect();
        let _ = writeln!(
            t,
            "- {} at {} clients: {:.1} syscalls per put ({} syscalls over {} puts): {}",
            o.system,
            o.clients,
            per,
            s.total,
            puts,
            top.join(", ")
        );
    }
    t
}

#[cfg(test)]
mod test {
    use super::thousands;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1234.0), "1,234");
        assert_eq!(thousands(17330.0), "17,330");
        assert_eq!(thousands(1234567.0), "1,234,567");
    }
}
