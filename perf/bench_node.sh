#!/usr/bin/env bash
# One node's part of scripts/bench.sh, run by test/cluster/cluster.sh on
# every node.  perftest / rstream and scif_bw / scif_lat take turns on the
# same rxe0 device, pair after pair.
#
#   perf/bench_node.sh [--pairs N] [--quick] [--bin DIR] [--deadline SEC]
#                      [--only REGEX]
#
# One node: server and client processes both run here (over rxe0 on
# 192.0.2.1).  Two or more: node 0 runs the servers, node 1 the clients
# (retried until the server listens), other nodes idle.  The client side
# appends one line per measurement to $CLUSTER_RESULTS_DIR/results.tsv:
#   pair <TAB> metric <TAB> side(ref|scif) <TAB> tool <TAB> value <TAB> unit
# and keeps every tool's output under $CLUSTER_RESULTS_DIR/raw/.
# --deadline: stop starting new pairs when a pair would end after this many
# seconds (bench.sh derives it from the cluster timeout).  --only: the
# metrics whose name matches REGEX (bash =~), e.g. '^lat_'.
set -u

PAIRS=5 QUICK=0 BIN=build-perf/perf DEADLINE=0 ONLY=
while [ $# -gt 0 ]; do
    case $1 in
    --pairs) PAIRS=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --bin) BIN=$2; shift 2 ;;
    --deadline) DEADLINE=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    *) echo "bench_node: unknown option $1" >&2; exit 2 ;;
    esac
done

NODE=${CLUSTER_NODE:?run me through test/cluster/cluster.sh (scripts/bench.sh)}
NODES=${CLUSTER_NODES:?}
OUT=${CLUSTER_RESULTS_DIR:?}
read -r SERVER_ADDR _ <<<"$CLUSTER_ADDRS"
DEV=rxe0

if [ "$NODES" -eq 1 ]; then ROLE=both
elif [ "$NODE" -eq 0 ]; then ROLE=server
elif [ "$NODE" -eq 1 ]; then ROLE=client
else echo "bench_node: node $NODE idle"; exit 0; fi

# Work per measurement.  Bandwidth: the same transfer count for perftest and
# scif_bw; rstream moves COUNT messages each way per iteration (ping-pong of
# bursts), so its counts are chosen to take about as long.  Two VMs talk
# through QEMU netdevs, slower than one VM's rxe0 (a round trip costs about
# 0.8 ms over bench.sh's unix link, 44 ms over the TCP one): fewer
# iterations keep the run bounded.
if [ "$QUICK" -eq 1 ]; then
    N64=100 N1M=16 N64M=1 NLAT=50 RS64="-C 25 -I 2" RS1M="-C 4 -I 2" STEP_TIMEOUT=45
elif [ "$NODES" -eq 1 ]; then
    N64=500 N1M=48 N64M=4 NLAT=500 RS64="-C 50 -I 4" RS1M="-C 6 -I 4" STEP_TIMEOUT=90
else
    N64=300 N1M=32 N64M=3 NLAT=100 RS64="-C 40 -I 3" RS1M="-C 4 -I 4" STEP_TIMEOUT=90
fi
LATSZ=8

RAW=$OUT/raw
RES=$OUT/results.tsv
mkdir -p "$RAW"
# nap SEC: sleep without forking.  The server node's loops below run while
# a measurement does, on the same vCPU: an external sleep every 0.2 s is a
# fork and an exec through the VM's 9p root each time.
NAPFIFO=$(mktemp -u) && mkfifo "$NAPFIFO" && exec {NAPFD}<>"$NAPFIFO" && rm -f "$NAPFIFO" ||
    { echo "bench_node: cannot make a fifo to sleep on" >&2; exit 2; }
nap() { read -r -t "$1" -u "$NAPFD" || :; }
[ "$ROLE" = server ] || : >"$RES"
T0=$SECONDS
log() { printf '[bench node%s %4ds] %s\n' "$NODE" $((SECONDS - T0)) "$*"; }

