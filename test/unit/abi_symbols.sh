#!/usr/bin/env bash
# The shared library exports exactly the MPSS API, versioned SCIF_0.0, under
# the soname libscif.so.0.  Usage: abi_symbols.sh LIBSCIF_SO MAP_FILE
set -euo pipefail
lib=$1 map=$2
fail=0

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != libscif.so.0 ]; then
    echo "abi: soname is '$soname', want libscif.so.0"
    fail=1
fi
# what the version script promises
want=$(sed -n '/global:/,/local:/p' "$map" | tr ' ;\t' '\n\n\n' | grep '^scif_' | sort)
# what the library defines and exports (functions and objects)
have=$(nm -D --defined-only "$lib" | awk '$2 ~ /[TDBRVW]/ { print $3 }' |
    grep -v '^SCIF_0\.0$' | sort)
if [ "$(echo "$want" | wc -l)" -lt 26 ]; then
    echo "abi: the map lists too few symbols"
    fail=1
fi
extra=$(comm -13 <(echo "$want" | sed 's/$/@@SCIF_0.0/') <(echo "$have"))
missing=$(comm -23 <(echo "$want" | sed 's/$/@@SCIF_0.0/') <(echo "$have"))
if [ -n "$extra" ]; then
    echo "abi: exported beyond the API (or not versioned SCIF_0.0):"
    echo "$extra"
    fail=1
fi
if [ -n "$missing" ]; then
    echo "abi: API symbols missing:"
    echo "$missing"
    fail=1
fi
[ $fail -eq 0 ] && echo "abi: soname libscif.so.0, $(echo "$have" | wc -l) symbols, all SCIF_0.0: ok"
exit $fail
