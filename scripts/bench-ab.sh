#!/usr/bin/env bash
# A/B throughput of two builds of raft-node in one session: for each round and each build,
# start 3 fresh raft-nodes on 127.0.0.1, run `raft-client bench` at each client count, stop them.
# The builds alternate, so drift on a shared machine hits both alike.
#
#   scripts/bench-ab.sh BASE_BIN_DIR NEW_BIN_DIR [ROUNDS] [SECS] [CLIENTS...]
#   e.g. scripts/bench-ab.sh /tmp/base/target/release target/release 4 10 1 16
#
# Prints one line per point: `<label> round=<r> clients=<c> <raft-client bench output>
# cpu_us_per_put=<µs>`, the last being the CPU time (user + system) the three node processes
# spent during the point over the puts it made: a cost that load on a shared machine moves much
# less than it moves puts/s.
set -euo pipefail

base=$1 new=$2 rounds=${3:-4} secs=${4:-10}
if [ $# -gt 4 ]; then shift 4; clients=("$@"); else clients=(1 16); fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/key"
port0=$((21000 + RANDOM % 20000))
peers=()
for i in 1 2 3; do peers+=(--peer "$i=127.0.0.1:$((port0 + i))"); done

cpu_ticks() { # pids...: the user + system clock ticks of the processes, summed
    local t=0 p f
    for p in "$@"; do
        read -r -a f < "/proc/$p/stat"
        t=$((t + f[13] + f[14]))
    done
    echo "$t"
}
hz=$(getconf CLK_TCK)

run() { # label bin_dir round
    local label=$1 bin=$2 round=$3 pids=()
    rm -rf "$work/data"
    for i in 1 2 3; do
        "$bin/raft-node" --id "$i" "${peers[@]}" --data-dir "$work/data/n$i" \
            --key-file "$work/key" >"$work/n$i.log" 2>&1 &
        pids+=($!)
    done
    local tries=0
    until "$bin/raft-client" "${peers[@]}" --key-file "$work/key" --timeout-ms 2000 \
        put warmup x >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ $tries -gt 30 ] && { echo "$label: no leader" >&2; kill "${pids[@]}"; return 1; }
        sleep 0.5
    done
    for c in "${clients[@]}"; do
        local before after puts
        before=$(cpu_ticks "${pids[@]}")
        out=$("$bin/raft-client" "${peers[@]}" --key-file "$work/key" bench --clients "$c" \
            --secs "$secs" 2>&1 | tr '\n' ' ')
        after=$(cpu_ticks "${pids[@]}")
        puts=$(sed -n 's/.* puts=\([0-9]*\) .*/\1/p' <<<"$out")
        echo "$label round=$round clients=$c $out cpu_us_per_put=$(((after - before) * 1000000 / hz / ${puts:-1}))"
    done
    kill "${pids[@]}"
    wait "${pids[@]}" 2>/dev/null || true
}

for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) -eq 1 ]; then
        run base "$base" "$r"; run new "$new" "$r"
    else
        run new "$new" "$r"; run base "$base" "$r"
    fi
done
