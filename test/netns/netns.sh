#!/usr/bin/env bash
# Run a command on N "hosts" made of network namespaces on this machine: no
# VM.  Each namespace has one veth interface, eth0, with 192.0.2.(101+i)/24
# (TEST-NET-1: nothing real lives there), all joined by a bridge in one more
# namespace.  The node map lists them as nodes 0..N-1.  The command runs in
# every namespace at once, with the variables test/cluster/cluster.sh sets
# in its VMs:
#   CLUSTER_NODE, CLUSTER_NODES, CLUSTER_ADDRS, CLUSTER_SELF_ADDR,
#   SCIF_NODES_FILE, SCIF_SELF_NODE
# (and the caller's environment, SCIF_PROVIDER included), so pair.sh and the
# conformance programs run unchanged.  Exits with the first non-zero status
# of a node (0 if all succeed), 124 on timeout, 77 when it cannot run here
# (not root, no iproute2).  The namespaces are removed however it ends.
#
#   netns.sh [--nodes N] [--timeout SEC] [--logdir DIR] -- command [args...]
set -u
NODES=2 TIMEOUT=300 LOGDIR=""
while [ $# -gt 0 ]; do
    case $1 in
    --nodes) NODES=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --logdir) LOGDIR=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "netns.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ $# -ge 1 ] || { echo "netns.sh: no command" >&2; exit 2; }
if ! [[ $NODES =~ ^[0-9]+$ ]] || [ "$NODES" -lt 1 ] || [ "$NODES" -gt 50 ]; then
    echo "netns.sh: --nodes must be 1..50" >&2
    exit 2
fi
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
    echo "netns.sh: needs root and iproute2 (ip): skipped" >&2
    exit 77
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TAG=scifns$$
BR=${TAG}br
WORK=$(mktemp -d /tmp/scif-netns.XXXXXX)
[ -n "$LOGDIR" ] || LOGDIR=$WORK/logs
mkdir -p "$LOGDIR"
PIDS=()
NSS=()

cleanup() {
    local p ns
    for p in "${PIDS[@]}"; do
        kill -KILL -- "-$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    for ns in "${NSS[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "netns.sh: $*" >&2; }
die() { say "$*"; exit 1; }

ip netns add "$BR" || die "ip netns add failed"
NSS+=("$BR")
ip -n "$BR" link add br0 type bridge || die "bridge"
ip -n "$BR" link set br0 up
ADDRS=""
: >"$WORK/nodes"
for ((i = 0; i < NODES; i++)); do
    ns=${TAG}n$i addr=192.0.2.$((101 + i))
    ip netns add "$ns" || die "ip netns add $ns"
    NSS+=("$ns")
    ip -n "$BR" link add "h$i" type veth peer name eth0 netns "$ns" ||
        die "veth for node $i"
    ip -n "$BR" link set "h$i" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    echo "$i $addr" >>"$WORK/nodes"
    ADDRS="$ADDRS${ADDRS:+ }$addr"
done
for ((i = 0; i < NODES; i++)); do
    setsid ip netns exec "${TAG}n$i" env \
        CLUSTER_NODE="$i" CLUSTER_NODES="$NODES" CLUSTER_ADDRS="$ADDRS" \
        CLUSTER_SELF_ADDR="192.0.2.$((101 + i))" \
        CLUSTER_RESULTS_DIR="$LOGDIR" \
        SCIF_NODES_FILE="$WORK/nodes" SCIF_SELF_NODE="$i" \
        "$@" >"$LOGDIR/node$i.log" 2>&1 </dev/null &
    PIDS+=($!)
done

# A node that hangs: what each of its processes waits on (gdb, when there
# is one), and the sockets that still hold bytes, before they are killed.
hang_report() {
    local i p ns
    for ((i = 0; i < NODES; i++)); do
        for p in $(pgrep -g "${PIDS[$i]}" 2>/dev/null); do
            echo "=== node $i: hung process $p: $(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null)"
            command -v gdb >/dev/null || continue
            timeout 60 gdb -p "$p" -batch -x "$HERE/hang.gdb" 2>&1 |
                grep -v '^\[New \|^warning: \|^Reading symbols\|libthread_db\|^Using host'
        done
    done
    for ns in "${NSS[@]}"; do
        echo "=== sockets of $ns holding bytes"
        ip netns exec "$ns" ss -tan 2>/dev/null | awk 'NR == 1 || $2 != 0 || $3 != 0'
    done
}

rc=0 end=$((SECONDS + TIMEOUT))
declare -A done_rc=()
while [ ${#done_rc[@]} -lt "$NODES" ]; do
    for ((i = 0; i < NODES; i++)); do
        [ -z "${done_rc[$i]:-}" ] || continue
        if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
            wait "${PIDS[$i]}"
            done_rc[$i]=$?
            [ "$rc" -ne 0 ] || rc=${done_rc[$i]}
        fi
    done
    if [ $SECONDS -ge $end ]; then
        say "timed out after $TIMEOUT s"
        rc=124
        hang_report
        break
    fi
    sleep 0.1
done
for ((i = 0; i < NODES; i++)); do
    echo "=== node $i (${done_rc[$i]:-running}) ==="
    cat "$LOGDIR/node$i.log"
done
say "$NODES nodes, status $rc"
exit "$rc"