# --- the tools -------------------------------------------------------------
# argv_for ROLE TOOL SIZE PORT: fills ARGV for that side of one measurement.
argv_for() {
    local role=$1 tool=$2 size=$3 port=$4 n
    case $size in 65536) n=$N64 ;; 1048576) n=$N1M ;; 67108864) n=$N64M ;; *) n=$NLAT ;; esac
    case $tool in
    ib_write_bw | ib_read_bw | ib_send_lat)
        # perftest defaults otherwise (busy-polling the CQ, tx depth 128)
        ARGV=("$tool" -d "$DEV" -F -s "$size" -n "$n" -p "$port")
        [ "$role" = client ] && ARGV+=("$SERVER_ADDR") ;;
    ib_send_lat_ev)
        # sleeping on CQ events (-e), as scif_lat does: where busy-polling
        # starves the vCPU rxe runs on, this is the comparable figure
        ARGV=(ib_send_lat -e -d "$DEV" -F -s "$size" -n "$n" -p "$port")
        [ "$role" = client ] && ARGV+=("$SERVER_ADDR") ;;
    rstream)
        local rs=$RS64
        [ "$size" = 1048576 ] && rs=$RS1M
        # shellcheck disable=SC2206
        ARGV=(rstream -S "$size" $rs -p "$port")
        [ "$role" = client ] && ARGV+=(-s "$SERVER_ADDR") ;;
    scif_writeto | scif_readfrom | scif_send | scif_vwriteto_c | scif_mmap)
        local t=${tool#scif_}
        ARGV=("$BIN/scif_bw" -t "${t%_c}" -s "$size" -i "$n" -p "$port")
        [ "$tool" = scif_vwriteto_c ] && ARGV+=(-c)
        [ "$role" = client ] && ARGV+=(-n 0) ;;
    verbs_lat)
        # the provider's queue shape without the library, busy-polling,
        # waiting for each send's completion as scif_send does
        ARGV=("$BIN/verbs_lat" -s "$size" -i "$n" -p "$port" -w)
        [ "$role" = client ] && ARGV+=("$SERVER_ADDR") ;;
    scif_lat | scif_lat_spin)
        # blocking, or spinning without bound like ib_send_lat's default;
        # timed with the cycle counter, as ib_send_lat (the VMs' CPU model
        # does not list constant_tsc, so scif_lat would not by default)
        ARGV=("$BIN/scif_lat" -t send -s "$size" -i "$n" -p "$port" --clock cycles)
        [ "$tool" = scif_lat_spin ] && ARGV+=(--spin 1000000)
        [ "$role" = client ] && ARGV+=(-n 0) ;;
    *) echo "bench_node: no tool $tool" >&2; exit 2 ;;
    esac
}

# parse TOOL LOG: prints the number we compare, or nothing.
#   perftest and scif_bw: the first row under the " #bytes" header (progress
#   lines on stderr may come between), BW average
#   (field 4, MB/sec = 2^20 B/s); ib_send_lat and scif_lat: t_typical
#   (field 5, usec); rstream: usec/xfer (last field) -> MB/sec of one side.
parse() {
    case $1 in
    ib_send_lat | ib_send_lat_ev | scif_lat | scif_lat_spin | verbs_lat)
        awk '/^ *#bytes/ { h = 1; next }
             h && $1 ~ /^[0-9]+$/ { if ($5 + 0 > 0) print $5; exit }' "$2" ;;
    rstream)
        awk '$1 == "custom" && $NF + 0 > 0 {
                 printf "%.2f\n", sz / ($NF * 1e-6) / 1048576; exit }' sz="$3" "$2" ;;
    *)
        awk '/^ *#bytes/ { h = 1; next }
             h && $1 ~ /^[0-9]+$/ { if ($4 + 0 > 0) print $4; exit }' "$2" ;;
    esac
}

