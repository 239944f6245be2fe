#!/usr/bin/env bash
# Run-time providers: libscif.so.0 loads libscif-verbs.so from scif/ beside
# itself (or SCIF_PROVIDER_PATH); without it SCIF still opens endpoints
# (shm, tcp), and SCIF_PROVIDER=verbs fails with ENODEV and a message that
# says what is missing.   Usage: plugin_load.sh PROBE
set -u
probe=$1
empty=$(mktemp -d)
trap 'rmdir "$empty"' EXIT
fail=0
check() { # what, expected exit, expected stdout pattern, stderr pattern, env...
	local what=$1 rc=$2 out=$3 err=$4 got_rc got_out got_err
	shift 4
	got_err=$(env "$@" SCIF_LOG_LEVEL=info "$probe" 2>&1 >/dev/null)
	got_out=$(env "$@" SCIF_LOG_LEVEL=error "$probe" 2>/dev/null)
	got_rc=$?
	if [ "$got_rc" != "$rc" ] || ! grep -q -- "$out" <<<"$got_out" ||
		! grep -q -- "$err" <<<"$got_err"; then
		echo "FAIL $what: rc $got_rc, stdout '$got_out', stderr:"
		echo "$got_err"
		fail=1
	else
		echo "ok $what"
	fi
}
export SCIF_NODES_FILE= SCIF_SELF_NODE=
unset SCIF_PROVIDER
check "default: the plugin beside the library is loaded" 0 "open ok" \
	"provider verbs loaded from .*/scif/libscif-verbs.so"
check "empty plugin directory: shm and tcp still work" 0 "open ok" \
	"provider verbs not loaded: .*libscif-verbs.so" SCIF_PROVIDER_PATH="$empty"
check "empty plugin directory, SCIF_PROVIDER=verbs: ENODEV, says why" 1 \
	"open failed: ENODEV" "SCIF_PROVIDER=verbs: no provider named 'verbs': it could not be loaded: .*libscif-verbs.so" \
	SCIF_PROVIDER_PATH="$empty" SCIF_PROVIDER=verbs
check "a search list: the empty directory, then the real one" 0 "open ok" \
	"provider verbs loaded from" \
	SCIF_PROVIDER_PATH="$empty:$(dirname "$(readlink -f "$probe")")/../../scif"
[ $fail -eq 0 ] && echo "plugin_load: 4 passed, 0 failed"
exit $fail
