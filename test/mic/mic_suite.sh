#!/usr/bin/env bash
# mic_suite.sh FAKE_SCIFDEV PROGRAM_DIR linux|mpss3
# In a test VM: the conformance programs, unmodified, with SCIF_PROVIDER=mic
# against the fake kernel SCIF device of the given numbering (mic_run.sh
# starts a fresh device for each).  All run; the status is non-zero if any
# failed.  RMA and fences (t_rma, t_fence) run on the Linux numbering: the
# argument structures they use are laid out alike in both (mic_abi.h).
set -u
fake=$1 t=$2 abi=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pair=$here/../cluster/pair.sh
rc=0
step() {
    echo "== mic $abi: $*"
    "$here/mic_run.sh" "$fake" "$abi" -- "$@" || { echo "== FAILED: $*"; rc=1; }
}
step "$t/t_errno"
if [ "$abi" = linux ]; then
    step "$pair" "$t/t_stream" 5000 8
    step "$pair" "$t/t_fence" 9000
    step "$pair" "$t/t_rma" 8000
else
    step "$pair" "$t/t_stream" 5000 4
fi
exit "$rc"
