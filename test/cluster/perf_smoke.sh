#!/usr/bin/env bash
# The benchmarks work and move correct data: each scif_bw test with
# --verify (the data check fails the run) on a few sizes, both RMA driving
# schemes, both directions, and scif_lat's two tests, with --json parsed.
# Run by test/cluster/cluster.sh on every node; node 0 serves, the client
# is node 1 (or node 0 itself on a one-node cluster).  Not a measurement:
# iteration counts are small and no number is checked.
#   perf_smoke.sh DIR     DIR holds scif_bw and scif_lat
set -u
bin=$1
nodes=${CLUSTER_NODES:-1}
me=${CLUSTER_NODE:-0}
port=3100
fails=0

# one scif_bw / scif_lat run: server on node 0, client on node 1 (or here)
run() { # tool args...
    local tool=$1 out rc
    shift
    port=$((port + 1))
    if [ "$nodes" -eq 1 ]; then
        "$bin/$tool" -p "$port" "$@" >/dev/null 2>&1 &
        local spid=$!
        out=$("$bin/$tool" -n 0 -p "$port" --json "$@")
        rc=$?
        wait "$spid" || rc=1
    elif [ "$me" -eq 0 ]; then
        "$bin/$tool" -p "$port" "$@" >/dev/null
        return 0
    else
        out=$("$bin/$tool" -n 0 -p "$port" --json "$@")
        rc=$?
    fi
    [ "$me" -eq 0 ] && [ "$nodes" -gt 1 ] && return 0
    # every size reported, with a verdict when data is checked
    if [ $rc -ne 0 ] || [ -z "$out" ] ||
        printf '%s\n' "$out" | grep -qv '^{"tool":"'"$tool"'"' ||
        { case " $* " in *" --verify "*) printf '%s\n' "$out" | grep -qv '"verify":"ok"' ;; *) false ;; esac; }; then
        echo "perf_smoke: FAILED: $tool $* (rc $rc)"
        printf '%s\n' "$out"
        fails=$((fails + 1))
    else
        echo "perf_smoke: ok: $tool $* ($(printf '%s\n' "$out" | wc -l) sizes)"
    fi
}

for t in writeto readfrom vwriteto vreadfrom; do
    run scif_bw -t "$t" -s 1M -i 24 -d 8 --verify
    run scif_bw -t "$t" -s 4097 -i 64 --batch --verify
done
run scif_bw -t vwriteto -c -s 256K -i 48 --verify
run scif_bw -t vreadfrom -c -s 70000 -i 48 --verify
run scif_bw -t writeto -b -s 64K -i 64 --verify
run scif_bw -t send -s 1M -i 16 --verify
run scif_bw -t send -s 17 -i 200 -b --verify
run scif_lat -t send -s 8 -i 100
run scif_lat -t send -s 8 -i 100 --clock mono
case "$(uname -m)" in x86_64 | aarch64) run scif_lat -t send -s 8 -i 100 --clock cycles ;; esac
run scif_lat -t signal -s 4096 -i 50
echo "perf_smoke: node $me: $fails failed"
[ $fails -eq 0 ]
