#!/usr/bin/env bash
# The example programs across two nodes: the server must get the message and
# the client the reversed answer.
set -eu
server=$1 client=$2
if [ "$CLUSTER_NODE" = 0 ]; then
	out=$("$server" 2050)
	echo "$out"
	grep -q 'received "hello across the fabric"' <<<"$out"
else
	out=$("$client" 0 2050 "hello across the fabric")
	echo "$out"
	grep -q 'answered "cirbaf eht ssorca olleh"' <<<"$out"
fi
