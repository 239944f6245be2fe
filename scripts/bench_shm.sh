#!/usr/bin/env bash
# Benchmark the shared-memory provider on this host (no VM): scif_bw and
# scif_lat with SCIF_PROVIDER=shm against memcpy_bw (the one-copy ceiling)
# and ucx_perftest over UCX's shared-memory transports (UCX_TLS=sm), taking
# turns pair after pair.  A benchmark, not a test: CI does not run it.
#
#   scripts/bench_shm.sh [--pairs N] [--quick] [--build-dir DIR]
#                        [--results DIR] [--deadline SEC]
#
#   --pairs N     measurements per metric and side (default 5, 1..50)
#   --quick       fewer iterations per measurement (a smoke run, ~1 min)
#   --build-dir   where memcpy_bw / scif_bw / scif_lat are built (default
#                 build-perf; configured RelWithDebInfo if not yet)
#   --results     results directory (default <build-dir>/bench-shm/<time>)
#   --deadline    start no pair that would end later than SEC seconds after
#                 the start, and no step at all after SEC + 60 (default 540
#                 for up to 5 pairs, 100 more per extra pair)
#
# Per pair, for each size of 64 KiB, 1 MiB and 64 MiB (reference first, then
# ours, in every pair):
#   write_S  memcpy_bw -s S               vs  scif_bw -t writeto -s S
#   read_S   memcpy_bw -s S               vs  scif_bw -t readfrom -s S
#   put_S    ucx_perftest -t ucp_put_bw   vs  scif_bw -t writeto -s S
# and, for 64 MiB only, reads through a mapping against scif_readfrom:
#   mmap_64M scif_bw -t readfrom -s 64M   vs  scif_bw -t mmap -s 64M
#   mmap_64M_direct  the same with -M shared on the mapping's side: the
#                    window is shared memory, which the mapping maps
#                    directly (docs/mmap.md); mmap_64M's window is private
#                    (the fault thread's path)
# and for 8-byte one-way latency (median of the run):
#   lat_8B_spin   ucx_perftest -t ucp_am_lat  vs  scif_lat -t send, both sides
#                 with SCIF_SPIN_US=1000000 (spin before sleeping)
#   lat_8B_block  ucx_perftest -t ucp_am_lat  vs  scif_lat -t send, blocking
# scif_bw / scif_lat run as a server (no -n) and a client (-n 0) on port
# numbers of their own, with SCIF_NODES_FILE=test/cluster/native_nodes.conf
# (node 0 = 127.0.0.1) and SCIF_SELF_NODE=0.  ucx_perftest runs as a server
# (-p PORT) and a client (127.0.0.1 -p PORT ...) with UCX_TLS=sm; it
# busy-polls (its only mode).  Bandwidth is BW average in MB/s, MB = 2^20
# bytes (perftest's, scif_bw's and ucx_perftest's unit); latency is usec.
# Output: a table (medians, ratio ours / reference, min-max spreads, the
# project's targets), and results.json, results.tsv, table.txt and every
# tool's output under the results directory.
# Needs ucx_perftest: apt-installs Debian's ucx-utils if it is missing.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

PAIRS=5 QUICK=0 BUILD=build-perf RESULTS="" DEADLINE=""
usage() { sed -n '7,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
    case $1 in
    --pairs) PAIRS=${2:-}; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --build-dir) BUILD=${2:-}; shift 2 ;;
    --results) RESULTS=${2:-}; shift 2 ;;
    --deadline) DEADLINE=${2:-}; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "bench_shm: unknown option $1" >&2; usage >&2 ;;
    esac
done
if ! [[ $PAIRS =~ ^[0-9]+$ ]] || [ "$PAIRS" -lt 1 ] || [ "$PAIRS" -gt 50 ]; then
    echo "bench_shm: --pairs must be 1..50" >&2
    exit 2
fi
if [ -z "$DEADLINE" ]; then
    DEADLINE=540
    [ "$PAIRS" -le 5 ] || DEADLINE=$((540 + (PAIRS - 5) * 100))
elif ! [[ $DEADLINE =~ ^[0-9]+$ ]] || [ "$DEADLINE" -lt 10 ]; then
    echo "bench_shm: --deadline must be a number of seconds >= 10" >&2
    exit 2
