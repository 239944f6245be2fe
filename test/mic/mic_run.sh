#!/usr/bin/env bash
# mic_run.sh FAKE_SCIFDEV ABI [--cards N] -- COMMAND...
# Inside a test VM (cuse loaded): start the fake kernel SCIF device with the
# given numbering (linux: /dev/scif, mpss3: /dev/mic/scif), wait for its
# node, run COMMAND with SCIF_PROVIDER=mic, stop the device.  Exit status:
# COMMAND's.
set -u
fake=$1 abi=$2; shift 2
opts=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
shift
dev=/dev/scif
[ "$abi" = mpss3 ] && dev=/dev/mic/scif
# The device runs in a network namespace of its own: its backing library's
# ports (abstract AF_UNIX names) are the kernel's port space, apart from the
# node-wide reservations of the library under test (docs/providers.md).
unshare -n "$fake" --abi "$abi" "${opts[@]}" & fpid=$!
for _ in $(seq 100); do [ -c "$dev" ] && break; sleep 0.1; done
if [ ! -c "$dev" ]; then
    echo "mic_run: $dev did not appear"; kill "$fpid"; exit 1
fi
chmod 666 "$dev" # as MPSS's udev rule: every user may open SCIF endpoints
SCIF_PROVIDER=mic "$@"; rc=$?
kill "$fpid"; wait "$fpid" 2>/dev/null
echo "mic_run: $abi: rc=$rc"
exit "$rc"
