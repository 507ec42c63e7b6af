//! Syscalls of one process over a window: `strace -c -f -p PID` (every thread), the window
//! starting once every thread is traced and ending when strace is interrupted, its summary
//! table read back.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one strace window counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscalls {
    /// Every syscall of the process (all threads) in the window.
    pub total: u64,
    /// The most frequent syscalls, (name, calls), most first.
    pub top: Vec<(String, u64)>,
}

/// Whether every thread of `pid` has a tracer (`TracerPid` in its status is not 0).
fn all_traced(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut any = false;
    for t in tasks.flatten() {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        let tracer = status
            .lines()
            .find_map(|l| l.strip_prefix("TracerPid:"))
            .map(str::trim);
        match tracer {
            Some("0") | None => return false,
            Some(_) => any = true,
        }
    }
    any
}

/// Traces `pid` with `strace -c -f`: once every thread is traced, calls `start`, waits
/// `window`, calls `end`, interrupts strace and returns its counts (the table kept at `out`).
pub fn count(
    pid: u32,
    window: Duration,
    out: &Path,
    start: impl FnOnce(),
    end: impl FnOnce(),
) -> Result<Syscalls, String> {
    let mut child = Command::new("strace")
        .args(["-c", "-f", "-q", "-p", &pid.to_string(), "-o"])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run strace: {e}"))?;
    let attach = Instant::now();
    while !all_traced(pid) {
        if attach.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "strace did not attach to every thread of {pid} in 10 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    start();
    std::thread::sleep(window);
    end();
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .map_err(|e| format!("cannot signal strace: {e}"))?;
    let stop = Instant::now();
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(s) => break s,
            None if stop.elapsed() > Duration::from_secs(20) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("strace did not stop within 20 s of SIGINT".into());
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    if !interrupted.success() {
        return Err(format!("strace ended before the window closed ({status})"));
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
    top.sort_by_key(|t| std::cmp::Reverse(t.1));
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
