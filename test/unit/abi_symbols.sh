#!/usr/bin/env bash
# The shared library exports exactly the MPSS API, versioned SCIF_0.0, under
# the soname libscif.so.0; besides it only the gntdev extensions of
# scif_gnt.h (versioned SCIF_GNT_0.0), msync for scif_mmap mappings
# (versioned SCIF_0.1, libscif/msync.c), the kernel API's node callbacks of
# scif_client.h (SCIF_CLIENT_0.0) and the core's internal interface
# for run-time providers (scif__*, versioned SCIF_PRIVATE_0); and it links no
# transport library (rdma-core is the verbs plugin's) and no Xen library
# (libxengnttab is loaded when the gntdev calls are used).
# Usage: abi_symbols.sh LIBSCIF_SO MAP_FILE
set -euo pipefail
lib=$1 map=$2
fail=0

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != libscif.so.0 ]; then
    echo "abi: soname is '$soname', want libscif.so.0"
    fail=1
fi
# what the version script promises: node NAME's symbols, as NAME@@VERSION
node_syms() {
    sed -n "/^$1 {/,/^}/p" "$map" | sed -n '/global:/,/local:\|^}/p' |
        tr ' ;\t' '\n\n\n' | grep '^scif_' | sed "s/\$/@@$1/"
}
want=$(node_syms SCIF_0.0 | sort)
want_gnt=$(node_syms SCIF_GNT_0.0 | sort)
want_client=$(node_syms SCIF_CLIENT_0.0 | sort)
# what the library defines and exports (functions and objects)
all=$(nm -D --defined-only "$lib" | awk '$2 ~ /[TDBRVW]/ { print $3 }' |
    grep -v '^SCIF_0\.[01]$\|^SCIF_GNT_0\.0$\|^SCIF_CLIENT_0\.0$\|^SCIF_PRIVATE_0$' |
    sort)
have=$(echo "$all" | grep -v '@@SCIF_PRIVATE_0$' || true)
private=$(echo "$all" | grep '@@SCIF_PRIVATE_0$' || true)
if echo "$private" | grep -qv '^scif__'; then
    echo "abi: private symbols outside scif__*:"
    echo "$private" | grep -v '^scif__'
    fail=1
fi
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if echo "$needed" | grep -q 'ibverbs\|rdmacm\|xen'; then
    echo "abi: libscif.so.0 links rdma-core or Xen: $needed"
    fail=1
fi
if [ "$(echo "$want_gnt" | wc -l)" -ne 4 ]; then
    echo "abi: SCIF_GNT_0.0 should list the 4 calls of scif_gnt.h"
    fail=1
fi
if [ "$(echo "$want" | wc -l)" -lt 26 ]; then
    echo "abi: the map lists too few symbols"
    fail=1
fi
if [ "$(echo "$want_client" | wc -l)" -ne 2 ]; then
    echo "abi: SCIF_CLIENT_0.0 should list the 2 calls of scif_client.h"
    fail=1
fi
want=$(printf '%s\n%s\n%s\nmsync@@SCIF_0.1\n' "$want" "$want_gnt" \
    "$want_client" | sort)
extra=$(comm -13 <(echo "$want") <(echo "$have"))
missing=$(comm -23 <(echo "$want") <(echo "$have"))
if [ -n "$extra" ]; then
    echo "abi: exported beyond the API (or not versioned SCIF_0.0 / SCIF_GNT_0.0):"
    echo "$extra"
    fail=1
fi
if [ -n "$missing" ]; then
    echo "abi: API symbols missing:"
    echo "$missing"
    fail=1
fi
[ $fail -eq 0 ] && echo "abi: soname libscif.so.0, $(echo "$have" | wc -l) symbols, SCIF_0.0 and SCIF_GNT_0.0, $(echo "$private" | wc -l) private, needs: $(echo $needed): ok"
exit $fail
