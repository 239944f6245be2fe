#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: install what is missing, build,
# bring up a two-node RDMA cluster and run a SCIF program pair between the
# nodes (examples/scif_hello_server and scif_hello_client).
#
# With a local RDMA device (an rdma link with an IPv4 address) the two
# programs run on this machine as one SCIF node over that device.  Without
# one, two QEMU VMs with Soft-RoCE (rdma_rxe) are booted from Debian's kernel
# and the programs run on node 0 and node 1.  Safe to run again.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
say() { printf '\ndemo: %s\n' "$*"; }

say "1/3 installing what is missing (packages, Debian kernel for the VMs)"
bash scripts/setup.sh

say "2/3 building libscif.so.0 and the examples in build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target scif scif_hello_server scif_hello_client

SERVER=build/examples/scif_hello_server
CLIENT=build/examples/scif_hello_client
MSG="hello across the fabric"

# A local RDMA device with an IPv4 address on its netdev?
local_addr() {
    command -v rdma >/dev/null || return 1
    local netdev
    for netdev in $(rdma link show 2>/dev/null | sed -n 's/.*state ACTIVE.* netdev \([^ ]*\).*/\1/p'); do
        ip -4 -o addr show dev "$netdev" 2>/dev/null | awk '{split($4,a,"/"); print a[1]; exit}'
        return 0
    done
    return 1
}

addr=$(local_addr || true)
if [ -n "$addr" ]; then
    say "3/3 local RDMA device found ($addr): server and client on this node"
    map=$(mktemp)
    trap 'rm -f "$map"' EXIT
    echo "0 $addr" >"$map"
    # both on this node: verbs explicitly, or the pair would take shm
    export SCIF_NODES_FILE=$map SCIF_SELF_NODE=0 SCIF_PROVIDER=verbs
    "$SERVER" 2050 & spid=$!
    "$CLIENT" 0 2050 "$MSG"
    wait "$spid"
else
    say "3/3 no local RDMA device: booting two Soft-RoCE VMs (node 0 = 192.0.2.1, node 1 = 192.0.2.2)"
    test/cluster/cluster.sh --nodes 2 --timeout 300 -- \
        "if [ \"\$CLUSTER_NODE\" = 0 ]; then $SERVER 2050; else $CLIENT 0 2050 '$MSG'; fi"
fi
say "done: node 1 connected to node 0 port 2050 over an RC queue pair, sent a message and got it back reversed"
