#!/usr/bin/env bash
# Regression test for cluster.sh: a tree under the host's /tmp (which every
# VM hides behind its own tmpfs) is seen by the command at the same path,
# read-only, while the guest's /tmp stays private and writable.
# Usage: test/cluster/tmp_path.sh [TIMEOUT]
set -euo pipefail
CLUSTER=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster.sh
d=$(mktemp -d /tmp/scif-tmppath.XXXXXX)
trap 'rm -rf "$d"' EXIT
tok=token-$$-$RANDOM
mkdir "$d/cwd" "$d/bin"
echo "$tok" >"$d/cwd/token"
echo other >"$d/hidden"
cat >"$d/bin/check.sh" <<'CHECK'
#!/bin/sh
set -e
test "$(cat token)" = "$1"    # the working directory, under /tmp
test ! -e ../hidden           # only the directories the command needs
if touch ./new 2>/dev/null; then echo "the host's directory is writable"; exit 1; fi
echo guest >"/tmp/$1"         # the guest's own /tmp is writable
test -s "$SCIF_NODES_FILE" && test -d "$CLUSTER_RESULTS_DIR"
echo "tmp_path: ok"
CHECK
chmod +x "$d/bin/check.sh"
cd "$d/cwd"
"$CLUSTER" --nodes 1 --timeout "${1:-300}" -- "$d/bin/check.sh" "$tok"
test ! -e "/tmp/$tok"         # ... and private
