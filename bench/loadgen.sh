#!/usr/bin/env bash
# Our key-value service against etcd 3.4 under closed-loop load (issue 15): starts three
# raft-node processes (release build) and a three-member etcd cluster on 127.0.0.1, data under
# bench/target/loadgen-run (one disk for both), fsync on for both (their defaults), runs
# `loadgen`, stops everything (also on failure or Ctrl-C).
#
#   bench/loadgen.sh            every point (put, get, 50/50 x 1, 16, 64, 256, 1024 clients,
#                               10 s each, alternating systems), then rewrites the generated
#                               table in ../BENCHMARKS.md (between the LOADGEN-TABLE markers)
#   bench/loadgen.sh --smoke    the CI smoke: the generator's unit tests, then 3 s of puts and
#                               gets on each system (debug build), asserting only correctness:
#                               every acknowledged put read back, no failed request
#   bench/loadgen.sh --secs 5 --clients 1,64 --workloads put
#                               a partial run (printed, BENCHMARKS.md untouched)
#
# Installs etcd-server (etcd 3.4 on Debian 12), protobuf-compiler and libprotobuf-dev (protoc and
# its well-known types, for the etcd client's build) and strace with apt-get when they are
# missing. Environment: JOBS (cargo -j, default 2), RAFT_PORT (first of three UDP ports,
# default 27101), ETCD_PORT (first of three client ports, default 27201; peer ports are +10),
# KEEP=1 keeps the data directories and logs, RAFT_NODE=<path> runs that raft-node binary
# instead of the one built here (an A/B of two builds in one session), LOADGEN=<path> runs that
# generator binary (an A/B of two builds of the client library), ONLY=raft-core leaves etcd
# out (a partial run comparing two builds of ours).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
export CARGO_TARGET_DIR="$here/target"

smoke=0
secs=10
partial=0
extra=()
while (($#)); do
    case "$1" in
    --smoke) smoke=1 ;;
    --secs) secs="$2"; shift ;;
    --clients | --workloads) extra+=("$1" "$2"); partial=1; shift ;;
    *) echo "usage: $0 [--smoke] [--secs N] [--clients LIST] [--workloads LIST]" >&2; exit 2 ;;
    esac
    shift
done
only="${ONLY:-}"
if [[ -n "$only" && ( "$only" != raft-core || $partial == 0 || $smoke == 1 ) ]]; then
    echo "ONLY=raft-core is for partial runs (--clients or --workloads), not the full run or the smoke" >&2
    exit 2
fi

