#!/usr/bin/env bash
# Three hosts in a chain: node 0 serves node 1, node 1 serves node 2, so node
# 1 is a server and a client at once.  A two-role program (pair.sh's
# convention), its first argument a port:
#   tri.sh BIN PORT [args...]
set -u
bin=$1 port=$2
shift 2
case ${CLUSTER_NODE:-0} in
0) exec "$bin" server "$port" "$@" ;;
1)
    "$bin" server $((port + 100)) "$@" & spid=$!
    "$bin" client 0 "$port" "$@"; crc=$?
    wait "$spid"; src=$?
    echo "node 1: server rc=$src client rc=$crc"
    [ "$src" -eq 0 ] && [ "$crc" -eq 0 ] ;;
2) exec "$bin" client 1 $((port + 100)) "$@" ;;
*) exit 0 ;;
esac
