#!/usr/bin/env bash
# Runs the mixed cluster: builds the firmware's one-node image (raft-board), the host bus
# (raft-board-bus) and raft-node, then starts two QEMU mps2-an386 boards (nodes 1 and 2) on the
# bus and one raft-node (node 3) on the host. The bus forwards the boards' sealed frames to
# raft-node as UDP datagrams, unchanged, each board from its own loopback address (127.0.0.11,
# 127.0.0.12), and writes raft-node's datagrams to the boards' serial lines. Checks the run: a
# leader, 100 writes (the host's key-value puts) acknowledged and applied on every node, the
# leader (steered to the kind given by --kill) SIGKILLed and restarted, a new leader within 2
# election timeouts, 5 more writes through it, nothing acknowledged missing on any node. Exit 0
# only if it passed.
#
# Usage: scripts/mixed-cluster.sh [--kill board|host] [--seed N] [--dir DIR] [--writes N]
# Logs stay in --dir (default: $TMPDIR/raft-boards): board-N.defmt (raw defmt; decode with
# defmt-print -e <raft-board ELF>), board-N.err, node-3.out/.err, node-3/ (raft-node's data).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fw="$root/raft-embedded-example/firmware"
(cd "$fw" && env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_TARGET_DIR \
  cargo build --release --bin raft-board >&2)
(cd "$root" && cargo build --release -p raft-board-bus -p raft-std-driver --bin raft-board-bus --bin raft-node >&2)
exec timeout 600 "$root/target/release/raft-board-bus" --mixed \
  --elf "$fw/target/thumbv7em-none-eabihf/release/raft-board" \
  --raft-node "$root/target/release/raft-node" "$@"