# Client: retry while the server is not listening yet (perftest and rstream
# fail at once then; scif_bw/scif_lat retry by themselves for 60 s).
run_client() { # log argv...
    local log=$1 end=$((SECONDS + STEP_TIMEOUT)) rc
    shift
    while :; do
        timeout "$STEP_TIMEOUT" "$@" >"$log" 2>&1
        rc=$?
        [ $rc -eq 0 ] && return 0
        if [ $SECONDS -lt "$end" ] &&
            grep -qiE "couldn't connect|connection refused|rconnect|rpoll|unable to .*connect" "$log"; then
            nap 0.3
            continue
        fi
        return $rc
    done
}

run_server() { # log argv...
    local log=$1 rc
    shift
    timeout "$((STEP_TIMEOUT + 15))" "$@" >"$log" 2>&1
    rc=$?
    [ $rc -eq 0 ] || log "server $(basename "$log") exited $rc"
    return 0
}

# The server node follows the client node through files in the shared
# results directory: go.N holds the N-th measurement ("tool size port"),
# done.N says the client finished it, stop ends the run.  So the client alone
# decides what runs, and a failed step cannot put the two out of step.
SYNC=$OUT/sync
mkdir -p "$SYNC"
SEQ=0

port_for() { # tool pair step
    local base
    case $1 in
    ib_*) base=18515 ;;
    rstream) base=7471 ;;
    *) base=3000 ;;
    esac
    echo $((base + 32 * $2 + $3))
}

# Server node: serve what the client node asks for until it says stop.
serve_loop() {
    local n=1 tool size port name pid waited
    while :; do
        waited=0
        until [ -f "$SYNC/go.$n" ] || [ -f "$SYNC/stop" ]; do
            nap 0.2
            waited=$((waited + 1))
            # the client gives each step at most STEP_TIMEOUT (+ retries)
            if [ $waited -gt $((5 * (3 * STEP_TIMEOUT + 60))) ]; then
                log "no word from the client node for a long time, giving up"
                return 1
            fi
        done
        [ -f "$SYNC/go.$n" ] || return 0
        read -r name tool size port <"$SYNC/go.$n"
        argv_for server "$tool" "$size" "$port"
        run_server "$RAW/$name.server.log" "${ARGV[@]}" &
        pid=$!
        # wait for the server to exit, or the client to be done with it
        while kill -0 "$pid" 2>/dev/null && ! [ -f "$SYNC/done.$n" ]; do
            nap 0.2
        done
        waited=0
        while kill -0 "$pid" 2>/dev/null && [ $waited -lt 50 ]; do
            nap 0.2
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "server for $name still running after its client finished: killing it"
            pkill -TERM -P "$pid" 2>/dev/null
            kill "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
        n=$((n + 1))
    done
}

FAILS=0
# measure PAIR STEP METRIC SIDE TOOL SIZE UNIT (client or single node)
measure() {
    local k=$1 j=$2 metric=$3 side=$4 tool=$5 size=$6 unit=$7 port v rc=0
    port=$(port_for "$tool" "$k" "$j")
    local name=pair$k/$metric.$tool
    mkdir -p "$RAW/pair$k"
    local slog=$RAW/$name.server.log clog=$RAW/$name.client.log
    if [ "$ROLE" = both ]; then
        argv_for server "$tool" "$size" "$port"
        run_server "$slog" "${ARGV[@]}" &
        local spid=$!
        argv_for client "$tool" "$size" "$port"
        run_client "$clog" "${ARGV[@]}" || rc=$?
        # a server whose client failed may wait forever
        nap 0.2
        kill -0 "$spid" 2>/dev/null && [ $rc -ne 0 ] && pkill -TERM -P "$spid" 2>/dev/null
        wait "$spid"
    else
        SEQ=$((SEQ + 1))
        echo "$name $tool $size $port" >"$SYNC/.go.$SEQ"
        mv "$SYNC/.go.$SEQ" "$SYNC/go.$SEQ"
        argv_for client "$tool" "$size" "$port"
        run_client "$clog" "${ARGV[@]}" || rc=$?
        : >"$SYNC/done.$SEQ"
    fi
    v=$(parse "$tool" "$clog" "$size")
    if [ $rc -ne 0 ] || [ -z "$v" ]; then
        log "pair $k $metric $tool: FAILED (rc $rc), see raw/$name.client.log"
        tail -n 5 "$clog" | sed 's/^/    /'
        FAILS=$((FAILS + 1))
        return 0
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$k" "$metric" "$side" "$tool" "$v" "$unit" >>"$RES"
    log "pair $k $metric $tool: $v $unit"
}

