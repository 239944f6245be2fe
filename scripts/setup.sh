#!/usr/bin/env bash
# Prepare this machine for building and for the Soft-RoCE test cluster.
#  1. apt-install the build/test packages that are missing (dpkg-query first,
#     so a re-run with everything present touches no network at all).
#  2. Fetch Debian's stock kernel package (NOT installed: the host kernel has
#     no RDMA and we cannot load modules here) and unpack it into a cache dir
#     that test/cluster/cluster.sh boots under QEMU.
# Idempotent: every step is skipped when its result is already there.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${SCIF_CACHE_DIR:-$REPO/.cache/kernel}

PACKAGES=(build-essential cmake pkg-config rdma-core libibverbs-dev
    librdmacm-dev ibverbs-utils rdmacm-utils perftest libcmocka-dev
    libxen-dev libfuse3-dev qemu-system-x86 busybox-static kmod cpio iproute2
    clang-14 libclang-rt-14-dev)

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

SUDO=()
# As root, apt-get download would warn that _apt cannot write the cache dir.
APT_DL_OPTS=(-o APT::Sandbox::User=root)
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "not root and no sudo"
    SUDO=(sudo)
    APT_DL_OPTS=()
fi

APT_UPDATED=0
apt_update_once() {
    [ "$APT_UPDATED" -eq 1 ] && return 0
    log "apt-get update"
    "${SUDO[@]}" apt-get update -q >/dev/null
    APT_UPDATED=1
}

# --- 1. packages ------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt_update_once
    log "installing: ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    log "all ${#PACKAGES[@]} packages already installed"
fi

# --- 2. kernel --------------------------------------------------------------
# Resolve linux-image-amd64 -> linux-image-6.1.0-NN-amd64 from the apt lists.
resolve_kernel_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1
}

kpkg=$(resolve_kernel_pkg || true)
if [ -z "$kpkg" ]; then
    # Empty lists (fresh container) - unless a kernel is already cached, ask apt.
    if [ -s "$CACHE_DIR/current" ] && [ -f "$CACHE_DIR/$(cat "$CACHE_DIR/current")/.done" ]; then
        log "kernel $(cat "$CACHE_DIR/current") already unpacked in $CACHE_DIR (apt lists empty, not refreshing)"
        exit 0
    fi
    apt_update_once
    kpkg=$(resolve_kernel_pkg || true)
fi
[ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 to a concrete kernel package"
kver=${kpkg#linux-image-}          # 6.1.0-NN-amd64
kver=${kver%-unsigned}
kdir=$CACHE_DIR/$kver

if [ -f "$kdir/.done" ]; then
    log "kernel $kver already unpacked in $kdir"
    echo "$kver" >"$CACHE_DIR/current"
    exit 0
fi

mkdir -p "$CACHE_DIR/debs"
# The signed package normally carries vmlinuz and all modules; the -unsigned
# variant is a fallback if a given release ships them only there.
unpacked=0
for cand in "linux-image-$kver" "linux-image-$kver-unsigned"; do
    if ! apt-cache show "$cand" >/dev/null 2>&1; then
        apt_update_once
        apt-cache show "$cand" >/dev/null 2>&1 || continue
    fi
    deb=$(find "$CACHE_DIR/debs" -maxdepth 1 -name "${cand}_*.deb" | head -n1)
    if [ -z "$deb" ]; then
        log "downloading $cand (about 70 MB)"
        (cd "$CACHE_DIR/debs" && apt-get download -q "${APT_DL_OPTS[@]}" "$cand") || {
            apt_update_once
            (cd "$CACHE_DIR/debs" && apt-get download -q "${APT_DL_OPTS[@]}" "$cand")
        }
        deb=$(find "$CACHE_DIR/debs" -maxdepth 1 -name "${cand}_*.deb" | head -n1)
    else
        log "using cached $(basename "$deb")"
    fi
    [ -n "$deb" ] || die "apt-get download $cand produced no .deb"
    rm -rf "$kdir.tmp"
    mkdir -p "$kdir.tmp/root"
    log "unpacking $(basename "$deb")"
    dpkg-deb -x "$deb" "$kdir.tmp/root"
    # Merged-/usr kernels may put modules under usr/lib/modules.
    mdir=""
    for d in lib/modules usr/lib/modules; do
        [ -d "$kdir.tmp/root/$d/$kver/kernel" ] && mdir=$d && break
    done
    if [ -n "$mdir" ] && [ -f "$kdir.tmp/root/boot/vmlinuz-$kver" ]; then
        unpacked=1
        break
    fi
    log "$cand holds no vmlinuz+modules, trying next candidate"
    rm -rf "$kdir.tmp"
done
[ "$unpacked" -eq 1 ] || die "no package provided vmlinuz-$kver and its modules"

# depmod wants <base>/lib/modules; give it a symlink if the package used usr/.
if [ "$mdir" = usr/lib/modules ] && [ ! -e "$kdir.tmp/root/lib/modules" ]; then
    mkdir -p "$kdir.tmp/root/lib"
    ln -s ../usr/lib/modules "$kdir.tmp/root/lib/modules"
fi
log "depmod -b $kdir/root $kver"
depmod -b "$kdir.tmp/root" "$kver"
touch "$kdir.tmp/.done"
rm -rf "$kdir"
mv "$kdir.tmp" "$kdir"
echo "$kver" >"$CACHE_DIR/current"
log "kernel $kver ready: $kdir/root/boot/vmlinuz-$kver"
