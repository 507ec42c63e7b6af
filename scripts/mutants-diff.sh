#!/usr/bin/env bash
# Mutation testing of a change to raft-core's protocol files (issue 20, Build 2): every mutant
# that cargo-mutants makes in the lines the change touched must be caught by raft-core's tests
# (raft-core's own unit, engine and wire tests, and in raft-sim: the `scenarios` binary (the
# tests named after the paper, reads, snapshots, transfer, membership, joint consensus, the
# vote floor, commit latency, the step forms), the quick properties, the hostile-input and
# fuzz-corpus codec tests and the regressions of found and injected bugs), or the change adds
# code its tests do not check. Left out as adding nothing for the protocol but build time:
# raft-sim's `determinism` and `sim_smoke` (random runs the properties cover with the
# checker), raft-core's `footprint` (type sizes), `bug_catalogue` (needs the `inject`
# feature) and the examples.
#
#   scripts/mutants-diff.sh [BASE]
#
# The diff: BASE if given, else $MUTANTS_BASE, else HEAD's first parent. CI runs on a fresh
# clone of main with no base branch; main moves by the lead's merges, so HEAD^1 of a merge
# commit is main before the merge and the diff is the whole merged branch (for a plain
# commit, that commit). A clone without a parent (depth 1) has nothing to compare: the step
# says so and passes. Only the protocol files below are mutated; a diff that touches none of
# them passes at once.
#
# Bounds: each mutant's tests are cut after 180 s (`--timeout`; a hang counts as caught), the
# mutants (after the baseline) after MUTANTS_BUDGET seconds (default 900; CI sets 600): a change too large for that fails
# with a message (run it by hand without the budget). One job (2 shared cores), the
# `mutants` profile (the test profile unoptimized and without debug info: a mutant's rebuild
# is what costs, see VERIFICATION.md "Mutation testing"), lib and the integration tests
# named below only (no doc tests, no benches).
set -euo pipefail
cd "$(dirname "$0")/.."

# The protocol files: roles, state, quorum, progress, tracker, membership, log window, reads,
# snapshots, transfer, the codec. Not the engine's seams, the inject catalogue, formatting or
# the stats counters.
PROTOCOL=(
  raft-core/src/role
  raft-core/src/state.rs
  raft-core/src/node.rs
  raft-core/src/role_state.rs
  raft-core/src/quorum.rs
  raft-core/src/tracker
  raft-core/src/membership.rs
  raft-core/src/log
  raft-core/src/codec
  raft-core/src/message.rs
  raft-core/src/config.rs
)

base=${1:-${MUTANTS_BASE:-}}
if [ -z "$base" ]; then
  if ! base=$(git rev-parse --verify -q 'HEAD^1'); then
    echo "mutants-diff: HEAD has no parent in this clone: no change to check"
    exit 0
  fi
fi
diff_file=$(mktemp "${TMPDIR:-/tmp}/mutants-diff.XXXXXX")
trap 'rm -f "$diff_file"' EXIT
git diff "$base" HEAD -- "${PROTOCOL[@]}" >"$diff_file"
if [ ! -s "$diff_file" ]; then
  echo "mutants-diff: no change to raft-core's protocol files since $(git rev-parse --short "$base")"
  exit 0
fi
echo "mutants-diff: $(grep -c '^+++ ' "$diff_file") protocol files changed since $(git rev-parse --short "$base")"

command -v cargo-mutants >/dev/null || cargo install cargo-mutants --version 27.1.0 --locked

# The test targets, for the build and the test phase alike (`--cargo-arg`: arguments after
# `--` would reach only the test phase, and the build would build every target).
targets=(--lib)
for t in scenarios properties engine fastwire_matches_postcard hostile_input fuzz_corpus \
  known_bugs injected_bugs; do
  targets+=("--test=$t")
done
cargo_args=()
for a in "${targets[@]}"; do cargo_args+=("--cargo-arg=$a"); done
# nextest, where installed, stops a mutant's tests at the first failure (cargo test runs the
# rest of that test binary first, and the binaries in name order: the properties before the
# scenarios).
tool=()
if command -v cargo-nextest >/dev/null; then tool=(--test-tool nextest); fi

# The baseline: the same targets in the same profile must pass unmutated, or every mutant
# would count as caught. Run here, in the tree, not by cargo-mutants: its own baseline (27.x)
# builds and tests only the mutated package (raftcore), ignoring --test-package, so naming
# raft-sim's targets fails it ("no test target named `scenarios`"); the mutants are then
# tested with --baseline skip.
echo "mutants-diff: baseline (the targets below, unmutated, profile mutants)"
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --cargo-profile mutants -p raftcore -p raft-sim "${targets[@]}" --no-fail-fast
else
  cargo test --profile mutants -p raftcore -p raft-sim "${targets[@]}"
fi

budget=${MUTANTS_BUDGET:-900}
set +e
timeout "$budget" cargo mutants \
  --baseline skip \
  --in-diff "$diff_file" \
  --package raftcore \
  --test-package raftcore,raft-sim \
  --profile mutants \
  --timeout 180 \
  --jobs 1 \
  --no-shuffle \
  --output "${TMPDIR:-/tmp}" \
  "${tool[@]}" \
  "${cargo_args[@]}"
rc=$?
set -e
case $rc in
  0) echo "mutants-diff: every mutant of the change is caught" ;;
  124) echo "mutants-diff: not done within ${budget} s: run scripts/mutants-diff.sh by hand with MUTANTS_BUDGET set higher" ;;
  *) echo "mutants-diff: cargo mutants exited $rc (2: a mutant survived; see ${TMPDIR:-/tmp}/mutants.out/missed.txt)" ;;
esac
exit $rc
