#!/usr/bin/env bash
# Every construct that can panic in raft-core's non-test code states why it cannot: a line
# containing `// Invariant:` on the same line or within the 6 lines above it. Checked:
# `.unwrap()`, `.expect(`, `panic!(`, `unreachable!(`, `assert!(`, `assert_eq!(`, `assert_ne!(`
# (not `debug_assert*!`). Slice and array indexing carries the same comments but is not
# checked here: telling `x[i]` from a type or an attribute needs a parser, not a grep.
#
# Skipped, as test code: files whose names end in `tests.rs` (e.g. `capture_tests.rs`, included
# under `#[cfg(test)]`), comment lines (doc examples are doctests), and an inline module
# declared under `#[cfg(test)]` (`#[cfg(test)]`, then `mod name {`) up to its closing brace at
# the indentation of its `mod` line (rustfmt's layout; the end of the file for a module placed
# last, as every one in raft-core is). A `#[cfg(test)] mod name;` declaration skips nothing in
# the declaring file: the module's own file is skipped by its name.
#
# Prints each offending file:line and exits 1; otherwise prints the count and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."

src=raft-core/src
mapfile -d '' files < <(find "$src" -name '*.rs' ! -name '*tests.rs' -print0 | sort -z)
if [ "${#files[@]}" -eq 0 ]; then
  echo "check-invariants: no Rust files under $src" >&2
  exit 2
fi

awk -v window=6 '
FNR == 1 { inv = -1000; pending = 0; skip_end = "" }
# Inside a test module: skip to its closing brace.
skip_end != "" {
  if ($0 == skip_end) skip_end = ""
  next
}
# After `#[cfg(test)]` (and any further attributes): an inline module is test code.
pending {
  if ($0 ~ /^[ \t]*#\[/) next
  pending = 0
  if ($0 ~ /^[ \t]*(pub(\([^)]*\))? )?mod [A-Za-z_][A-Za-z0-9_]* *\{ *$/) {
    match($0, /^[ \t]*/)
    skip_end = substr($0, 1, RLENGTH) "}"
    skipped_modules++
    next
  }
}
/^[ \t]*#\[cfg\(test\)\][ \t]*$/ { pending = 1; next }
/\/\/ Invariant:/ { inv = FNR; comments++ }
/^[ \t]*\/\// { next }
/\.unwrap\(\)|\.expect\(|(^|[^A-Za-z0-9_])(panic|unreachable|assert|assert_eq|assert_ne)!\(/ {
  sites++
  if (FNR - inv > window) {
    line = $0
    sub(/^[ \t]+/, "", line)
    printf "%s:%d: no `// Invariant:` within %d lines above: %s\n", FILENAME, FNR, window, line
    bad++
  }
}
END {
  if (bad > 0) {
    printf "check-invariants: %d of %d panicking constructs in %s (non-test code) lack an `// Invariant:` comment\n", bad, sites, src
    exit 1
  }
  printf "check-invariants: %d panicking constructs in %s (non-test code), each with an `// Invariant:` comment; %d `// Invariant:` comments in all (indexing included), %d test modules skipped\n", sites, src, comments, skipped_modules
}
' src="$src" "${files[@]}"
