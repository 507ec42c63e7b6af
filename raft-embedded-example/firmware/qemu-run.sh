#!/usr/bin/env bash
# Cargo runner: boots the firmware ELF in QEMU (mps2-an386, Cortex-M4F) with semihosting, so the
# firmware's exit code (0 only if its checks passed) is this script's exit status. QEMU's stdout
# carries the binary defmt stream; it is decoded with `defmt-print` when that is installed.
set -euo pipefail

elf="$1"
shift

qemu=(qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic
      -semihosting-config enable=on,target=native -kernel "$elf" "$@")

if command -v defmt-print >/dev/null 2>&1; then
  # pipefail: a failing QEMU (the firmware's exit 1) fails the pipeline even though
  # defmt-print itself ends with 0.
  "${qemu[@]}" | defmt-print -e "$elf"
else
  echo "qemu-run.sh: defmt-print not found (cargo install defmt-print --locked);" \
       "the defmt stream below is raw bytes" >&2
  "${qemu[@]}"
fi
