#!/usr/bin/env bash
# A/B benchmark of two builds of the perf tools over verbs, in one
# Soft-RoCE VM (2 vCPUs): runs A and B alternately, pair after pair, and
# prints per metric the two medians, B/A and the min-max spreads.  Meant for
# "did this change move the verbs numbers": build the old tree's perf tools
# in another work tree, then
#   scripts/bench_ab.sh OLD/build-perf/perf NEW/build-perf/perf [--pairs N]
# Both directories must be outside /tmp (the VM sees the host's / read-only).
# A benchmark, not a test: nothing is checked but that the tools ran.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ $# -ge 2 ] || { sed -n '2,10s/^# \{0,1\}//p' "$0" >&2; exit 2; }
A=$(readlink -f "$1") B=$(readlink -f "$2"); shift 2
PAIRS=5
[ "${1:-}" = --pairs ] && PAIRS=$2
OUT=$REPO/build-perf/bench-ab
mkdir -p "$OUT"
# One measurement: tool, args; prints the JSON line of the client.
cat >"$OUT/node.sh" <<'NODE'
#!/bin/bash
set -u
A=$1 B=$2 PAIRS=$3 port=5200
one() { # dir tool args...
	local d=$1 t=$2; shift 2; port=$((port + 1))
	"$d/$t" -p $port "$@" >/dev/null 2>&1 & local s=$!
	"$d/$t" -n 0 -p $port --json "$@" 2>/dev/null | tail -n 1
	wait $s
}
for p in $(seq 1 "$PAIRS"); do
	for side in A B; do
		[ $side = A ] && d=$A || d=$B
		printf '%s\t%s\twriteto_1M\t%s\n' "$p" $side "$(one "$d" scif_bw -t writeto -s 1M -i 48)"
		printf '%s\t%s\treadfrom_64K\t%s\n' "$p" $side "$(one "$d" scif_bw -t readfrom -s 64K -i 500)"
		printf '%s\t%s\tsend_1M\t%s\n' "$p" $side "$(one "$d" scif_bw -t send -s 1M -i 48)"
		printf '%s\t%s\tlat_send_8\t%s\n' "$p" $side "$(one "$d" scif_lat -t send -s 8 -i 500)"
		printf '%s\t%s\tlat_spin_8\t%s\n' "$p" $side "$(one "$d" scif_lat -t send -s 8 -i 2000 --spin 1000000)"
	done
done
NODE
chmod +x "$OUT/node.sh"
SCIF_PROVIDER=verbs "$REPO/test/cluster/cluster.sh" --nodes 1 --cpus 2 --mem 2048 \
	--timeout 1500 -- "$OUT/node.sh" "$A" "$B" "$PAIRS" | tee "$OUT/raw.log"
python3 - "$OUT/raw.log" <<'PY'
import json, re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    line = re.sub(r'^\[node\d+\] ', '', line.rstrip('\n'))
    parts = line.split('\t')
    if len(parts) != 4 or not parts[3].startswith('{'):
        continue
    j = json.loads(parts[3])
    v = j.get('bw_avg_MBps', j.get('t_typical_us', j.get('t_avg_us')))
    rows.setdefault(parts[2], {}).setdefault(parts[1], []).append(v)
print('%-14s %12s %12s %7s  %-21s %-21s' % ('metric', 'A median', 'B median', 'B/A', 'A min-max', 'B min-max'))
for m, s in rows.items():
    a, b = s.get('A', []), s.get('B', [])
    if not a or not b:
        continue
    ma, mb = statistics.median(a), statistics.median(b)
    print('%-14s %12.2f %12.2f %7.2f  %-21s %-21s' % (m, ma, mb, mb / ma,
          '%.1f-%.1f' % (min(a), max(a)), '%.1f-%.1f' % (min(b), max(b))))
PY
