//! Counters the kernel keeps: CPU time of a process (`/proc/<pid>/stat`), UDP receive drops of a
//! socket (`/proc/net/udp`), and the load average.

/// The kernel's clock ticks per second for `/proc/<pid>/stat` times (`USER_HZ`, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// `pid`'s CPU time so far (user + system, every thread), in seconds; `None` if unreadable.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu(&text)
}

/// This process's CPU time so far, in seconds.
pub fn own_cpu_seconds() -> Option<f64> {
    parse_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// For each of `pids`, whether it is running (not exited, not a zombie waiting to be reaped).
pub fn alive(pids: &[u32]) -> Vec<bool> {
    pids.iter()
        .map(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|t| Some(t[t.rfind(')')? + 1..].trim_start().starts_with('Z')))
                == Some(false)
        })
        .collect()
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line, in seconds.
fn parse_cpu(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// Datagrams the kernel dropped on the UDP sockets bound to 127.0.0.1 at `ports` (the
/// receive buffer was full), summed; `None` if `/proc/net/udp` is unreadable.
pub fn udp_drops(ports: &[u16]) -> Option<u64> {
    Some(parse_udp_drops(
        &std::fs::read_to_string("/proc/net/udp").ok()?,
        ports,
    ))
}

fn parse_udp_drops(table: &str, ports: &[u16]) -> u64 {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (_, port) = f.get(1)?.split_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            ports
                .contains(&port)
                .then(|| f.last()?.parse::<u64>().ok())?
        })
        .sum()
}

/// The 1-, 5- and 15-minute load averages as `/proc/loadavg` gives them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn cpu_time_is_fields_14_and_15() {
        let line = "4242 (raft node) S 1 2 3 4 5 6 7 8 9 10 250 130 0 0 20 0 9 0 100 0";
        assert_eq!(parse_cpu(line), Some(3.8));
        assert_eq!(parse_cpu("garbage"), None);
    }

    #[test]
    fn drops_are_the_last_column_of_the_matching_ports() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  1: 0100007F:6979 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 17\n\
  2: 0100007F:697A 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 5\n\
  3: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 99\n";
        assert_eq!(parse_udp_drops(table, &[0x6979, 0x697A]), 22);
        assert_eq!(parse_udp_drops(table, &[1]), 0);
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        assert!(own_cpu_seconds().is_some());
        assert!(cpu_seconds(std::process::id()).is_some());
    }

    #[test]
    fn this_process_is_alive_and_an_exited_child_is_not() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        // Exited but not reaped: a zombie, which is not running.
        while std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|t| !t[t.rfind(')').unwrap() + 1..].trim_start().starts_with('Z'))
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(alive(&[std::process::id(), pid]), vec![true, false]);
        child.wait().expect("reap");
        assert_eq!(alive(&[pid]), vec![false]);
    }
}
