#!/usr/bin/env bash
# Benchmark the tcp provider between two network namespaces over a veth pair
# (192.0.2.101 <-> 192.0.2.102, no VM): scif_bw and scif_lat with
# SCIF_PROVIDER=tcp against iperf3 (one stream) and ucx_perftest over UCX's
# tcp transport (UCX_TLS=tcp), taking turns pair after pair (structure of
# scripts/bench_shm.sh).  A benchmark, not a test: CI does not run it.
# Needs root, iproute2, iperf3 and ucx_perftest (apt-installs iperf3 and
# ucx-utils when missing).
#
#   scripts/bench_tcp.sh [--pairs N] [--quick] [--build-dir DIR] [--results DIR]
#                        [--only REGEX]
#   --only REGEX  only the metrics whose name matches (bash =~)
#
# Per pair (reference first, then ours):
#   send_1M      iperf3 -c (one stream, 3 s)       vs  scif_bw -t send -s 1M
#   writeto_1M   iperf3                            vs  scif_bw -t writeto -s 1M
#   readfrom_1M  iperf3                            vs  scif_bw -t readfrom -s 1M
#   put_1M       ucx_perftest -t ucp_put_bw -s 1M  vs  scif_bw -t writeto -s 1M
#   get_1M       ucx_perftest -t ucp_get -s 1M     vs  scif_bw -t readfrom -s 1M
#   lat_8B       ucx_perftest -t ucp_am_lat -s 8   vs  scif_lat -t send -s 8
#                (median one-way usec; both busy-poll: SCIF_SPIN_US=1000000)
#   mmap_64M     scif_bw -t readfrom -s 64M        vs  scif_bw -t mmap -s 64M
#                (reads through a scif_mmap mapping, the fault thread's)
# Bandwidth in MB/s (2^20 bytes); iperf3's bits/s converted.  Output: a table
# of medians, ratio ours/reference, min-max spreads, and results.tsv.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
PAIRS=5 QUICK=0 BUILD=build-perf RESULTS="" ONLY=""
while [ $# -gt 0 ]; do
    case $1 in
    --pairs) PAIRS=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    -h | --help) sed -n '9,25s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench_tcp: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench_tcp: needs root (ip netns)" >&2; exit 1; }
T0=$SECONDS
log() { printf '[bench_tcp %4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }

for pkg in iperf3:iperf3 ucx_perftest:ucx-utils; do
    command -v "${pkg%%:*}" >/dev/null && continue
    log "${pkg%%:*} missing: apt-get install -y ${pkg#*:}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkg#*:}" >&2
done
if [ ! -x "$BUILD/perf/scif_bw" ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" -j"$(nproc)" --target scif_bw scif_lat >/dev/null
BIN=$(cd "$BUILD/perf" && pwd)
[ -n "$RESULTS" ] || RESULTS=$BUILD/bench-tcp/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS/raw"
RAW=$(cd "$RESULTS/raw" && pwd)
TSV=$RESULTS/results.tsv
: >"$TSV"
if [ "$QUICK" -eq 1 ]; then N1M=300 N64M=2 NLAT=2000 IPT=1; else N1M=3000 N64M=20 NLAT=20000 IPT=3; fi

# --- the two hosts --------------------------------------------------------------
A=scifbenchA$$ B=scifbenchB$$
SPID=""
cleanup() {
    [ -z "$SPID" ] || { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; } || true
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$A"
ip netns add "$B"
ip -n "$A" link add eth0 type veth peer name eth0 netns "$B"
ip -n "$A" addr add 192.0.2.101/24 dev eth0
ip -n "$B" addr add 192.0.2.102/24 dev eth0
for ns in "$A" "$B"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
done
MAP=$RESULTS/nodes
printf '0 192.0.2.101\n1 192.0.2.102\n' >"$MAP"
inA() { ip netns exec "$A" env SCIF_PROVIDER=tcp SCIF_NODES_FILE="$MAP" SCIF_SELF_NODE=0 "$@"; }
inB() { ip netns exec "$B" env SCIF_PROVIDER=tcp SCIF_NODES_FILE="$MAP" SCIF_SELF_NODE=1 "$@"; }

SEQ=0
# run NAME: the server (argv in S) in A, the client (argv in C) in B; the
# client's output in $RAW/NAME.log
run() {
    local name=$1 rc=0
    SEQ=$((SEQ + 1))
    inA timeout 120 "${S[@]}" >"$RAW/$name.server.log" 2>&1 &
    SPID=$!
    sleep 0.3
    inB timeout 100 "${C[@]}" >"$RAW/$name.log" 2>&1 || rc=$?
    wait "$SPID" 2>/dev/null || true
    SPID=""
    [ $rc -eq 0 ] || log "$name: client exited $rc"
}

# one measurement: TOOL SIZE -> value on stdout
measure() {
    local tool=$1 name=$2 port=$((20000 + SEQ)) uport=$((30000 + SEQ))
    case $tool in
    iperf3)
        S=(iperf3 -s -1 -p "$uport")
        C=(iperf3 -c 192.0.2.101 -p "$uport" -t "$IPT" -J)
        run "$name"
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.1f" % (d["end"]["sum_received"]["bits_per_second"]/8/2**20))' "$RAW/$name.log" 2>/dev/null || true ;;
    send | writeto | readfrom)
        S=("$BIN/scif_bw" -t "$tool" -p "$port")
        C=("$BIN/scif_bw" -t "$tool" -p "$port" -n 0 -s 1048576 -i "$N1M" --json)
        run "$name"
        sed -n 's/^{.*"bw_avg_MBps":\([0-9.]*\).*/\1/p' "$RAW/$name.log" | head -1 ;;
    readfrom_64M | mmap_64M)
        S=("$BIN/scif_bw" -t "${tool%_64M}" -p "$port")
        C=("$BIN/scif_bw" -t "${tool%_64M}" -p "$port" -n 0 -s 67108864 -i "$N64M" --json)
        run "$name"
        sed -n 's/^{.*"bw_avg_MBps":\([0-9.]*\).*/\1/p' "$RAW/$name.log" | head -1 ;;
    ucp_put_bw | ucp_get)
        S=(env UCX_TLS=tcp ucx_perftest -p "$uport")
        C=(env UCX_TLS=tcp ucx_perftest 192.0.2.101 -p "$uport" -t "$tool" -s 1048576 -n "$N1M" -w 16)
        run "$name"
        awk '$1 == "Final:" && $7 + 0 > 0 { print $7; exit }' "$RAW/$name.log" ;;
    ucp_am_lat)
        S=(env UCX_TLS=tcp ucx_perftest -p "$uport")
        C=(env UCX_TLS=tcp ucx_perftest 192.0.2.101 -p "$uport" -t ucp_am_lat -s 8 -n "$NLAT" -w 1000)
        run "$name"
        awk '$1 == "Final:" && $3 + 0 > 0 { print $3; exit }' "$RAW/$name.log" ;;
    scif_lat)
        S=(env SCIF_SPIN_US=1000000 "$BIN/scif_lat" -t send -p "$port")
        C=(env SCIF_SPIN_US=1000000 "$BIN/scif_lat" -t send -p "$port" -n 0 -s 8 -i "$NLAT" -w 1000 --json)
        run "$name"
        sed -n 's/^{.*"t_typical_us":\([0-9.]*\).*/\1/p' "$RAW/$name.log" | head -1 ;;
    esac
}

