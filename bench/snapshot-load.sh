#!/usr/bin/env bash
# What snapshots of a large state cost the write path (issue 15, acceptance 4): starts three
# raft-node processes (release build) on 127.0.0.1, loads 1,000,000 keys of 64-byte values,
# then overwrites random ones with 64 closed-loop clients for 60 s, and prints the puts/s of
# the seconds during which any node was capturing a snapshot against the seconds without one
# (raft-std-driver's `snapload` example, `--node-log`), with the leaders elected meanwhile.
#
#   bench/snapshot-load.sh                       one phase
#   RAFT_NODE_B=<raft-node> bench/snapshot-load.sh --rounds 2
#                                                an A/B: after the load, each round runs a phase
#                                                on this checkout's raft-node, then one on
#                                                RAFT_NODE_B, restarting the three nodes on the
#                                                same data directories between phases
#
# Options: --keys N (default 1000000), --secs S (60), --clients C (64), --rounds R (1),
# --snapshot-entries E (100000: a snapshot every E applied entries, so that a 60 s phase sees
# several; 0 leaves raft-node's own interval, sized to the state). Environment: RAFT_NODE (the
# A binary, default this checkout's release build), RAFT_PORT (first of three UDP ports,
# default 28101), KEEP=1 keeps the data and logs (bench/target/snapshot-load-run).
# Every phase is bounded with `timeout`; the nodes are stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

keys=1000000
secs=60
clients=64
rounds=1
every=100000
while (($#)); do
    case "$1" in
    --keys) keys="$2"; shift ;;
    --secs) secs="$2"; shift ;;
    --clients) clients="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    --snapshot-entries) every="$2"; shift ;;
    *) echo "usage: $0 [--keys N] [--secs S] [--clients C] [--rounds R] [--snapshot-entries E]" >&2; exit 2 ;;
    esac
    shift
done

(cd "$root" && cargo build --release -p raft-std-driver --bin raft-node --example snapload)
bin="$root/target/release"
a="${RAFT_NODE:-$bin/raft-node}"
b="${RAFT_NODE_B:-}"

run="$here/target/snapshot-load-run"
rm -rf "$run"
mkdir -p "$run"
pids=()
stop() {
    ((${#pids[@]})) || return 0
    kill "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "${pids[@]}" 2>/dev/null || break
        sleep 0.2
    done
    kill -9 "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    pids=()
}
finish() {
    stop
    [[ "${KEEP:-0}" == 1 ]] || rm -rf "$run"
}
trap finish EXIT
trap 'exit 130' INT TERM

port="${RAFT_PORT:-28101}"
head -c 32 /dev/urandom >"$run/cluster.key"
peer_flags=()
peers=""
for i in 1 2 3; do
    peer_flags+=(--peer "$i=127.0.0.1:$((port + i - 1))")
    peers+="${peers:+,}$i=127.0.0.1:$((port + i - 1))"
done

# start NODE_BINARY PHASE: the three nodes, logs in $run/PHASE-n<i>.log.
start() {
    for i in 1 2 3; do
        RUST_LOG=info "$1" --id "$i" "${peer_flags[@]}" --data-dir "$run/n$i" \
            --key-file "$run/cluster.key" --snapshot-entries "$every" 2>"$run/$2-n$i.log" &
        pids+=($!)
    done
}

# phase NODE_BINARY NAME SNAPLOAD_ARGS...: one phase on freshly started nodes.
phase() {
    local node="$1" name="$2"
    shift 2
    start "$node" "$name"
    echo "== $name: $node"
    timeout $((secs + 1200)) "$bin/examples/snapload" --key-file "$run/cluster.key" \
        --peers "$peers" --clients "$clients" --secs "$secs" \
        --node-log "$run/$name-n1.log" --node-log "$run/$name-n2.log" \
        --node-log "$run/$name-n3.log" "$@"
    stop
}

phase "$a" load --load "$keys"
for r in $(seq "$rounds"); do
    phase "$a" "A$r" --keys "$keys"
    [[ -z "$b" ]] || phase "$b" "B$r" --keys "$keys"
done
