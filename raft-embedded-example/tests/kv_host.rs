//! A board's writes are the host key-value store's commands, byte for byte, and a board reads
//! the writes a host node proposes.

use raft_embedded_example::kv::{decode_write, encode_write, MAX_WRITE};
use raft_std_driver::kv::{Command, KvStore, Request, Response};

fn host_write(value: u32) -> Request {
    Request {
        client: u64::from(value),
        seq: 1,
        command: Command::Put {
            key: value.to_be_bytes().to_vec(),
            value: Vec::new(),
        },
    }
}

#[test]
fn a_boards_write_is_the_hosts_command() {
    for value in [1, 2, 100, 127, 128, 65_535, u32::MAX] {
        let mut buf = [0u8; MAX_WRITE];
        let board = encode_write(value, &mut buf).to_vec();
        assert_eq!(board, host_write(value).encode(), "write {value}");
        assert_eq!(Request::decode(&board).ok(), Some(host_write(value)));
        assert_eq!(decode_write(&host_write(value).encode()), Some(value));
    }
}

#[test]
fn the_host_store_applies_a_boards_writes_and_answers_retries_from_the_session() {
    let mut store = KvStore::default();
    let mut buf = [0u8; MAX_WRITE];
    for (index, value) in (1..=3u32).enumerate() {
        let r = store.apply(index as u64 + 1, encode_write(value, &mut buf));
        assert!(!matches!(r, Response::Error(_)), "write {value}: {r:?}");
    }
    // The same write again (a retry through another node): answered from its session.
    assert_eq!(store.apply(4, encode_write(2, &mut buf)), Response::Written);
    for value in 1..=3u32 {
        assert_eq!(store.get(&value.to_be_bytes()), Some(&[][..]));
    }
}

#[test]
fn other_commands_and_garbage_are_not_writes() {
    let other = |command| {
        Request {
            client: 9,
            seq: 1,
            command,
        }
        .encode()
    };
    let key = 7u32.to_be_bytes().to_vec();
    assert_eq!(
        decode_write(&other(Command::Get { key: key.clone() })),
        None
    );
    assert_eq!(
        decode_write(&other(Command::Delete { key: key.clone() })),
        None
    );
    let long = Command::Put {
        key: b"longer key".to_vec(),
        value: vec![1],
    };
    assert_eq!(decode_write(&other(long)), None);
    assert_eq!(decode_write(&[]), None);
    assert_eq!(decode_write(&[0xFF; 40]), None);
    assert_eq!(decode_write(&7u32.to_le_bytes()), None);
}
