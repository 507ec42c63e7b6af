//! Reads a Prometheus text endpoint (etcd's `/metrics`) over plain HTTP/1.0 on loopback.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The body of `GET /metrics` at `addr`.
pub fn scrape(addr: SocketAddr) -> Result<String, String> {
    let timeout = Duration::from_secs(5);
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .and_then(|()| s.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("{addr}: {e}"))?;
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n")
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut text = String::new();
    s.read_to_string(&mut text)
        .map_err(|e| format!("{addr}: {e}"))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{addr}: no HTTP header end"))?;
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{addr}: /metrics answered `{status}`"));
    }
    Ok(body.to_string())
}

/// The value of the unlabelled sample `name` in Prometheus text `body`.
pub fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok())?
    })
}

#[cfg(test)]
mod test {
    use super::sample;

    #[test]
    fn finds_an_unlabelled_sample_and_nothing_else() {
        let body = "# HELP x_count help\n# TYPE x_count counter\nx_count 42\nx_count_total 7\n\
                    y{a=\"b\"} 3\netcd_server_is_leader 1\n";
        assert_eq!(sample(body, "x_count"), Some(42.0));
        assert_eq!(sample(body, "etcd_server_is_leader"), Some(1.0));
        assert_eq!(sample(body, "y"), None);
        assert_eq!(sample(body, "z"), None);
    }
}
