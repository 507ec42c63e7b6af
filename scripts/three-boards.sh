#!/usr/bin/env bash
# Runs the three-board cluster: builds the firmware's one-node image (raft-board) and the host
# bus (raft-board-bus), then starts three QEMU mps2-an386 boards on the bus (loopback TCP
# chardevs) and checks the run: a leader, 100 writes acknowledged and applied on every board,
# hostile bytes counted and dropped, forged/replayed/earlier-boot sealed datagrams counted
# exactly, the leader SIGKILLed and restarted from its flash file, a new leader within 2
# election timeouts, nothing acknowledged missing, and no board's painted stack peak reaching
# its reserved stack. Exit 0 only if it passed. The boards seal
# their frames under --dir's cluster.key (written from the seed; the host's key file format).
#
# Usage: scripts/three-boards.sh [raft-board-bus args, e.g. --seed 9 --dir /tmp/boards]
# The boards' flash files and raw defmt logs stay in --dir (default: $TMPDIR/raft-boards);
# decode a log with: defmt-print -e <raft-board ELF> < board-1.defmt
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fw="$root/raft-embedded-example/firmware"
(cd "$fw" && env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_TARGET_DIR \
  cargo build --release --bin raft-board >&2)
(cd "$root" && cargo build --release -p raft-board-bus >&2)
elf="$fw/target/thumbv7em-none-eabihf/release/raft-board"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
status=0
timeout 600 "$root/target/release/raft-board-bus" --elf "$elf" "$@" | tee "$out" || status=$?
# Each board reports its painted peak stack; one that reached the stack reserved by memory.x
# (build.rs sizes it) may have overflowed into the statics below it: the run fails.
nm_tool="$(command -v arm-none-eabi-nm || command -v llvm-nm || true)"
if [ -n "$nm_tool" ]; then
  addr() { printf '%d' "0x$("$nm_tool" "$elf" | awk -v s="$1" '$3 == s { print $1 }')"; }
  reserve=$(($(addr _stack_start) - $(addr _stack_end)))
  peak=$(sed -n 's/.*peak stack \([0-9]*\) B.*/\1/p' "$out" | sort -n | tail -n 1)
  if [ -z "$peak" ] || [ "$peak" -ge "$reserve" ]; then
    echo "three-boards.sh: peak stack ${peak:-not reported} B against $reserve B reserved: FAIL" >&2
    status=1
  else
    echo "three-boards.sh: deepest painted stack $peak B of $reserve B reserved"
  fi
fi
exit "$status"
