//! `GET /metrics` over HTTP on a thread of its own ([`MetricsServer`]), and the small client
//! the tests and `raft-demo` scrape it with ([`scrape`]).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tiny_http::{Header, Method, Request, Response, Server};

use super::{encode, MetricsFeed};

/// The endpoint: an HTTP listener and the thread answering it. Dropping it stops both.
pub struct MetricsServer {
    server: Arc<Server>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Listens on `addr` (port 0: any free port) and answers `GET /metrics` with `feed`'s
    /// latest figures, `404` for other paths and `405` for other methods.
    pub fn start(addr: SocketAddr, feed: MetricsFeed) -> io::Result<MetricsServer> {
        let server = Arc::new(Server::http(addr).map_err(io::Error::other)?);
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("not an IP listener"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new().name("metrics".into()).spawn({
            let (server, stop) = (server.clone(), stop.clone());
            move || serve(&server, &feed, &stop)
        })?;
        Ok(MetricsServer {
            server,
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers requests one at a time until stopped. Nothing a client sends can end it.
fn serve(server: &Server, feed: &MetricsFeed, stop: &AtomicBool) {
    loop {
        match server.recv() {
            Ok(req) => answer(req, feed),
            Err(_) if stop.load(Ordering::SeqCst) => return,
            Err(e) => {
                // E.g. out of file descriptors while accepting: wait, then go on.
                tracing::debug!(error = %e, "metrics endpoint");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn answer(req: Request, feed: &MetricsFeed) {
    let path = req.url().split('?').next().unwrap_or_default();
    let (status, body, content_type) = if path != "/metrics" {
        (
            404,
            "not found: the metrics are at /metrics\n".to_string(),
            "text/plain",
        )
    } else if !matches!(req.method(), Method::Get | Method::Head) {
        (405, "only GET\n".to_string(), "text/plain")
    } else {
        match feed.latest().map(|f| encode::render(&f)) {
            Some(Ok(text)) => (200, text, encode::CONTENT_TYPE),
            Some(Err(_)) => (500, "cannot encode the metrics\n".into(), "text/plain"),
            None => (503, "no figures published yet\n".into(), "text/plain"),
        }
    };
    let mut response = Response::from_string(body).with_status_code(status);
    if let Ok(h) = Header::from_bytes("Content-Type", content_type) {
        response.add_header(h);
    }
    if let Err(e) = req.respond(response) {
        tracing::debug!(error = %e, "metrics endpoint: cannot answer");
    }
}

/// `GET http://addr/metrics`: the body of a `200` answer, each step bounded by `timeout`.
pub fn scrape(addr: SocketAddr, timeout: Duration) -> io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other("no end of headers"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split(' ').nth(1) != Some("200") {
        return Err(io::Error::other(format!("answered `{status}`")));
    }
    Ok(body.to_string())
}