fi
HARD=$((DEADLINE + 60)) # no step starts after this
T0=$SECONDS
log() { printf '[bench_shm %4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }

# --- tools and build ----------------------------------------------------------
if ! command -v ucx_perftest >/dev/null; then
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "bench_shm: ucx_perftest missing, not root and no sudo" >&2; exit 1; }
        SUDO=(sudo)
    fi
    log "ucx_perftest missing: apt-get install -y ucx-utils"
    if ! "${SUDO[@]}" apt-get install -y -q ucx-utils >&2; then
        log "apt-get update, then install again"
        "${SUDO[@]}" apt-get update -q >&2
        "${SUDO[@]}" apt-get install -y -q ucx-utils >&2
    fi
fi
command -v ucx_perftest >/dev/null || { echo "bench_shm: no ucx_perftest" >&2; exit 1; }

BUILD=$(mkdir -p "$BUILD" && cd "$BUILD" && pwd)
log "building memcpy_bw, scif_bw and scif_lat in $BUILD"
[ -f "$BUILD/CMakeCache.txt" ] ||
    cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target memcpy_bw scif_bw scif_lat >/dev/null
BIN=$BUILD/perf
for t in memcpy_bw scif_bw scif_lat; do
    [ -x "$BIN/$t" ] || { echo "bench_shm: $BIN/$t was not built" >&2; exit 1; }
done

[ -n "$RESULTS" ] || RESULTS=$BUILD/bench-shm/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS/raw"
RESULTS=$(cd "$RESULTS" && pwd)
RAW=$RESULTS/raw
TSV=$RESULTS/results.tsv
FAILS_TXT=$RESULTS/failures.txt
: >"$TSV"
: >"$FAILS_TXT"

# --- work per measurement ------------------------------------------------------
# The same transfer count for every tool of a size, chosen so that a run
# moves 2.5-4 GiB (~0.1-2 s on a 2-core VM); warm-ups as scif_bw's default
# (one pass over its window: 16 transfers, 1 for 64 MiB).
if [ "$QUICK" -eq 1 ]; then
    N64K=2000 N1M=200 N64M=4 NLAT=2000 WLAT=100 STEP_TIMEOUT=30
else
    N64K=40000 N1M=4000 N64M=64 NLAT=20000 WLAT=1000 STEP_TIMEOUT=60
fi
LATSZ=8
SPIN_US=1000000
iters_for() { case $1 in 65536) echo "$N64K" ;; 1048576) echo "$N1M" ;; *) echo "$N64M" ;; esac; }
warm_for() { case $1 in 67108864) echo 1 ;; *) echo 16 ;; esac; }

SCIF_ENV=(SCIF_PROVIDER=shm "SCIF_NODES_FILE=$REPO/test/cluster/native_nodes.conf" SCIF_SELF_NODE=0)
UCX_ENV=(UCX_TLS=sm)
# SCIF ports (abstract unix socket names for shm) and ucx_perftest's TCP
# ports: a fresh one for every measurement, below the ephemeral range.
SCIF_PORT0=20000 UCX_PORT0=30000
SEQ=0

# argv_for ROLE TOOL SIZE PORT: fills ARGV (env ... prog args) for one side.
argv_for() {
    local role=$1 tool=$2 size=$3 port=$4 n w
    n=$(iters_for "$size")
    w=$(warm_for "$size")
    case $tool in
    memcpy_bw)
        ARGV=(env "$BIN/memcpy_bw" -s "$size" -i "$n" --json) ;;
    scif_writeto | scif_readfrom | scif_mmap)
        ARGV=(env -u SCIF_SPIN_US "${SCIF_ENV[@]}" "$BIN/scif_bw" -t "${tool#scif_}" -p "$port")
        if [ "$role" = client ]; then ARGV+=(-n 0 -s "$size" -i "$n" --json); fi ;;
    scif_mmap_direct) # the server follows the client's -M
        ARGV=(env -u SCIF_SPIN_US "${SCIF_ENV[@]}" "$BIN/scif_bw" -t mmap -p "$port")
        if [ "$role" = client ]; then ARGV+=(-n 0 -s "$size" -i "$n" -M shared --json); fi ;;
    scif_lat_spin | scif_lat_block)
        ARGV=(env -u SCIF_SPIN_US "${SCIF_ENV[@]}")
        if [ "$tool" = scif_lat_spin ]; then ARGV+=("SCIF_SPIN_US=$SPIN_US"); fi
        ARGV+=("$BIN/scif_lat" -t send -p "$port")
        if [ "$role" = client ]; then ARGV+=(-n 0 -s "$size" -i "$NLAT" -w "$WLAT" --json); fi ;;
    ucx_put_bw)
        ARGV=(env "${UCX_ENV[@]}" ucx_perftest)
        if [ "$role" = client ]; then ARGV+=(127.0.0.1); fi
        ARGV+=(-p "$port")
        if [ "$role" = client ]; then ARGV+=(-t ucp_put_bw -s "$size" -n "$n" -w "$w"); fi ;;
    ucx_am_lat)
        ARGV=(env "${UCX_ENV[@]}" ucx_perftest)
        if [ "$role" = client ]; then ARGV+=(127.0.0.1); fi
        ARGV+=(-p "$port")
        if [ "$role" = client ]; then ARGV+=(-t ucp_am_lat -s "$size" -n "$NLAT" -w "$WLAT"); fi ;;
    *) echo "bench_shm: no tool $tool" >&2; exit 2 ;;
    esac
}

