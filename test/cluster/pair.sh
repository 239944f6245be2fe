#!/usr/bin/env bash
# Run a two-role cluster test: "BIN server ARGS" and "BIN client <server-node> ARGS".
# One node: both roles in this VM (same-node loopback over rxe).
# Two or more nodes: node 0 is the server, node 1 the client, others idle.
set -u
bin=$1; shift
nodes=${CLUSTER_NODES:-1}
me=${CLUSTER_NODE:-0}
if [ "$nodes" -eq 1 ]; then
	"$bin" server "$@" & spid=$!
	"$bin" client 0 "$@"; crc=$?
	wait "$spid"; src=$?
	echo "server rc=$src client rc=$crc"
	[ "$src" -eq 0 ] && [ "$crc" -eq 0 ]
elif [ "$me" -eq 0 ]; then
	exec "$bin" server "$@"
elif [ "$me" -eq 1 ]; then
	exec "$bin" client 0 "$@"
fi
