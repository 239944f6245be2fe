#!/usr/bin/env bash
# mic_suite.sh FAKE_SCIFDEV PROGRAM_DIR linux|mpss3
# In a test VM: the conformance programs, unmodified, with SCIF_PROVIDER=mic
# against the fake kernel SCIF device of the given numbering (mic_run.sh
# starts a fresh device for each).  All run; the status is non-zero if any
# failed.  t_errno, t_stream, t_fence and t_rma run on both numberings; the
# engine path and the device-gone check on the Linux numbering only (they
# do not depend on the numbering: the model and the fake's failure mode).
set -u
fake=$1 t=$2 abi=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pair=$here/../cluster/pair.sh
rc=0
failed=() # repeated at the end: a long log's middle may be cut in reports
fail() { echo "== FAILED: $*"; failed+=("$*"); rc=1; }
step() {
    local t0=$SECONDS
    echo "== mic $abi: $*"
    "$here/mic_run.sh" "$fake" "$abi" -- "$@" || fail "$*"
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
        fail "device gone: rc=$r (0: not noticed, 124: a hang)"
    elif ! echo "$out" | grep -q 'No such device'; then
        fail "device gone: no ENODEV"
    fi
}
# RMA through the x100 engine, the model as the card (SCIF_MIC_DMA=model,
# docs/mic.md): the program passes and the engine, not the kernel, moved
# its data (the provider's count at close, SCIF_LOG_LEVEL=info).
engine() {
    local out r t0=$SECONDS
    echo "== mic $abi: engine: $*"
    out=$(timeout 600 "$here/mic_run.sh" "$fake" "$abi" -- \
        env SCIF_MIC_DMA=model SCIF_LOG_LEVEL=info "$@" 2>&1)
    r=$?
    echo "$out" | grep -v '^phase' | grep -v '^scif\[[0-9]*\] info ' | tail -40
    echo "$out" | grep 'engine, connection' | grep -v ' 0 RMAs (0 bytes), 0 fences'
    if [ "$r" -ne 0 ]; then
        fail "engine: $* (rc=$r)"
    elif ! echo "$out" | grep -q 'engine, connection .*: [1-9][0-9]* RMAs'; then
        fail "engine: $*: no RMA went through the engine"
    fi
    echo "== $(( SECONDS - t0 )) s"
}
if [ "$abi" = linux ]; then
    step "$pair" "$t/t_stream" 5000 8
    step "$pair" "$t/t_fence" 9000
    step "$pair" "$t/t_rma" 8000
    engine "$pair" "$t/t_fence" 9000
    engine "$pair" "$t/t_rma" 8000
    # An engine error on the model's 6th descriptor (descriptors are 512
    # KiB: the 3rd 1 MiB write's second half): the call that meets it fails
    # with ENODEV, earlier data intact, no hang; then all works.
    engine env SCIF_MIC_MODEL_FAIL=5 "$pair" "$(dirname "$fake")/t_mic_dma" 9100
    # The engine stops at that descriptor: the driver's progress bound
    # (here 500 ms) ends the call with ENODEV, then all works.
    engine env SCIF_MIC_MODEL_HANG=5 MIC_DMA_TIMEOUT_MS=500 \
        "$pair" "$(dirname "$fake")/t_mic_dma" 9101
    device_gone
else
    step "$pair" "$t/t_stream" 5000 4
    step "$pair" "$t/t_fence" 9000
    step "$pair" "$t/t_rma" 8000
fi
for f in "${failed[@]}"; do echo "== mic $abi: FAILED: $f"; done
exit "$rc"