# metric reference-tool scif-tool size unit; the reference goes first in
# odd pairs, scif first in even pairs, so slow drifts hit both alike.
STEPS=(
    "write_64K ib_write_bw scif_writeto 65536 MB/s"
    "write_1M ib_write_bw scif_writeto 1048576 MB/s"
    "read_64K ib_read_bw scif_readfrom 65536 MB/s"
    "read_1M ib_read_bw scif_readfrom 1048576 MB/s"
    "lat_send_${LATSZ}B ib_send_lat scif_lat_spin $LATSZ usec"
    "lat_send_${LATSZ}B_ev ib_send_lat_ev scif_lat $LATSZ usec"
    "lat_send_${LATSZ}B_q verbs_lat scif_lat_spin $LATSZ usec"
    "stream_64K rstream scif_send 65536 MB/s"
    "stream_1M rstream scif_send 1048576 MB/s"
    "vwriteto_cached_64K - scif_vwriteto_c 65536 MB/s"
    "vwriteto_cached_1M - scif_vwriteto_c 1048576 MB/s"
    "mmap_64M scif_readfrom scif_mmap 67108864 MB/s"
)

if [ -n "$ONLY" ]; then
    kept=()
    for s in "${STEPS[@]}"; do
        [[ ${s%% *} =~ $ONLY ]] && kept+=("$s")
    done
    STEPS=("${kept[@]}")
    [ ${#STEPS[@]} -gt 0 ] || { echo "bench_node: --only '$ONLY' matches no metric" >&2; exit 2; }
fi
log "role $ROLE, $PAIRS pairs, quick=$QUICK, server $SERVER_ADDR, deadline ${DEADLINE}s"
if [ "$ROLE" = server ]; then
    serve_loop
    rc=$?
    log "server node done after $((SECONDS - T0))s"
    exit $rc
fi
pair_secs=0
for ((k = 1; k <= PAIRS; k++)); do
    if [ "$DEADLINE" -gt 0 ] && [ $k -gt 1 ] &&
        [ $((SECONDS - T0 + pair_secs + pair_secs / 4)) -gt "$DEADLINE" ]; then
        log "stopping before pair $k: it would end past the ${DEADLINE}s deadline"
        break
    fi
    ps=$SECONDS
    j=0
    for s in "${STEPS[@]}"; do
        read -r metric ref ours size unit <<<"$s"
        if [ "$ref" = - ]; then # compared with scif_writeto of this pair
            measure "$k" $j "$metric" scif "$ours" "$size" "$unit"
        elif [ $((k % 2)) -eq 1 ]; then
            measure "$k" $j "$metric" ref "$ref" "$size" "$unit"
            measure "$k" $((j + 1)) "$metric" scif "$ours" "$size" "$unit"
        else
            measure "$k" $((j + 1)) "$metric" scif "$ours" "$size" "$unit"
            measure "$k" $j "$metric" ref "$ref" "$size" "$unit"
        fi
        j=$((j + 2))
    done
    d=$((SECONDS - ps))
    [ $d -gt $pair_secs ] && pair_secs=$d
    log "pair $k done in ${d}s"
done
: >"$SYNC/stop"
log "finished: $((k - 1)) pairs, $FAILS failed measurements, $((SECONDS - T0))s"
echo "$((k - 1))" >"$OUT/pairs_done"
[ $FAILS -eq 0 ]