METRICS=(send_1M:iperf3:send writeto_1M:iperf3:writeto readfrom_1M:iperf3:readfrom
         put_1M:ucp_put_bw:writeto get_1M:ucp_get:readfrom lat_8B:ucp_am_lat:scif_lat
         mmap_64M:readfrom_64M:mmap_64M)
if [ -n "$ONLY" ]; then
    kept=()
    for m in "${METRICS[@]}"; do [[ ${m%%:*} =~ $ONLY ]] && kept+=("$m"); done
    [ ${#kept[@]} -gt 0 ] || { echo "bench_tcp: --only '$ONLY' matches no metric" >&2; exit 2; }
    METRICS=("${kept[@]}")
fi
for ((k = 1; k <= PAIRS; k++)); do
    for m in "${METRICS[@]}"; do
        IFS=: read -r metric ref ours <<<"$m"
        v=$(measure "$ref" "p$k.$metric.ref")
        printf '%s\t%s\tref\t%s\t%s\n' "$k" "$metric" "$ref" "${v:-NA}" >>"$TSV"
        v=$(measure "$ours" "p$k.$metric.ours")
        printf '%s\t%s\tours\t%s\t%s\n' "$k" "$metric" "$ours" "${v:-NA}" >>"$TSV"
    done
    log "pair $k of $PAIRS done"
done

python3 - "$TSV" <<'PY' | tee "$RESULTS/table.txt"
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
order, data, tools = [], {}, {}
for k, metric, side, tool, v in rows:
    if metric not in order:
        order.append(metric)
    tools[(metric, side)] = tool
    if v != "NA":
        data.setdefault((metric, side), []).append(float(v))
target = {"lat_8B": "<= 1.2x", "mmap_64M": ">= 0.5x"}
print("%-12s %-12s %10s %-17s %-10s %10s %-17s %6s  %s" % ("metric", "reference", "median", "spread", "ours", "median", "spread", "ratio", "target"))
for m in order:
    r, o = data.get((m, "ref"), []), data.get((m, "ours"), [])
    def fmt(x):
        return ("%10.1f" % st.median(x), "%.1f-%.1f (n=%d)" % (min(x), max(x), len(x))) if x else ("%10s" % "NA", "")
    rm, rs = fmt(r); om, os_ = fmt(o)
    ratio = "%6.2f" % (st.median(o) / st.median(r)) if r and o else "    NA"
    tg = target.get(m, ">= 0.9x" if m.endswith("_1M") and not m.startswith(("put", "get")) else "beside")
    print("%-12s %-12s %s %-17s %-10s %s %-17s %s  %s" % (m, tools[(m, "ref")], rm, rs, tools[(m, "ours")], om, os_, ratio, tg))
print("bandwidth MB/s (2^20), latency usec one-way (median of the run); ratio = ours / reference")
PY
log "results in $RESULTS"
