//! Key-value store behaviour: exactly-once sessions, CAS, snapshots, hostile bytes.

use super::*;

fn req(client: u64, seq: u64, command: Command) -> Vec<u8> {
    Request {
        client,
        seq,
        command,
    }
    .encode()
}

fn put(k: &str, v: &str) -> Command {
    Command::Put {
        key: k.into(),
        value: v.into(),
    }
}

fn get(k: &str) -> Command {
    Command::Get { key: k.into() }
}

fn cas(k: &str, expected: Option<&str>, new: Option<&str>) -> Command {
    Command::Cas {
        key: k.into(),
        expected: expected.map(Into::into),
        new: new.map(Into::into),
    }
}

#[test]
fn put_get_delete() {
    let mut kv = KvStore::default();
    assert_eq!(kv.apply(1, &req(7, 1, put("a", "1"))), Response::Written);
    assert_eq!(
        kv.apply(2, &req(7, 2, get("a"))),
        Response::Value(Some(b"1".to_vec()))
    );
    let del = Command::Delete { key: b"a".to_vec() };
    assert_eq!(
        kv.apply(3, &req(7, 3, del.clone())),
        Response::Deleted { existed: true }
    );
    assert_eq!(
        kv.apply(4, &req(7, 4, del)),
        Response::Deleted { existed: false }
    );
    assert_eq!(kv.apply(5, &req(7, 5, get("a"))), Response::Value(None));
    assert_eq!(kv.applied_index(), 5);
}

#[test]
fn a_retried_write_applies_exactly_once_and_returns_the_cached_response() {
    let mut kv = KvStore::default();
    let first = req(7, 1, cas("n", None, Some("1")));
    let r1 = kv.apply(1, &first);
    assert_eq!(
        r1,
        Response::Cas {
            swapped: true,
            previous: None
        }
    );
    // Another client changes the key; then client 7's retry is committed again.
    kv.apply(2, &req(8, 1, put("n", "2")));
    assert_eq!(kv.apply(3, &first), r1);
    assert_eq!(kv.get(b"n"), Some(&b"2"[..]));
    // A retried put does not overwrite a later value either.
    let p = req(9, 1, put("m", "old"));
    kv.apply(4, &p);
    kv.apply(5, &req(8, 2, put("m", "new")));
    assert_eq!(kv.apply(6, &p), Response::Written);
    assert_eq!(kv.get(b"m"), Some(&b"new"[..]));
}

#[test]
fn an_older_sequence_number_is_stale() {
    let mut kv = KvStore::default();
    kv.apply(1, &req(7, 1, put("a", "1")));
    kv.apply(2, &req(7, 2, put("a", "2")));
    assert_eq!(
        kv.apply(3, &req(7, 1, put("a", "1"))),
        Response::Error(KvError::StaleSequence { last: 2 })
    );
    assert_eq!(kv.get(b"a"), Some(&b"2"[..]));
}

#[test]
fn an_unknown_client_must_start_at_one() {
    let mut kv = KvStore::default();
    assert_eq!(
        kv.apply(1, &req(7, 5, put("a", "1"))),
        Response::Error(KvError::SessionExpired)
    );
    assert!(kv.is_empty());
}

#[test]
fn an_evicted_session_cannot_apply_a_retry_twice() {
    let mut kv = KvStore::with_max_sessions(2);
    kv.apply(1, &req(1, 1, put("a", "1")));
    kv.apply(2, &req(1, 2, put("a", "2")));
    kv.apply(3, &req(2, 1, put("b", "1")));
    kv.apply(4, &req(3, 1, put("c", "1"))); // evicts client 1, the idlest
    assert_eq!(
        kv.apply(5, &req(1, 2, put("a", "2"))),
        Response::Error(KvError::SessionExpired)
    );
    // Clients 2 and 3 are still deduplicated.
    assert_eq!(kv.apply(6, &req(3, 1, put("c", "x"))), Response::Written);
    assert_eq!(kv.get(b"c"), Some(&b"1"[..]));
}

