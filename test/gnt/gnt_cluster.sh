#!/usr/bin/env bash
# The gntdev tests in the VM cluster (cluster.sh --nodes 2 --vgem), one boot
# for every provider and dma-buf source (docs/gntdev.md, Tests):
#   1. verbs, memfd stand-in:  grant and dma-buf windows work (the mapping is
#      registered with ibv_reg_mr)
#   2. verbs, vgem dma-bufs:   rxe registers no dma-buf and cannot pin a DRM
#      mapping: EOPNOTSUPP, grant windows by grant mapping
#   3. tcp, vgem dma-bufs:     everything works on real dma-bufs (the target
#      copies with the CPU through the mapping)
#   4. shm, vgem, node 0 alone: cross-memory attach cannot reach the DRM
#      mapping: EOPNOTSUPP, grant windows by grant mapping
# Usage: gnt_cluster.sh T_GNT FAKE_XENGNTTAB_SO
set -u
bin=$1
export SCIF_XENGNTTAB_LIB=$2
pair=$(dirname "$(readlink -f "$0")")/../cluster/pair.sh
rc=0
run() { # name provider backend expectation port
    echo "== gnt $1: SCIF_PROVIDER=$2 FAKE_XENGNTTAB_BACKEND=$3 T_GNT_DMABUF=$4"
    SCIF_LOG_LEVEL=${SCIF_LOG_LEVEL:-info} SCIF_PROVIDER=$2 FAKE_XENGNTTAB_BACKEND=$3 T_GNT_DMABUF=$4 \
        "$pair" "$bin" "$5" || { echo "== gnt $1: FAILED"; rc=1; }
}
[ -e /dev/dri/card0 ] || { echo "gnt: no /dev/dri/card0 (cluster.sh --vgem)"; exit 1; }
run verbs-memfd verbs memfd ok 7101
run verbs-vgem verbs vgem eopnotsupp 7102
run tcp-vgem tcp vgem ok 7103
[ "${CLUSTER_NODE:-0}" -eq 0 ] &&
    CLUSTER_NODES=1 run shm-vgem shm vgem eopnotsupp 7104
exit $rc
