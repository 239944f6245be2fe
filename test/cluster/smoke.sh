#!/usr/bin/env bash
# Smoke test of the Soft-RoCE cluster: real RC QP traffic with rping.
#   test/cluster/cluster.sh --nodes 2 -- test/cluster/smoke.sh
#   test/cluster/cluster.sh --nodes 1 -- test/cluster/smoke.sh   (loopback)
# Node 0 runs one rping server per client (port 7174+k); every other node is
# a client of node 0.  With one node, server and client share the VM.
# Passes only if each side printed all the data pings it was asked for.
# TEST_RPING_COUNT (default 10) sets the number of pings.
set -euo pipefail

NODE=${CLUSTER_NODE:?run me through test/cluster/cluster.sh}
NODES=${CLUSTER_NODES:?}
read -r SERVER _ <<<"$CLUSTER_ADDRS"
COUNT=${TEST_RPING_COUNT:-10}
BASE_PORT=7174
OUT=$(mktemp -d /tmp/smoke.XXXXXX)

echo "== node $NODE of $NODES, self $CLUSTER_SELF_ADDR, server $SERVER"
ibv_devinfo
rdma link show

# Server for client k; it exits after that client's one connection.
server() {
    local port=$((BASE_PORT + $1))
    timeout 180 rping -s -a "$SERVER" -p "$port" -C "$COUNT" -v >"$OUT/server$1.log" 2>&1
}

# The server may not be listening yet (other VM still booting the command,
# or just started in background): retry until it connects.
client() {
    local port=$((BASE_PORT + $1)) try
    for try in $(seq 1 30); do
        if timeout 60 rping -c -a "$SERVER" -p "$port" -C "$COUNT" -v >"$OUT/client$1.log" 2>&1; then
            echo "client $1: connected on try $try"
            return 0
        fi
        sleep 1
    done
    echo "client $1: giving up after $try tries"
    return 1
}

# Count the data pings in a log; rping -v prints one "ping data:" per iteration.
check() { # label log min
    local n
    n=$(grep -c 'ping data: rdma-ping-' "$2" || true)
    { grep -v 'ping data' "$2" || true; grep -m 2 'ping data' "$2" || true; } | sed "s/^/  $1: /"
    echo "  $1: ... $n data pings (want $3)"
    [ "$n" -ge "$3" ]
}

rc=0
if [ "$NODES" -eq 1 ]; then
    server 0 &
    spid=$!
    client 0 || rc=1
    wait "$spid" || rc=1
    check server "$OUT/server0.log" "$COUNT" || rc=1
    check client "$OUT/client0.log" "$COUNT" || rc=1
elif [ "$NODE" -eq 0 ]; then
    pids=()
    for ((k = 1; k < NODES; k++)); do server "$k" & pids+=($!); done
    for ((k = 1; k < NODES; k++)); do
        wait "${pids[k - 1]}" || { echo "server for node $k failed"; rc=1; }
        check "server$k" "$OUT/server$k.log" "$COUNT" || rc=1
    done
else
    client "$NODE" || rc=1
    check client "$OUT/client$NODE.log" "$COUNT" || rc=1
fi

if [ "$rc" -eq 0 ]; then echo "SMOKE PASS node $NODE"; else echo "SMOKE FAIL node $NODE"; fi
exit "$rc"
