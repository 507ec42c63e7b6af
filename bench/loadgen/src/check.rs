//! The correctness smoke (CI): a few workers, each the only writer of its own keys, mix puts and
//! linearizable gets; every get must return the worker's last acknowledged put, every request
//! must succeed, and afterwards a fresh session must read every acknowledged put back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::backend::Cluster;

/// What a check run saw.
#[derive(Debug, Default)]
pub struct Report {
    /// Puts acknowledged.
    pub puts: u64,
    /// Gets answered (each compared with the last acknowledged put).
    pub gets: u64,
    /// Keys read back at the end.
    pub read_back: u64,
    /// Everything that went wrong: failed requests and wrong values.
    pub problems: Vec<String>,
}

/// Runs the check on `cluster` for `secs` with `clients` workers over `keys` keys of
/// `value_size`-byte values, under a key prefix of this run's own.
pub fn run(
    cluster: &dyn Cluster,
    clients: usize,
    keys: u32,
    value_size: usize,
    run_for: Duration,
) -> Result<Report, String> {
    let clients = clients.max(1);
    let leader = cluster.leader()?;
    let prefix = format!("check-{:016x}-", fastrand::u64(..));
    let key = |i: u32| format!("{prefix}{i:04}").into_bytes();
    let mut sessions = Vec::new();
    for _ in 0..clients {
        sessions.push(cluster.session(leader)?);
    }
    let results: Vec<(HashMap<u32, Vec<u8>>, Report)> = std::thread::scope(|s| {
        let handles: Vec<_> = sessions
            .into_iter()
            .enumerate()
            .map(|(w, mut session)| {
                let key = &key;
                s.spawn(move || {
                    // Keys w, w + clients, w + 2 clients, ... are this worker's alone.
                    let mine: Vec<u32> = (0..keys).filter(|k| *k as usize % clients == w).collect();
                    let mut last: HashMap<u32, Vec<u8>> = HashMap::new();
                    let mut r = Report::default();
                    let mut rng = fastrand::Rng::with_seed(w as u64);
                    let start = Instant::now();
                    let mut n = 0u64;
                    while !mine.is_empty() && start.elapsed() < run_for {
                        let k = mine[rng.usize(..mine.len())];
                        if rng.bool() {
                            n += 1;
                            let mut value = format!("w{w}-n{n}-").into_bytes();
                            value.resize(value_size.max(value.len()), b'.');
                            match session.put(&key(k), &value) {
                                Ok(()) => {
                                    r.puts += 1;
                                    last.insert(k, value);
                                }
                                Err(e) => r.problems.push(format!("put {k}: {e}")),
                            }
                        } else {
                            match session.get(&key(k)) {
                                Ok(got) => {
                                    r.gets += 1;
                                    if got.as_ref() != last.get(&k) {
                                        r.problems.push(format!(
                                            "get {k} by its only writer returned {:?}, not its \
                                             last acknowledged put {:?}",
                                            got.map(|v| String::from_utf8_lossy(&v).into_owned()),
                                            last.get(&k)
                                                .map(|v| String::from_utf8_lossy(v).into_owned()),
                                        ));
                                    }
                                }
                                Err(e) => r.problems.push(format!("get {k}: {e}")),
                            }
                        }
                    }
                    (last, r)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a check worker panicked"))
            .collect()
    });
    let mut report = Report::default();
    let mut reader = cluster.session(leader)?;
    for (last, r) in results {
        report.puts += r.puts;
        report.gets += r.gets;
        report.problems.extend(r.problems);
        for (k, value) in last {
            match reader.get(&key(k)) {
                Ok(Some(got)) if got == value => report.read_back += 1,
                Ok(got) => report.problems.push(format!(
                    "key {k} read back as {:?}, not its last acknowledged put",
                    got.map(|v| String::from_utf8_lossy(&v).into_owned())
                )),
                Err(e) => report.problems.push(format!("read back {k}: {e}")),
            }
        }
    }
    if report.puts == 0 || report.gets == 0 {
        report.problems.push(format!(
            "too little done: {} puts, {} gets",
            report.puts, report.gets
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod test {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use crate::backend::{Cluster, OpError, ServerCounters, Session};

    /// An in-memory "cluster" that acknowledges every put but forgets every `lose_every`-th.
    struct Memory {
        map: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>>,
        puts: Arc<Mutex<u64>>,
        lose_every: u64,
    }

    struct MemorySession {
        map: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>>,
        puts: Arc<Mutex<u64>>,
        lose_every: u64,
    }

    impl Session for MemorySession {
        fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), OpError> {
            let mut n = self.puts.lock().unwrap();
            *n += 1;
            if self.lose_every == 0 || !n.is_multiple_of(self.lose_every) {
                self.map
                    .lock()
                    .unwrap()
                    .insert(key.to_vec(), value.to_vec());
            }
            Ok(())
        }
        fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, OpError> {
            Ok(self.map.lock().unwrap().get(key).cloned())
        }
    }

    impl Cluster for Memory {
        fn name(&self) -> &'static str {
            "memory"
        }
        fn leader(&self) -> Result<usize, String> {
            Ok(0)
        }
        fn pids(&self) -> &[u32] {
            &[]
        }
        fn session(&self, _leader: usize) -> Result<Box<dyn Session>, String> {
            Ok(Box::new(MemorySession {
                map: self.map.clone(),
                puts: self.puts.clone(),
                lose_every: self.lose_every,
            }))
        }
        fn counters(&self, _leader: usize) -> Result<ServerCounters, String> {
            Ok(ServerCounters::default())
        }
    }

    fn memory(lose_every: u64) -> Memory {
        Memory {
            map: Arc::default(),
            puts: Arc::default(),
            lose_every,
        }
    }

    #[test]
    fn a_faithful_store_passes() {
        let r = super::run(&memory(0), 3, 50, 64, Duration::from_millis(50)).unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert!(r.puts > 0 && r.gets > 0 && r.read_back > 0);
    }

    #[test]
    fn a_store_that_loses_acknowledged_puts_fails() {
        let r = super::run(&memory(5), 3, 50, 64, Duration::from_millis(50)).unwrap();
        assert!(!r.problems.is_empty());
    }
}