#[test]
fn cas_swaps_only_on_a_match() {
    let mut kv = KvStore::default();
    let mut i = 0;
    let mut run = |kv: &mut KvStore, c: Command| {
        i += 1;
        kv.apply(i, &req(1, i, c))
    };
    let miss = Response::Cas {
        swapped: false,
        previous: None,
    };
    assert_eq!(run(&mut kv, cas("k", Some("x"), Some("y"))), miss);
    assert_eq!(kv.get(b"k"), None);
    assert_eq!(
        run(&mut kv, cas("k", None, Some("a"))),
        Response::Cas {
            swapped: true,
            previous: None
        }
    );
    assert_eq!(
        run(&mut kv, cas("k", Some("b"), Some("c"))),
        Response::Cas {
            swapped: false,
            previous: Some(b"a".to_vec())
        }
    );
    assert_eq!(kv.get(b"k"), Some(&b"a"[..]));
    assert_eq!(
        run(&mut kv, cas("k", Some("a"), None)),
        Response::Cas {
            swapped: true,
            previous: Some(b"a".to_vec())
        }
    );
    assert_eq!(kv.get(b"k"), None);
}

#[test]
fn snapshot_round_trips_data_sessions_and_applied_index() {
    let mut kv = KvStore::default();
    for i in 1..=50u64 {
        kv.apply(
            i,
            &req(
                i % 5,
                (i - 1) / 5 + 1,
                put(&format!("k{i}"), &format!("v{i}")),
            ),
        );
    }
    kv.advance(51);
    let bytes = kv.snapshot();
    let mut restored = KvStore::default();
    restored.restore(&bytes).unwrap();
    assert_eq!(restored, kv);
    assert_eq!(restored.snapshot(), bytes);
    assert_eq!(restored.applied_index(), 51);
    // The sessions came along: a retry is still deduplicated after a restore.
    let retry = req(0, 10, put("k50", "changed"));
    assert_eq!(restored.apply(52, &retry), kv.apply(52, &retry));
    assert_eq!(restored.get(b"k50"), Some(&b"v50"[..]));
}

#[test]
fn bad_bytes_give_error_responses_never_panics() {
    let mut kv = KvStore::default();
    kv.apply(1, &req(1, 1, put("a", "1")));
    let before = kv.snapshot();
    let good = req(1, 2, put("b", "2"));
    let mut seed = 0x1234_5678_9abc_def1u64;
    let mut index = 1;
    for n in 0..20_000usize {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let bytes: Vec<u8> = match n % 3 {
            0 => (0..(seed % 40) as usize)
                .map(|i| (seed >> (i % 8)) as u8)
                .collect(),
            1 => good[..(seed as usize % good.len())].to_vec(),
            _ => {
                let mut b = good.clone();
                b.push(seed as u8); // trailing garbage
                b
            }
        };
        index += 1;
        let r = kv.apply(index, &bytes);
        // Random bytes may happen to decode; all that matters is that nothing panics and
        // undecodable input is an error. Truncations and trailing bytes never decode.
        if n % 3 != 0 {
            assert_eq!(r, Response::Error(KvError::BadCommand), "input {n}");
        }
        let _ = kv.restore(&bytes);
    }
    assert_eq!(kv.get(b"b"), None);
    let mut fresh = KvStore::default();
    fresh.restore(&before).unwrap();
    assert_eq!(fresh.get(b"a"), Some(&b"1"[..]));
    assert_eq!(fresh.restore(b"\x02garbage"), Err(KvError::BadCommand));
    assert_eq!(fresh.get(b"a"), Some(&b"1"[..]));
}

#[test]
fn an_index_already_applied_is_refused() {
    let mut kv = KvStore::default();
    kv.apply(5, &req(1, 1, put("a", "1")));
    assert_eq!(
        kv.apply(5, &req(2, 1, put("b", "1"))),
        Response::Error(KvError::IndexNotIncreasing { applied: 5 })
    );
    assert_eq!(kv.get(b"b"), None);
}

#[test]
fn requests_and_responses_round_trip_their_encoding() {
    let r = Request {
        client: u64::MAX,
        seq: 3,
        command: cas("k", None, Some("v")),
    };
    assert_eq!(Request::decode(&r.encode()), Ok(r));
    for resp in [
        Response::Written,
        Response::Value(Some(vec![1, 2])),
        Response::Deleted { existed: true },
        Response::Cas {
            swapped: false,
            previous: None,
        },
        Response::Error(KvError::StaleSequence { last: 9 }),
    ] {
        assert_eq!(Response::decode(&resp.encode()), Ok(resp));
    }
    assert_eq!(Response::decode(&[0xff, 0xff]), Err(KvError::BadCommand));
}