need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v protoc >/dev/null || need+=(protobuf-compiler)
# protoc's well-known types (google/protobuf/descriptor.proto ...), which etcd's protos import.
[[ -f /usr/include/google/protobuf/descriptor.proto ]] || need+=(libprotobuf-dev)
((smoke)) || command -v strace >/dev/null || need+=(strace)
if ((${#need[@]})); then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi

cd "$here"
if ((smoke)); then
    # Correctness only: an unoptimised build (less compile time than a release one for tonic
    # and the etcd client); the generator's unit tests share it.
    cargo test -j "${JOBS:-2}" -p loadgen
    cargo build -j "${JOBS:-2}" -p loadgen -p raft-std-driver --bin raft-node --bin loadgen
    bin="$CARGO_TARGET_DIR/debug"
else
    cargo build --release -j "${JOBS:-2}" -p loadgen -p raft-std-driver --bin raft-node --bin loadgen
    bin="$CARGO_TARGET_DIR/release"
fi

run="$CARGO_TARGET_DIR/loadgen-run"
rm -rf "$run"
mkdir -p "$run"
pids=()
cleanup() {
    local rc=$? p f
    # On a failure, the servers' own words: the last lines of each log (else they go with $run).
    if ((rc != 0)) && [[ -d "$run" ]]; then
        for f in "$run"/*.log; do
            [[ -s "$f" ]] || continue
            echo "--- last lines of ${f##*/} ---" >&2
            tail -n 15 "$f" >&2
        done
    fi
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 50); do
        local alive=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.2
    done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [[ "${KEEP:-0}" == 1 ]] || rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rp="${RAFT_PORT:-27101}"
ep="${ETCD_PORT:-27201}"
# (Without `ss`, iproute2, the check is skipped and a taken port shows as a server failing.)
for i in 0 1 2; do
    command -v ss >/dev/null || break
    if ss -Hlun "sport = :$((rp + i))" | grep -q . || ss -Hltn "sport = :$((ep + i))" | grep -q . ||
        ss -Hltn "sport = :$((ep + 10 + i))" | grep -q .; then
        echo "port $((rp + i)), $((ep + i)) or $((ep + 10 + i)) is taken: set RAFT_PORT / ETCD_PORT" >&2
        exit 1
    fi
done

head -c 32 /dev/urandom >"$run/cluster.key"
peer_flags=()
lg_flags=(--raft-key-file "$run/cluster.key")
cluster=""
for i in 1 2 3; do
    peer_flags+=(--peer "$i=127.0.0.1:$((rp + i - 1))")
    lg_flags+=(--raft-peer "$i=127.0.0.1:$((rp + i - 1))")
    [[ "$only" == raft-core ]] || lg_flags+=(--etcd-endpoint "127.0.0.1:$((ep + i - 1))")
    cluster+="${cluster:+,}e$i=http://127.0.0.1:$((ep + 10 + i - 1))"
done
raft_pids=()
etcd_pids=()
for i in 1 2 3; do
    "${RAFT_NODE:-$bin/raft-node}" --id "$i" "${peer_flags[@]}" --data-dir "$run/raft$i" \
        --key-file "$run/cluster.key" 2>"$run/raft$i.log" &
    pids+=($!)
    raft_pids+=($!)
done
for i in 1 2 3; do
    [[ "$only" == raft-core ]] && break
    c="http://127.0.0.1:$((ep + i - 1))"
    p="http://127.0.0.1:$((ep + 10 + i - 1))"
    etcd --name "e$i" --data-dir "$run/etcd$i" --listen-client-urls "$c" --advertise-client-urls "$c" \
        --listen-peer-urls "$p" --initial-advertise-peer-urls "$p" --initial-cluster "$cluster" \
        --initial-cluster-state new --initial-cluster-token "loadgen-$$" --log-level warn \
        2>"$run/etcd$i.log" &
    pids+=($!)
    etcd_pids+=($!)
done
lg_flags+=(--raft-pids "$(IFS=,; echo "${raft_pids[*]}")")
[[ "$only" == raft-core ]] || lg_flags+=(--etcd-pids "$(IFS=,; echo "${etcd_pids[*]}")")

if ((smoke)); then
    timeout 120 "$bin/loadgen" "${lg_flags[@]}" check --secs 3 --clients 4
    exit
fi

table="$CARGO_TARGET_DIR/loadgen-table.md"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
# 3 workloads x 5 client counts x 2 systems, each its seconds plus warm-up, strace window and
# setup; bounded so a wedged point cannot hang the script.
timeout $((30 * (secs + 25) + 300)) "${LOADGEN:-$bin/loadgen}" "${lg_flags[@]}" run --secs "$secs" \
    --strace-dir "$CARGO_TARGET_DIR/loadgen-strace" --out "$table" "${extra[@]}"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
if ((partial)); then
    cat "$table"
    exit
fi

machine="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores visible)"
rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
gen="$CARGO_TARGET_DIR/loadgen-section.md"
{
    echo "<!-- LOADGEN-TABLE:BEGIN (generated by bench/loadgen.sh; edits inside are overwritten) -->"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') at commit \`$rev\` on $machine, $(etcd --version | head -1),"
    echo "$secs s per point; load average (1, 5, 15 min) $load_before before the run, $load_after after it."
    echo
    cat "$table"
    echo
    echo "<!-- LOADGEN-TABLE:END -->"
} >"$gen"
md="$root/BENCHMARKS.md"
if grep -q '<!-- LOADGEN-TABLE:BEGIN' "$md" && grep -q '<!-- LOADGEN-TABLE:END -->' "$md"; then
    awk -v gen="$gen" '
        /<!-- LOADGEN-TABLE:BEGIN/ { while ((getline l < gen) > 0) print l; skip = 1; next }
        /<!-- LOADGEN-TABLE:END -->/ { skip = 0; next }
        !skip { print }
    ' "$md" >"$md.tmp"
    mv "$md.tmp" "$md"
    echo "rewrote the LOADGEN-TABLE section of $md" >&2
else
    cat "$gen"
    echo "($md has no LOADGEN-TABLE markers: the section above was not written into it)" >&2
fi
