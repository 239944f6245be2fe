#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is
# missing (scripts/setup.sh), builds with -Werror, then runs the unit, native
# (shm) and netns (tcp) tests in an ASan+UBSan build and again plain, the
# same-node cluster tests (Soft-RoCE VMs, mic fake) in the ASan+UBSan build
# only, and the two-node cluster tests plain.  Exits non-zero on any
# failure.  Safe to run again.
#
#   scripts/test.sh [ctest args...]     e.g. scripts/test.sh -R stream
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
log() { printf '\n== %s\n' "$*"; }
start=$(date +%s)

log "setup (packages, Debian kernel for the test VMs)"
bash scripts/setup.sh

log "build (Release + -Werror) in build-ci/"
cmake -S . -B build-ci -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCIF_WERROR=ON >/dev/null
cmake --build build-ci -j"$(nproc)"

log "build (ASan + UBSan) in build-asan/"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCIF_WERROR=ON \
    -DSCIF_SANITIZE=address,undefined >/dev/null
cmake --build build-asan -j"$(nproc)"

# Sanitizer reports fail the run: any report exits non-zero.
export ASAN_OPTIONS=abort_on_error=0:detect_leaks=1:exitcode=99
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=98

# Each run's summary is kept to add up a total at the end.
summaries=$(mktemp)
trap 'rm -f "$summaries"' EXIT
run_ctest() {
    ctest "$@" | tee -a "$summaries"
    return "${PIPESTATUS[0]}"
}

log "sanitizer run: unit tests, native shm tests, same-node cluster tests"
# (fork tests excepted: see test/cluster/CMakeLists.txt)
run_ctest --test-dir build-asan --output-on-failure -L unit
run_ctest --test-dir build-asan --output-on-failure -L native -E fork "$@"
run_ctest --test-dir build-asan --output-on-failure -L netns "$@"
run_ctest --test-dir build-asan --output-on-failure -L cluster -R '_1n$' -E fork "$@"

log "full run: unit, native, netns and two-node cluster tests (Soft-RoCE VMs)"
# The same-node cluster tests (mic ones included) ran under ASan above and
# are not repeated (half of the suite's time); the fork test, kept out of
# the ASan run, runs here.
run_ctest --test-dir build-ci --output-on-failure -E '_1n$' "$@"
run_ctest --test-dir build-ci --output-on-failure -R '^cluster_fork_1n$'

total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2/p' "$summaries" |
    awk '{ s += $1 } END { print s + 0 }')
echo "test.sh: done in $(( $(date +%s) - start )) s"
echo "test.sh: $total passed, 0 failed"
