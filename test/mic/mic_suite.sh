#!/usr/bin/env bash
# mic_suite.sh FAKE_SCIFDEV PROGRAM_DIR linux|mpss3
# In a test VM: the conformance programs, unmodified, with SCIF_PROVIDER=mic
# against the fake kernel SCIF device of the given numbering (mic_run.sh
# starts a fresh device for each).  All run; the status is non-zero if any
# failed.  t_rma and the device-gone check run on the Linux numbering only
# (the argument structures are laid out alike in both, mic_abi.h); t_fence,
# which registers, unregisters, reads, writes and fences, runs on both.
set -u
fake=$1 t=$2 abi=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pair=$here/../cluster/pair.sh
rc=0
step() {
    local t0=$SECONDS
    echo "== mic $abi: $*"
    "$here/mic_run.sh" "$fake" "$abi" -- "$@" || { echo "== FAILED: $*"; rc=1; }
    echo "== $(( SECONDS - t0 )) s"
}
step "$t/t_errno"
# The card goes away mid-stream (the fake's --fail-after: every later ioctl
# EIO, every poll POLLERR): both programs must end within the bound, with
# ENODEV from the provider, not hang and not succeed.
device_gone() {
    local out r
    echo "== mic $abi: the device goes away mid-stream"
    out=$(timeout 120 "$here/mic_run.sh" "$fake" "$abi" --fail-after 300 -- \
        "$pair" "$t/t_stream" 5000 2 2>&1)
    r=$?
    echo "$out" | grep -v '^phase'
    if [ "$r" -eq 0 ] || [ "$r" -eq 124 ]; then
        echo "== FAILED: device gone: rc=$r (0: not noticed, 124: a hang)"
        rc=1
    elif ! echo "$out" | grep -q 'No such device'; then
        echo "== FAILED: device gone: no ENODEV"
        rc=1
    fi
}
if [ "$abi" = linux ]; then
    step "$pair" "$t/t_stream" 5000 8
    step "$pair" "$t/t_fence" 9000
    step "$pair" "$t/t_rma" 8000
    device_gone
else
    step "$pair" "$t/t_stream" 5000 4
    step "$pair" "$t/t_fence" 9000
fi
exit "$rc"