# parse TOOL LOG: the number compared, or nothing.  Our tools: the --json
# line (memcpy_bw / scif_bw: bw_avg_MBps; scif_lat: t_typical_us, the
# median).  ucx_perftest: its "Final:" line; ucp_put_bw: bandwidth overall
# (MB/s, 2^20), ucp_am_lat: latency 50.0%ile (one-way usec, the median).
parse() {
    case $1 in
    memcpy_bw | scif_writeto | scif_readfrom | scif_mmap | scif_mmap_direct)
        sed -n 's/^{.*"bw_avg_MBps":\([0-9.]*\).*"verify":\(null\|"ok"\)}$/\1/p' "$2" | head -1 ;;
    scif_lat_*)
        sed -n 's/^{.*"t_typical_us":\([0-9.]*\).*/\1/p' "$2" | head -1 ;;
    ucx_put_bw)
        awk '$1 == "Final:" && $7 + 0 > 0 { print $7; exit }' "$2" ;;
    ucx_am_lat)
        awk '$1 == "Final:" && $3 + 0 > 0 { print $3; exit }' "$2" ;;
    esac
}

quote() { local a s=""; for a in "$@"; do s+="${s:+ }$(printf '%q' "$a")"; done; printf '%s' "$s"; }

SPID="" WATCHER=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    if [ -n "$SPID" ] && kill -0 "$SPID" 2>/dev/null; then
        kill "$SPID" 2>/dev/null || true
        wait "$SPID" 2>/dev/null || true
    fi
    if [ -n "$WATCHER" ]; then
        kill "$WATCHER" 2>/dev/null || true
        wait "$WATCHER" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
trap 'log "error: a command at line $LINENO failed (status $?)"' ERR

# step_timeout: STEP_TIMEOUT, less when the hard deadline is near.
step_timeout() {
    local left=$((HARD - (SECONDS - T0)))
    [ "$left" -lt "$STEP_TIMEOUT" ] && echo $((left > 5 ? left : 5)) || echo "$STEP_TIMEOUT"
}

FAILS=0
# fail NAME WHY CMDS...: note a failed measurement with the commands to rerun.
fail() {
    local name=$1 why=$2
    shift 2
    FAILS=$((FAILS + 1))
    log "$name: FAILED ($why)"
    {
        printf '%s: %s\n' "$name" "$why"
        printf '  cd %q\n' "$REPO"
        local c
        for c in "$@"; do printf '  %s\n' "$c"; done
    } | tee -a "$FAILS_TXT" >&2
}