#[test]
fn an_image_stays_the_state_it_was_taken_at_while_the_store_moves_on() {
    let mut kv = KvStore::default();
    for i in 1..=300u64 {
        kv.apply(i, &req(1, i, put(&format!("k{i:03}"), "old")));
    }
    let at_300 = kv.snapshot();
    let image = kv.image();
    assert_eq!(
        (image.applied_index(), image.len(), image.is_empty()),
        (300, 300, false)
    );
    // The store changes every key the image holds, removes some and adds others.
    for i in 1..=300u64 {
        kv.apply(300 + i, &req(1, 300 + i, put(&format!("k{i:03}"), "new")));
    }
    kv.apply(601, &req(1, 601, Command::Delete { key: "k001".into() }));
    kv.apply(602, &req(2, 1, put("fresh", "x")));
    assert_eq!(kv.get(b"k002"), Some(&b"new"[..]));
    // The image still encodes the state at 300, byte for byte, on another thread too.
    let bytes = std::thread::spawn(move || {
        let mut out = Vec::new();
        image.write_to(&mut out).unwrap();
        out
    })
    .join()
    .unwrap();
    assert_eq!(bytes, at_300);
    let mut back = KvStore::default();
    back.restore(&bytes).unwrap();
    assert_eq!(back.applied_index(), 300);
    assert_eq!(back.get(b"k001"), Some(&b"old"[..]));
    assert_eq!(back.get(b"fresh"), None);
}

/// The format the store wrote when its maps were `BTreeMap<Vec<u8>, Vec<u8>>`, built here
/// independently of the image code.
#[derive(serde::Serialize, serde::Deserialize)]
struct LegacyImage {
    version: u8,
    applied: u64,
    data: std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
    sessions: std::collections::BTreeMap<u64, LegacySession>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LegacySession {
    seq: u64,
    index: u64,
    response: Response,
}

#[test]
fn the_snapshot_format_is_the_one_of_the_btreemap_store() {
    let mut kv = KvStore::default();
    kv.apply(1, &req(9, 1, put("b", "2")));
    kv.apply(2, &req(9, 2, put("a", "")));
    kv.apply(3, &req(4, 1, get("a")));
    let legacy = LegacyImage {
        version: 1,
        applied: 3,
        data: [(b"a".to_vec(), vec![]), (b"b".to_vec(), b"2".to_vec())].into(),
        sessions: [
            (
                4,
                LegacySession {
                    seq: 1,
                    index: 3,
                    response: Response::Value(Some(vec![])),
                },
            ),
            (
                9,
                LegacySession {
                    seq: 2,
                    index: 2,
                    response: Response::Written,
                },
            ),
        ]
        .into(),
    };
    let old = postcard::to_stdvec(&legacy).unwrap();
    assert_eq!(kv.snapshot(), old);
    // And a snapshot written in the old format restores.
    let mut back = KvStore::default();
    back.restore(&old).unwrap();
    assert_eq!(back, kv);
}

#[test]
fn data_bytes_follow_puts_overwrites_deletes_and_restores() {
    let mut kv = KvStore::default();
    assert_eq!(kv.data_bytes(), 0);
    kv.apply(1, &req(1, 1, put("key", "value")));
    assert_eq!(kv.data_bytes(), 3 + 5 + 4);
    kv.apply(2, &req(1, 2, put("key", "v")));
    assert_eq!(kv.data_bytes(), 3 + 1 + 4);
    kv.apply(3, &req(1, 3, put("k2", "")));
    assert_eq!(kv.data_bytes(), 8 + 2 + 4);
    kv.apply(4, &req(1, 4, cas("key", Some("v"), None)));
    assert_eq!(kv.data_bytes(), 6);
    let mut back = KvStore::default();
    back.restore(&kv.snapshot()).unwrap();
    assert_eq!(back.data_bytes(), 6);
    kv.apply(5, &req(1, 5, Command::Delete { key: "k2".into() }));
    assert_eq!(kv.data_bytes(), 0);
}

#[test]
fn a_writer_error_is_returned_by_write_to() {
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "disk full",
            ))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut kv = KvStore::default();
    kv.apply(1, &req(1, 1, put("a", "b")));
    let e = kv.image().write_to(Full).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
}
