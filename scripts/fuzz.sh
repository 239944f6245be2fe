#!/usr/bin/env bash
# Fuzz one target for a while, with libFuzzer (clang) under ASan/UBSan:
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer options...]
#   scripts/fuzz.sh list
#
# TARGET is one of test/fuzz/fuzz_*.c (wire nodemap ctrl tcp shm verbs
# hello).
# Builds build-fuzz/ (clang, -DSCIF_FUZZ=ON) if needed, starts from the
# committed corpus test/fuzz/corpus/TARGET (read only) plus the inputs of
# earlier runs (build-fuzz/corpus/TARGET), runs one process for SECONDS, and
# reports the executions, their rate and the coverage reached (libFuzzer's
# cov: edges, of those instrumented in the whole library; ft: features).  A finding is saved as
# build-fuzz/findings/TARGET/crash-* (or leak-, timeout-) and fails the run;
# once fixed, copy it into the committed corpus so the regression test
# replays it.  The library's error log is silenced (-close_fd_mask=2);
# rerun a finding with build-fuzz/test/fuzz/fuzz_TARGET FILE to see it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${SCIF_FUZZ_BUILD:-$REPO/build-fuzz}
CC_FUZZ=${CC_FUZZ:-clang-14}
die() { printf 'fuzz.sh: %s\n' "$*" >&2; exit 2; }

targets=$(cd "$REPO/test/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//' |
    grep -vx -e main -e ep)
if [ "${1:-}" = list ]; then
    echo "$targets"
    exit 0
fi
[ $# -ge 2 ] || die "usage: scripts/fuzz.sh TARGET SECONDS [libFuzzer options] | list"
target=$1 secs=$2
shift 2
grep -qx "$target" <<<"$targets" || die "no target '$target' (one of: $(echo $targets))"
[[ $secs =~ ^[0-9]+$ ]] || die "SECONDS must be a number"
command -v "$CC_FUZZ" >/dev/null ||
    die "$CC_FUZZ not found (Debian: clang-14 libclang-rt-14-dev, see scripts/setup.sh)"

# configured every time: a target added since is then known
CC=$CC_FUZZ cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSCIF_WERROR=ON -DSCIF_FUZZ=ON -DSCIF_SANITIZE=address,undefined >/dev/null
cmake --build "$BUILD" --target "fuzz_$target" -j"$(nproc)" >/dev/null

work=$BUILD/corpus/$target findings=$BUILD/findings/$target
mkdir -p "$work" "$findings"
log=$BUILD/fuzz-$target.log
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
rc=0
"$BUILD/test/fuzz/fuzz_$target" -max_total_time="$secs" -max_len=65536 \
    -timeout=10 -rss_limit_mb=2048 -close_fd_mask=2 -print_final_stats=1 \
    -artifact_prefix="$findings/" "$@" "$work" "$REPO/test/fuzz/corpus/$target" \
    >"$log" 2>&1 || rc=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
last=$(grep -E '^#[0-9]+' "$log" | tail -n1 || true)
cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' <<<"$last")
ft=$(sed -n 's/.* ft: \([0-9]*\) .*/\1/p' <<<"$last")
# edges instrumented: the whole library is, not only what the target reaches
total=$(sed -n 's/^INFO: Loaded [0-9]* modules *(\([0-9]*\) inline.*/\1/p' "$log" | head -n1)
units=$(ls "$work" | wc -l)
echo "fuzz.sh: $target ${secs}s: ${execs:-?} executions (${rate:-?}/s)," \
    "coverage ${cov:-?} of ${total:-?} edges, ${ft:-?} features," \
    "corpus $units inputs (+$(ls "$REPO/test/fuzz/corpus/$target" | wc -l) committed)"
if [ "$rc" -ne 0 ]; then
    echo "fuzz.sh: FINDING (exit $rc): $(ls -t "$findings" | head -n1)"; grep -m3 -E 'ERROR|SUMMARY|fuzz: ' "$log" || true
    echo "fuzz.sh: full log $log"
    exit 1
fi