# measure PAIR METRIC SIDE TOOL SIZE UNIT: one measurement; appends
#   pair <TAB> metric <TAB> side(ref|ours) <TAB> tool <TAB> value <TAB> unit
# to results.tsv.
measure() {
    local k=$1 metric=$2 side=$3 tool=$4 size=$5 unit=$6
    local name=pair$k/$metric.$side.$tool port rc=0 src=0 v="" tmo scmd="" ccmd i
    if [ $((SECONDS - T0)) -ge "$HARD" ]; then
        log "$name: skipped, past the ${HARD}s hard deadline"
        return 0
    fi
    SEQ=$((SEQ + 1))
    tmo=$(step_timeout)
    local slog=$RAW/$name.server.log clog=$RAW/$name.client.log
    mkdir -p "$RAW/pair$k"
    case $tool in scif_*) port=$((SCIF_PORT0 + SEQ)) ;; *) port=$((UCX_PORT0 + SEQ)) ;; esac
    if [ "$tool" = memcpy_bw ]; then
        argv_for client "$tool" "$size" 0
        ccmd=$(quote "${ARGV[@]}")
        echo "$ccmd" >"$RAW/$name.cmd"
        timeout "$tmo" "${ARGV[@]}" >"$clog" 2>&1 || rc=$?
    else
        argv_for server "$tool" "$size" "$port"
        scmd=$(quote "${ARGV[@]}")
        timeout "$((tmo + 10))" "${ARGV[@]}" >"$slog" 2>&1 &
        SPID=$!
        argv_for client "$tool" "$size" "$port"
        ccmd=$(quote "${ARGV[@]}")
        printf '%s &\n%s\n' "$scmd" "$ccmd" >"$RAW/$name.cmd"
        case $tool in
        scif_*)
            # the server says so on stderr when it listens (the client
            # would otherwise retry every 100 ms)
            for ((i = 0; i < 100; i++)); do
                grep -q 'waiting for a client' "$slog" 2>/dev/null && break
                kill -0 "$SPID" 2>/dev/null || break
                sleep 0.05
            done
            timeout "$tmo" "${ARGV[@]}" >"$clog" 2>&1 || rc=$?
            ;;
        ucx_*)
            # ucx_perftest says nothing when it listens: retry a refused
            # connection for up to 10 s
            for ((i = 0; i < 100; i++)); do
                rc=0
                timeout "$tmo" "${ARGV[@]}" >"$clog" 2>&1 || rc=$?
                if [ $rc -eq 0 ] || ! grep -q 'Connection refused' "$clog" ||
                    ! kill -0 "$SPID" 2>/dev/null; then
                    break
                fi
                sleep 0.1
            done
            ;;
        esac
        # the server ends with its client; give it 5 s, then stop it
        for ((i = 0; i < 50; i++)); do
            kill -0 "$SPID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SPID" 2>/dev/null; then
            log "$name: server still running 5 s after its client ended: stopping it"
            kill "$SPID" 2>/dev/null || true
            [ $rc -ne 0 ] || rc=125
        fi
        wait "$SPID" 2>/dev/null || src=$?
        SPID=""
        if [ $src -ne 0 ] && [ $rc -eq 0 ]; then rc=$((200 + src % 50)); fi
    fi
    v=$(parse "$tool" "$clog")
    if [ $rc -ne 0 ] || [ -z "$v" ]; then
        local why="exit status $rc"
        [ $rc -eq 124 ] && why="client timed out after ${tmo}s (hang?)"
        [ $rc -eq 125 ] && why="server did not exit after its client finished"
        [ $rc -ge 200 ] && why="server exit status $src"
        [ $rc -eq 0 ] && why="no number in the client output"
        fail "$name" "$why" ${scmd:+"$scmd &"} "$ccmd"
        { echo "    client log (tail):"; tail -n 5 "$clog" | sed 's/^/      /'
          if [ -n "$scmd" ]; then echo "    server log (tail):"; tail -n 5 "$slog" | sed 's/^/      /'; fi
        } | tee -a "$FAILS_TXT" >&2
        return 0
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$k" "$metric" "$side" "$tool" "$v" "$unit" >>"$TSV"
    log "pair $k $metric $side $tool: $v $unit"
}

