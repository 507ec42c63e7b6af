//! `raft-node --metrics-addr`: real node processes serve every figure of the Prometheus
//! endpoint with sane values, and the endpoint shrugs off bad requests while the node runs on.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::{eventually, leader_client, put_nth, raft_node};
use raft_std_driver::local::LocalCluster;
use raft_std_driver::metrics::scrape;

/// The leader's series of the role gauge.
const LEADER: &str = "raft_role{role=\"leader\"}";

/// One scrape's samples: `name{labels}` -> value.
type Samples = BTreeMap<String, f64>;

fn parse(text: &str) -> Samples {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn scrape_node(cluster: &LocalCluster, id: u32) -> Option<Samples> {
    let addr = cluster.nodes[id as usize - 1].metrics?;
    scrape(addr, Duration::from_secs(2)).ok().map(|t| parse(&t))
}

/// The value of `series`, or a failure naming the node and the series.
fn value(s: &Samples, id: u32, series: &str) -> f64 {
    *s.get(series)
        .unwrap_or_else(|| panic!("node {id}: no `{series}` in {s:#?}"))
}

/// Sends `request` and returns whatever comes back before the server closes (bounded).
fn http(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn every_figure_is_served_with_sane_values() {
    let mut cluster = LocalCluster::start_with_metrics(raft_node(), 3, 0).unwrap();
    let (mut client, _, _) = leader_client(&mut cluster);
    const WRITES: u32 = 5;
    for i in 0..WRITES {
        put_nth(&mut client, i);
    }
    // Too short to be a datagram: the transport drops it as malformed.
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(b"x", cluster.nodes[0].addr)
        .unwrap();
    let mut scrapes: Vec<Samples> = Vec::new();
    let settled = eventually(20, || {
        scrapes = (1..=3).filter_map(|id| scrape_node(&cluster, id)).collect();
        let malformed = "raft_datagrams_dropped_total{layer=\"transport\",reason=\"malformed\"}";
        scrapes.len() == 3
            && scrapes.iter().all(|s| {
                // The writes and at least one leader's empty entry.
                s.get("raft_applied_index").copied().unwrap_or(0.0) > f64::from(WRITES)
                    && s.get("raft_fsync_duration_seconds_count").copied() > Some(0.0)
            })
            && scrapes[0].get(malformed).copied() >= Some(1.0)
            && scrapes
                .iter()
                .filter(|s| s.get(LEADER) == Some(&1.0))
                .count()
                == 1
    });
    assert!(settled, "the scrapes did not settle: {scrapes:#?}");

    let leaders: Vec<u32> = (1..=3u32)
        .filter(|&id| value(&scrapes[id as usize - 1], id, LEADER) == 1.0)
        .collect();
    assert_eq!(leaders.len(), 1, "exactly one leader: {leaders:?}");
    let leader = leaders[0];
    for id in 1..=3u32 {
        let s = &scrapes[id as usize - 1];
        let roles: f64 = ["follower", "pre-candidate", "candidate", "leader"]
            .iter()
            .map(|r| value(s, id, &format!("raft_role{{role=\"{r}\"}}")))
            .sum();
        assert_eq!(roles, 1.0, "node {id}: one role at a time");
        assert!(value(s, id, "raft_term") >= 1.0);
        assert_eq!(
            value(s, id, "raft_leader_id"),
            f64::from(leader),
            "node {id}"
        );
        let commit = value(s, id, "raft_commit_index");
        assert!(commit >= f64::from(WRITES), "node {id}: commit {commit}");
        assert!(value(s, id, "raft_applied_index") <= commit, "node {id}");
        assert!(value(s, id, "raft_last_index") >= commit, "node {id}");
        let syncs = value(s, id, "raft_fsync_duration_seconds_count");
        assert_eq!(
            value(s, id, "raft_fsync_duration_seconds_bucket{le=\"+Inf\"}"),
            syncs
        );
        assert!(value(s, id, "raft_fsync_duration_seconds_sum") > 0.0);
        assert!(value(s, id, "raft_datagrams_accepted_total") > 0.0);
        for (layer, reason) in [
            ("transport", "bad_tag"),
            ("driver", "bad_payload"),
            ("kernel", "receive_buffer_full"),
        ] {
            value(
                s,
                id,
                &format!("raft_datagrams_dropped_total{{layer=\"{layer}\",reason=\"{reason}\"}}"),
            );
        }
        let lags: Vec<&String> = s
            .keys()
            .filter(|k| k.starts_with("raft_replication_lag_entries{"))
            .collect();
        if id == leader {
            for peer in (1..=3).filter(|&p| p != leader) {
                let lag = value(
                    s,
                    id,
                    &format!("raft_replication_lag_entries{{peer=\"{peer}\"}}"),
                );
                assert!(lag >= 0.0 && lag <= commit, "peer {peer}: lag {lag}");
            }
        } else {
            assert!(lags.is_empty(), "node {id} is no leader: {lags:?}");
        }
    }
    // A leader change midway would split the accepted proposals between two leaders.
    let accepted: f64 = (1..=3u32)
        .map(|id| {
            value(
                &scrapes[id as usize - 1],
                id,
                "raft_proposals_total{outcome=\"accepted\"}",
            )
        })
        .sum();
    assert!(
        accepted >= f64::from(WRITES),
        "accepted proposals: {accepted}"
    );
}

#[test]
fn bad_requests_get_errors_and_the_node_runs_on() {
    let mut cluster = LocalCluster::start_with_metrics(raft_node(), 1, 0).unwrap();
    let (mut client, _, _) = leader_client(&mut cluster);
    let addr = cluster.nodes[0].metrics.unwrap();
    assert!(http(addr, b"GET /other HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 404"));
    assert!(http(addr, b"POST /metrics HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 405"));
    http(addr, b"\x00\xffnot http at all\r\n\r\n");
    drop(TcpStream::connect(addr).unwrap());
    put_nth(&mut client, 1);
    // The node publishes its figures every 100 ms.
    let mut text = String::new();
    let led = eventually(10, || {
        text = scrape(addr, Duration::from_secs(2)).unwrap();
        text.contains("raft_role{role=\"leader\"} 1")
    });
    assert!(led, "{text}");
    assert!(cluster.is_running(1));
}

#[test]
fn no_endpoint_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = &common::configs(dir.path(), 1, "ab", |_| {})[0];
    assert_eq!(cfg.metrics_addr, None);
}

#[test]
fn the_demo_prints_a_scrape_with_every_figure() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_raft-demo"))
        .args(["--writes", "20", "--metrics-port", "0"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for figure in [
        "raft_role{role=\"leader\"} 1",
        "raft_term ",
        "raft_leader_id ",
        "raft_commit_index ",
        "raft_applied_index ",
        "raft_replication_lag_entries{peer=",
        "raft_fsync_duration_seconds_count ",
        "raft_proposals_total{outcome=\"accepted\"} ",
        "raft_datagrams_dropped_total{layer=\"transport\",reason=\"bad_tag\"} ",
    ] {
        assert!(stdout.contains(figure), "no `{figure}` in {stdout}");
    }
}
