#!/usr/bin/env bash
# SCIF at its limits (issue 18), over shm on this host (no VM): perf/scif_limits
# with 10 / 1,000 / 10,000 windows on one endpoint (time per scif_register,
# per 64-byte scif_writeto / scif_readfrom spread over every window: the
# lookup of our window and the peer's, per scif_unregister), 1,000 connected
# endpoints in one process (VmRSS and descriptors per endpoint), a 64 MiB
# message each way and one 4 GiB RMA each way (every byte checked).  With
# --old, the windows cases also run against another commit's libscif.so.0
# (exported with git archive, built under the build directory; the same
# scif_limits binary, loaded with LD_LIBRARY_PATH), interleaved run by run.
# A benchmark: CI does not run it.
#
#   scripts/bench_limits.sh [--runs N] [--old REV] [--rma SIZE]
#                           [--endpoints N] [--build-dir DIR]
#
#   --runs N       runs per windows case and library (default 3); medians
#   --old REV      also time the windows cases with REV's library (e.g. the
#                  commit before the ordered index: 01b606d)
#   --rma SIZE     the large RMA (default 4G; skipped, saying so, when
#                  MemAvailable is under twice SIZE plus 1 GiB)
#   --endpoints N  connected endpoints (default 1000)
#   --build-dir    where scif_limits is built (default build-perf; configured
#                  RelWithDebInfo and built if missing)
# Runs in a network namespace of its own when root (fixed SCIF ports).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

RUNS=3 OLD="" RMA=4G EPS=1000 BUILD=build-perf
usage() { sed -n '13,24s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
    case $1 in
    --runs) RUNS=${2:-}; shift 2 ;;
    --old) OLD=${2:-}; shift 2 ;;
    --rma) RMA=${2:-}; shift 2 ;;
    --endpoints) EPS=${2:-}; shift 2 ;;
    --build-dir) BUILD=${2:-}; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "bench_limits: unknown option $1" >&2; usage >&2 ;;
    esac
done
if ! [[ $RUNS =~ ^[0-9]+$ && $EPS =~ ^[0-9]+$ ]] || [ "$RUNS" -lt 1 ]; then
    echo "bench_limits: --runs and --endpoints take a positive number" >&2
    exit 2
fi

build() { # build DIR TARGET
    [ -f "$1/CMakeCache.txt" ] ||
        cmake -S . -B "$1" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$1" -j"$(nproc)" --target "$2" >/dev/null
}
build "$BUILD" scif_limits
LIMITS=$(realpath "$BUILD/perf/scif_limits")
OLDLIB=""
if [ -n "$OLD" ]; then
    OLDTREE=$(realpath "$BUILD")/limits-old/$(git rev-parse --short "$OLD^{commit}")
    if [ ! -d "$OLDTREE/src" ]; then # an export: no worktree to clean up
        mkdir -p "$OLDTREE/src"
        git archive "$OLD" | tar -x -C "$OLDTREE/src"
    fi
    (cd "$OLDTREE/src" && build "$OLDTREE/build" scif)
    OLDLIB=$OLDTREE/build
fi

export SCIF_PROVIDER=shm SCIF_SELF_NODE=0
export SCIF_NODES_FILE=$REPO/test/cluster/native_nodes.conf
ns() { # run in a network namespace of our own where we can
    if [ "$(id -u)" = 0 ]; then
        unshare -n bash -c 'ip link set lo up; exec "$@"' ns "$@"
    else
        "$@"
    fi
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# windows LIB N -> "register writeto readfrom unregister" (us, client side)
windows_run() {
    local lib=$1 n=$2
    LD_LIBRARY_PATH=$lib ns "$LIMITS" windows "$n" | grep ' client:' |
        grep -oE '[0-9.]+ us' | awk '{ printf "%s ", $1 } END { print "" }'
}

echo "windows on one endpoint, median of $RUNS runs, microseconds per call"
printf '%-6s %7s %10s %10s %10s %10s\n' lib windows register writeto64 \
    readfrom64 unregister
for n in 10 1000 10000; do
    declare -A col=()
    for ((r = 0; r < RUNS; r++)); do
        for lib in new ${OLD:+old}; do
            libdir=""
            [ "$lib" = old ] && libdir=$OLDLIB
            read -r a b c d < <(windows_run "$libdir" "$n")
            col[$lib.0]+="$a "$'\n' col[$lib.1]+="$b "$'\n'
            col[$lib.2]+="$c "$'\n' col[$lib.3]+="$d "$'\n'
        done
    done
    for lib in new ${OLD:+old}; do
        printf '%-6s %7s' "$lib" "$n"
        for k in 0 1 2 3; do
            printf ' %10s' "$(printf '%s' "${col[$lib.$k]}" | median)"
        done
        echo
    done
    unset col
done

echo
ns "$LIMITS" endpoints "$EPS"
ns "$LIMITS" msg 64M
need=$(( $(numfmt --from=iec "$RMA") * 2 / 1024 + 1048576 ))
avail=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
if [ "$avail" -lt "$need" ]; then
    echo "rma $RMA: skipped, MemAvailable ${avail} KiB < ${need} KiB"
else
    ns "$LIMITS" rma "$RMA"
fi
