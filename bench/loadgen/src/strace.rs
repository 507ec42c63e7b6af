//! Syscalls of one process over a short window: `strace -c -f -p PID` (every thread), stopped
//! with SIGINT by `timeout`, its summary table read back.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// What one strace window counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscalls {
    /// Every syscall of the process (all threads) in the window.
    pub total: u64,
    /// The most frequent syscalls, (name, calls), most first.
    pub top: Vec<(String, u64)>,
}

/// Traces `pid` for `window` and returns its syscall counts; the table is kept at `out`.
pub fn count(pid: u32, window: Duration, out: &Path) -> Result<Syscalls, String> {
    let status = Command::new("timeout")
        .args(["-s", "INT", &format!("{:.3}", window.as_secs_f64())])
        .args(["strace", "-c", "-f", "-q", "-p", &pid.to_string(), "-o"])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run strace: {e}"))?;
    // `timeout` exits 124 when it had to interrupt strace, which is the normal end here.
    if !matches!(status.code(), Some(0 | 124)) {
        return Err(format!("strace on pid {pid} ended with {status}"));
    }
    let text = std::fs::read_to_string(out).map_err(|e| format!("{}: {e}", out.display()))?;
    parse(&text).ok_or_else(|| format!("no summary in {}", out.display()))
}

/// The `strace -c` summary: calls are the fourth column, the name the last.
fn parse(text: &str) -> Option<Syscalls> {
    let mut total = None;
    let mut top = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || f[0].parse::<f64>().is_err() {
            continue;
        }
        let calls: u64 = f[3].parse().ok()?;
        let name = *f.last()?;
        if name == "total" {
            total = Some(calls);
        } else {
            top.push((name.to_string(), calls));
        }
    }
    top.sort_by(|a, b| b.1.cmp(&a.1));
    top.truncate(6);
    Some(Syscalls { total: total?, top })
}

#[cfg(test)]
mod test {
    use super::parse;

    #[test]
    fn reads_the_total_and_the_most_frequent() {
        let text = "% time     seconds  usecs/call     calls    errors syscall\n\
------ ----------- ----------- --------- --------- ----------------\n\
 60.00    0.006000          10       600           sendto\n\
 30.00    0.003000           3      1000       200 recvfrom\n\
 10.00    0.001000          50        20           fdatasync\n\
------ ----------- ----------- --------- --------- ----------------\n\
100.00    0.010000           6      1620       200 total\n";
        let s = parse(text).unwrap();
        assert_eq!(s.total, 1620);
        assert_eq!(s.top[0], ("recvfrom".to_string(), 1000));
        assert_eq!(s.top.len(), 3);
        assert!(parse("nothing here").is_none());
    }
}