# metric reference-tool our-tool size unit
STEPS=()
for s in 65536:64K 1048576:1M 67108864:64M; do
    size=${s%%:*} lab=${s#*:}
    STEPS+=("write_$lab memcpy_bw scif_writeto $size MB/s"
        "read_$lab memcpy_bw scif_readfrom $size MB/s"
        "put_$lab ucx_put_bw scif_writeto $size MB/s")
done
STEPS+=("mmap_64M scif_readfrom scif_mmap 67108864 MB/s"
    "mmap_64M_direct scif_readfrom scif_mmap_direct 67108864 MB/s")
STEPS+=("lat_${LATSZ}B_spin ucx_am_lat scif_lat_spin $LATSZ usec"
    "lat_${LATSZ}B_block ucx_am_lat scif_lat_block $LATSZ usec")

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# Watch for QEMU VMs (other people's test clusters) while we run: on a small
# host any other busy process distorts the numbers, and VMs are the usual one.
VMS0=$(pgrep -c qemu-system || true)
[ "$VMS0" -eq 0 ] || log "warning: $VMS0 QEMU VM(s) running on this machine: timings will be disturbed"
(
    most=0
    while sleep 2; do
        c=$(pgrep -c qemu-system || true)
        [ "$c" -le "$most" ] || { most=$c; echo "$most" >"$RESULTS/foreign_vms"; }
    done
) &
WATCHER=$!
log "$PAIRS pairs, quick=$QUICK, deadline ${DEADLINE}s; results in $RESULTS"
log "load average at start: $LOAD0 ($(nproc) CPUs)"
pair_secs=0
done_pairs=0
stopped=""
for ((k = 1; k <= PAIRS; k++)); do
    if [ $k -gt 1 ] && [ $((SECONDS - T0 + pair_secs + pair_secs / 4)) -gt "$DEADLINE" ]; then
        stopped="stopped before pair $k: it would end past the ${DEADLINE}s deadline"
        log "$stopped"
        break
    fi
    ps=$SECONDS
    for s in "${STEPS[@]}"; do
        read -r metric ref ours size unit <<<"$s"
        measure "$k" "$metric" ref "$ref" "$size" "$unit"
        measure "$k" "$metric" ours "$ours" "$size" "$unit"
    done
    d=$((SECONDS - ps))
    [ $d -gt $pair_secs ] && pair_secs=$d
    done_pairs=$k
    log "pair $k done in ${d}s"
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
kill "$WATCHER" 2>/dev/null || true
wait "$WATCHER" 2>/dev/null || true
WATCHER=""
VMS=$VMS0
if [ -s "$RESULTS/foreign_vms" ] && [ "$(cat "$RESULTS/foreign_vms")" -gt "$VMS" ]; then
    VMS=$(cat "$RESULTS/foreign_vms")
fi
DISTURBED=""
[ "$VMS" -eq 0 ] || DISTURBED="DISTURBED: up to $VMS QEMU VM(s) ran during the benchmark"
log "finished: $done_pairs pairs, $FAILS failed measurements, $((SECONDS - T0))s; load average now $LOAD1"

# --- summary ------------------------------------------------------------------
jstr() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\n'; }
# (other people's git commands may hold the index lock: never fail here)
CPU=$(sed -n 's/^model name[[:space:]]*: //p;T;q' /proc/cpuinfo || true)
UCXV=$(dpkg-query -W -f='${Version}' ucx-utils 2>/dev/null || echo unknown)
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$( (git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null || echo '?') | wc -l)
CMD="scripts/bench_shm.sh --pairs $PAIRS"
[ "$QUICK" -eq 0 ] || CMD+=" --quick"
HEADER=$(printf '{"benchmark":"bench_shm","command":"%s","quick":%s,"pairs_asked":%d,"pairs_done":%d,"failed_measurements":%d,"stopped":"%s","disturbed":"%s","seconds":%d,"host":{"cpus":%d,"cpu":"%s","kernel":"%s","loadavg_start":"%s","loadavg_end":"%s"},"commit":"%s","modified_tracked_files":%d,"ucx_version":"%s","iterations":{"64K":%d,"1M":%d,"64M":%d,"lat":%d},"env":{"scif":"%s","ucx":"%s","spin":"SCIF_SPIN_US=%d"}' \
    "$(jstr "$CMD")" "$(if [ "$QUICK" -eq 1 ]; then echo true; else echo false; fi)" "$PAIRS" "$done_pairs" "$FAILS" \
    "$(jstr "$stopped")" "$(jstr "$DISTURBED")" $((SECONDS - T0)) "$(nproc)" "$(jstr "$CPU")" "$(uname -r)" "$LOAD0" "$LOAD1" \
    "$COMMIT" "$DIRTY" "$(jstr "$UCXV")" "$N64K" "$N1M" "$N64M" "$NLAT" \
    "$(jstr "${SCIF_ENV[*]}")" "$(jstr "${UCX_ENV[*]}")" "$SPIN_US")

awk -F'\t' -v json="$RESULTS/results.json" -v header="$HEADER" -v pairs="$done_pairs" '
function median(a, n,   i, j, t, b) {
    for (i = 1; i <= n; i++) b[i] = a[i]
    for (i = 2; i <= n; i++) { t = b[i]; for (j = i - 1; j >= 1 && b[j] > t; j--) b[j + 1] = b[j]; b[j + 1] = t }
    if (n % 2) return b[(n + 1) / 2]
    return (b[n / 2] + b[n / 2 + 1]) / 2
}
function mn(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] < m) m = a[i]; return m }
function mx(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] > m) m = a[i]; return m }
function list(a, n,   i, s) { s = ""; for (i = 1; i <= n; i++) s = s (i > 1 ? "," : "") a[i]; return "[" s "]" }
# the project targets: bandwidth ratio at least, latency ratio at most
function target(m) {
    if (m ~ /^(write|read)_64K$/) return ">=0.5"
    if (m ~ /^(write|read)_1M$/) return ">=0.7"
    if (m ~ /^(write|read)_64M$/) return ">=0.9"
    if (m == "mmap_64M") return ">=0.5"
    if (m == "lat_8B_spin") return "<=1.5"
    return ""
}
function met(t, r) {
    if (t == "" || r <= 0) return ""
    if (substr(t, 1, 2) == ">=") return r >= substr(t, 3) + 0 ? "met" : "MISSED"
    return r <= substr(t, 3) + 0 ? "met" : "MISSED"
}
{
    m = $2
    if (!(m in seen)) { seen[m] = 1; order[++nm] = m; unit[m] = $6 }
    if ($3 == "ref") { rn[m]++; rv[m, rn[m]] = $5; rtool[m] = $4 }
    else { sn[m]++; sv[m, sn[m]] = $5; stool[m] = $4 }
}
END {
    printf "\nshm provider on this host: %d pair(s) of measurements, reference then ours in each pair\n", pairs
    printf "MB/s = 2^20 bytes/s (BW average); usec = one-way latency, median of the run\n"
    printf "ratio = ours median / reference median (bandwidth: higher is better; latency: lower is better)\n\n"
    printf "%-13s %-13s %-15s %10s %10s %7s  %-19s %-19s %-5s %s\n", "metric", "reference", "ours", "ref med", "ours med", "ratio", "ref spread", "ours spread", "unit", "target"
    printf "%s,\"metrics\":[", header > json
    for (i = 1; i <= nm; i++) {
        m = order[i]
        delete a; delete b
        for (k = 1; k <= rn[m]; k++) a[k] = rv[m, k]
        for (k = 1; k <= sn[m]; k++) b[k] = sv[m, k]
        rmed = rn[m] ? median(a, rn[m]) : 0; smed = sn[m] ? median(b, sn[m]) : 0
        ratio = (rmed > 0 && smed > 0) ? smed / rmed : 0
        rs = rn[m] ? sprintf("%.2f-%.2f", mn(a, rn[m]), mx(a, rn[m])) : "-"
        ss = sn[m] ? sprintf("%.2f-%.2f", mn(b, sn[m]), mx(b, sn[m])) : "-"
        t = target(m); r = met(t, ratio)
        printf "%-13s %-13s %-15s %10.2f %10.2f %7.3f  %-19s %-19s %-5s %s\n", m, rtool[m], stool[m], rmed, smed, ratio, rs, ss, unit[m], (t == "" ? "-" : t " " r)
        printf "%s{\"metric\":\"%s\",\"unit\":\"%s\",\"reference\":{\"tool\":\"%s\",\"n\":%d,\"median\":%.3f,\"min\":%s,\"max\":%s,\"values\":%s},\"ours\":{\"tool\":\"%s\",\"n\":%d,\"median\":%.3f,\"min\":%s,\"max\":%s,\"values\":%s},\"ratio\":%.4f,\"target\":%s,\"target_met\":%s}", (i > 1 ? "," : ""), m, unit[m], rtool[m], rn[m], rmed, rn[m] ? mn(a, rn[m]) : "null", rn[m] ? mx(a, rn[m]) : "null", list(a, rn[m]), stool[m], sn[m], smed, sn[m] ? mn(b, sn[m]) : "null", sn[m] ? mx(b, sn[m]) : "null", list(b, sn[m]), ratio, (t == "" ? "null" : "\"" t "\""), (r == "" ? "null" : (r == "met" ? "true" : "false")) > json
    }
    printf "]}\n" > json
}' "$TSV" | tee "$RESULTS/table.txt"

cat <<EOF | tee -a "$RESULTS/table.txt"

memcpy_bw: one thread copying between two touched, page-aligned buffers of the
size (64 KiB stays in cache). scif_bw: -d 16 in flight, blocking waits.
ucx_perftest (UCX_TLS=sm) busy-polls; scif_lat spins only in lat_8B_spin.
$done_pairs of $PAIRS pairs, $FAILS failed measurement(s); load average $LOAD0 at start, $LOAD1 at end.
${DISTURBED:+$DISTURBED: rerun when the machine is idle.
}Results: $RESULTS (results.json, results.tsv, table.txt, raw/)
EOF
if [ "$FAILS" -gt 0 ]; then
    echo "Failed measurements (commands to rerun them in $RESULTS/failures.txt):"
    grep -v '^ ' "$FAILS_TXT" || true
    exit 1
fi
[ "$done_pairs" -eq "$PAIRS" ] || exit 1
exit 0
