#!/usr/bin/env bash
# Soft-RoCE (rdma_rxe) test cluster: boot 1-3 QEMU/TCG VMs running Debian's
# stock kernel, each chrooted into the host's / (read-only over 9p), and run
# COMMAND on every node concurrently.
#
# Usage: test/cluster/cluster.sh [--nodes N] [--timeout SEC] [--mem MB] [--cpus N]
#                                [--grace SEC] [--logdir DIR] [--vgem] [--link KIND]
#                                -- COMMAND [ARGS...]
#   --cpus: vCPUs per VM (default 1; each is a host thread under TCG).
#   --link: how the VMs' frames travel on the host (more than one node):
#     tcp   QEMU's socket netdev over 127.0.0.1 (the default).  It leaves
#           Nagle's algorithm on: a frame can wait for the delayed ACK of
#           the one before, and a round trip between the VMs takes about
#           44 ms (ib_send_lat: 22 ms one-way).  With more than two nodes
#           node0 joins the links with a QEMU hub, which corrupts a link
#           whose socket fills (see start_node); two nodes do without it.
#     unix  QEMU's stream netdev over unix sockets in the run directory: no
#           Nagle, about 0.8 ms a round trip (ib_send_lat: 0.39 ms), for
#           benchmarks.  Not the tests' default: cluster_nodeloss_2n hung
#           over it, twice in two runs (likely: the victim VM hangs in its
#           power off, its QEMU stops reading, the socket fills and the
#           survivor's sends stall; the TCP link's larger buffers hide it).
#   --vgem: load the vgem DRM driver (real dma-bufs, /dev/dri/card0).
#   One COMMAND word is run as a shell line (bash -c, so 'a & b; c' works);
#   several words are exec'd as an argv with their quoting kept.
#   Exit status: 0 only if COMMAND exited 0 on every node; otherwise the first
#   failing node's code (124 = killed on timeout, 125 = VM/setup failure).
#
# Networking uses only 127.0.0.1 on the host and 192.0.2.0/24 in the guests.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(cd "$(dirname "$SELF")/../.." && pwd)
CACHE_DIR=${SCIF_CACHE_DIR:-$REPO/.cache/kernel}

NODES=1 TIMEOUT=600 MEM=1024 CPUS=1 GRACE=30 LOGDIR="" VGEM=0 LINK=tcp
usage() { sed -n '5,13s/^# \{0,1\}//p' "$SELF" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    --nodes) NODES=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --mem) MEM=$2; shift 2 ;;
    --cpus) CPUS=$2; shift 2 ;;
    --grace) GRACE=$2; shift 2 ;;
    --logdir) LOGDIR=$2; shift 2 ;;
    --vgem) VGEM=1; shift ;;
    --link) LINK=$2; shift 2 ;;
    --) shift; break ;;
    -h | --help) usage ;;
    *) echo "cluster: unknown option $1" >&2; usage ;;
    esac
done
[ $# -gt 0 ] || usage
case $NODES in 1 | 2 | 3) ;; *) echo "cluster: --nodes must be 1..3" >&2; exit 2 ;; esac
case $CPUS in 1 | 2 | 3 | 4) ;; *) echo "cluster: --cpus must be 1..4" >&2; exit 2 ;; esac
case $LINK in tcp | unix) ;; *) echo "cluster: --link must be tcp or unix" >&2; exit 2 ;; esac
for v in "$TIMEOUT" "$MEM" "$GRACE"; do
    [[ $v =~ ^[0-9]+$ ]] || { echo "cluster: bad number '$v'" >&2; exit 2; }
done
log() { printf 'cluster: %s\n' "$*" >&2; }

# --- kernel and tools (setup.sh fetches/installs what is missing) --------
kernel_ready() {
    [ -s "$CACHE_DIR/current" ] && [ -f "$CACHE_DIR/$(cat "$CACHE_DIR/current")/.done" ]
}
tools_ready() {
    local t
    for t in qemu-system-x86_64 cpio gzip ss busybox depmod; do
        command -v "$t" >/dev/null || return 1
    done
    # A dynamic busybox would not run inside the initramfs.
    case $(ldd "$(command -v busybox)" 2>&1 || true) in *'not a dynamic'*) ;; *) return 1 ;; esac
}
if ! kernel_ready || ! tools_ready; then
    log "kernel cache ($CACHE_DIR) or tools missing, running scripts/setup.sh"
    bash "$REPO/scripts/setup.sh" >&2
    kernel_ready || { log "setup.sh did not produce a kernel"; exit 1; }
    tools_ready || { log "tools still missing (need a static busybox: busybox-static)"; exit 1; }
fi
KVER=$(cat "$CACHE_DIR/current")
KROOT=$CACHE_DIR/$KVER/root
VMLINUZ=$KROOT/boot/vmlinuz-$KVER
MODDIR=$KROOT/lib/modules/$KVER
BUSYBOX=$(command -v busybox)

# --- guest init (PID 1 inside each VM) ------------------------------------
# Quoted heredoc: nothing here is expanded on the host.
read -r -d '' GUEST_INIT <<'INIT' || true
#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "cluster-init: $*"; }
# The modules after the "--optional" line only when asked (cluster.vgem=1).
while read -r m; do
    if [ "$m" = --optional ]; then grep -q cluster.vgem=1 /proc/cmdline || break; continue; fi
    insmod "/lib/modules/$m" || say "insmod $m failed"
done </modules.list
N=0 NN=1
for a in $(cat /proc/cmdline); do
    case $a in cluster.node=*) N=${a#*=} ;; cluster.nodes=*) NN=${a#*=} ;; esac
done
H=/host R=/host/tmp/cluster-run
# Without the results share nobody hears from us: just power off (host => 125).
finish() { echo "$1" >"$R/node$N.rc.tmp" && mv "$R/node$N.rc.tmp" "$R/node$N.rc"; sync; poweroff -f; }
fail() { say "node$N: $*"; echo "cluster-init: $*" >>"$R/node$N.log"; finish 125; }
mkdir -p $H /hosttmp /dev/pts /dev/shm
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro host $H || { say "no host share"; poweroff -f; }
# The guest's /tmp is its own; the host's stays reachable at /hosttmp (outside the chroot).
mount -o bind $H/tmp /hosttmp
mount -t tmpfs -o mode=1777 tmpfs $H/tmp
mkdir -p $R
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results $R || { say "no results share"; poweroff -f; }
# The host's directories under /tmp that the command needs (repository, working
# directory, argument paths), read-only at the same path inside the private /tmp.
while IFS= read -r p; do
    [ -n "$p" ] || continue
    mkdir -p "$H$p" && mount -o bind "/hosttmp/${p#/tmp/}" "$H$p" || fail "cannot show the host's $p"
done <$R/tmp-paths
mount -t tmpfs -o mode=755 tmpfs $H/run
mount -t proc proc $H/proc
mount -o bind /sys $H/sys
mount -o bind /dev $H/dev
mount -t devpts devpts $H/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $H/dev/shm
# Host tools (iproute2's ip and rdma) from the chroot: busybox ip mishandles veth.
hostrun() { chroot $H /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
ADDRS="" i=0
: >$H/tmp/scif_nodes
while [ $i -lt "$NN" ]; do
    ADDRS="$ADDRS 192.0.2.$((i + 1))"
    echo "$i 192.0.2.$((i + 1))" >>$H/tmp/scif_nodes
    i=$((i + 1))
done
ADDRS=${ADDRS# } SELFADDR=192.0.2.$((N + 1))
ip link set lo up
if [ "$NN" -eq 1 ]; then
    # rxe cannot bind lo on 6.1, so give it a veth whose peer keeps carrier up.
    IF=v0
    hostrun ip link add v0 type veth peer name v1 || fail "veth"
    ip link set v1 up
else
    IF=eth0
fi
# busybox ip is fine for these (and much cheaper than exec over 9p under TCG).
ip addr add "$SELFADDR/24" dev $IF || fail "ip addr on $IF"
ip link set $IF up || fail "link up $IF"
hostrun rdma link add rxe0 type rxe netdev $IF || fail "rdma link add rxe0"
i=0
until grep -q ACTIVE /sys/class/infiniband/rxe0/ports/1/state 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 300 ] || fail "rxe0 never became ACTIVE"; usleep 100000
done
if [ "$NN" -gt 1 ]; then
    for a in $ADDRS; do
        [ "$a" = "$SELFADDR" ] && continue
        i=0
        until ping -c1 -W1 "$a" >/dev/null 2>&1; do
            i=$((i + 1)); [ $i -lt 120 ] || fail "peer $a unreachable"
        done
    done
    # Barrier: every node has rxe0 ACTIVE and sees its peers.
    touch "$R/ready.$N"
    i=0
    until [ "$(ls "$R" | grep -c '^ready\.')" -ge "$NN" ]; do
        i=$((i + 1)); [ $i -lt 1200 ] || fail "barrier timed out"; usleep 100000
    done
fi
say "node$N ready ($SELFADDR on $IF), running command"
chroot $H /usr/bin/env -i HOME=/tmp TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CLUSTER_NODE="$N" CLUSTER_NODES="$NN" CLUSTER_ADDRS="$ADDRS" \
    CLUSTER_SELF_ADDR="$SELFADDR" CLUSTER_RESULTS_DIR=/tmp/cluster-run \
    SCIF_NODES_FILE=/tmp/scif_nodes SCIF_SELF_NODE="$N" \
    /bin/bash /tmp/cluster-run/cmd.sh >>"$R/node$N.log" 2>&1 </dev/null
finish $?
INIT

# --- initramfs (cached per kernel version + this script's hash) -----------
WANT_MODS="crc32_generic virtio_pci virtio_net 9pnet_virtio 9p veth ib_uverbs rdma_rxe rdma_ucm cuse"
OPT_MODS="vgem" # loaded with --vgem only
HASH=$(sha256sum "$SELF" | cut -c1-16)
INITRD=$CACHE_DIR/initramfs-$KVER-$HASH.cpio.gz
build_initramfs() {
    local d order=() seen=" " m
    d=$(mktemp -d)
    # Depth-first over modules.dep so every module follows its dependencies.
    dep_of() { sed -n "s|^\([^:]*/$1\.ko[^:]*\):\(.*\)|\1 \2|p" "$MODDIR/modules.dep"; }
    add_mod() { # $1 = path relative to MODDIR
        local p=$1 name line q
        name=$(basename "$p"); name=${name%%.ko*}
        case $seen in *" $name "*) return 0 ;; esac
        seen="$seen$name "
        line=$(dep_of "$name")
        for q in ${line#* }; do add_mod "$q"; done
        order+=("$p")
    }
    for m in $WANT_MODS; do
        if [ -z "$(dep_of "$m")" ]; then
            grep -q "/$m\.ko" "$MODDIR/modules.builtin" && continue
            log "module $m not in $MODDIR/modules.dep"; rm -rf "$d"; return 1
        fi
        add_mod "$(dep_of "$m" | cut -d' ' -f1)"
    done
    local nwant=${#order[@]} i=0
    for m in $OPT_MODS; do # a kernel without one: --vgem runs find no device
        [ -n "$(dep_of "$m")" ] || { log "optional module $m not in modules.dep"; continue; }
        add_mod "$(dep_of "$m" | cut -d' ' -f1)"
    done
    mkdir -p "$d/bin" "$d/lib/modules"
    cp "$BUSYBOX" "$d/bin/busybox"
    printf '%s\n' "$GUEST_INIT" >"$d/init"
    chmod 755 "$d/init"
    : >"$d/modules.list"
    for m in "${order[@]}"; do
        [ $((i++)) -eq "$nwant" ] && echo --optional >>"$d/modules.list"
        local b; b=$(basename "$m")
        case $b in # busybox insmod wants plain .ko
        *.ko.xz) xz -dc "$MODDIR/$m" >"$d/lib/modules/${b%.xz}"; b=${b%.xz} ;;
        *.ko.zst) zstd -qdc "$MODDIR/$m" >"$d/lib/modules/${b%.zst}"; b=${b%.zst} ;;
        *) cp "$MODDIR/$m" "$d/lib/modules/$b" ;;
        esac
        echo "$b" >>"$d/modules.list"
    done
    (cd "$d" && find . | cpio -o -H newc --quiet | gzip -1) >"$INITRD.tmp.$$"
    mv "$INITRD.tmp.$$" "$INITRD"
    log "built $(basename "$INITRD") with: $(tr '\n' ' ' <"$d/modules.list")"
    rm -rf "$d"
}
if [ ! -f "$INITRD" ]; then
    # Drop stale images, but not ones a concurrent run may still be booting.
    find "$CACHE_DIR" -maxdepth 1 -name 'initramfs-*.cpio.gz' -mmin +60 -delete
    build_initramfs
fi

# --- per-run state and teardown -------------------------------------------
RUN=$(mktemp -d "${TMPDIR:-/tmp}/scif-cluster.XXXXXX")
SHARE=$RUN/share
mkdir -p "$SHARE"
PIDS=()
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    PIDS=()
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The command, as a bash script run in the chroot from the caller's cwd.
{
    echo "# generated by cluster.sh"
    while read -r name; do
        case $name in SCIF_NODES_FILE | SCIF_SELF_NODE) continue ;; esac
        printf 'export %s=%q\n' "$name" "${!name}"
    done < <(compgen -e | grep -E '^(SCIF|TEST|ASAN|UBSAN|LSAN)_' || true)
    # The logical cwd, else the physical one (a symlink under /tmp is not in the VMs).
    printf 'cd -- %q 2>/dev/null || cd -- %q || exit 125\n' "$PWD" "$(pwd -P)"
    if [ $# -eq 1 ]; then
        printf 'exec bash -c %q\n' "$1"
    else
        printf 'exec'; printf ' %q' "$@"; printf '\n'
    fi
} >"$SHARE/cmd.sh"
# Directories under /tmp (hidden in the VMs by their own tmpfs) that the
# command needs: the repository, the working directory, and the existing
# paths among its arguments (a file's directory).  The guest mounts each one
# read-only at the same path; a clone or build tree under /tmp works as is.
tmp_paths() {
    local a d
    for a in "$REPO" "$PWD" "$@"; do
        [ -e "$a" ] || continue
        d=$(readlink -f -- "$a") || continue
        [ -d "$d" ] || d=$(dirname -- "$d")
        case $d in
        *$'\n'*) continue ;;
        /tmp | /tmp/cluster-run | /tmp/cluster-run/* | /tmp/scif_nodes)
            log "warning: $d stays hidden inside the VMs (their own /tmp)"; continue ;;
        /tmp/*) printf '%s\n' "$d" ;;
        esac
    done | LC_ALL=C sort -u | awk '{ for (i = 1; i <= n; i++) if (index($0, k[i] "/") == 1) next; k[++n] = $0; print }'
}
tmp_paths "$@" >"$SHARE/tmp-paths"
case $PWD/ in /run/* | /proc/* | /sys/* | /dev/*)
    log "warning: cwd $PWD is hidden by a fresh mount inside the VMs" ;;
esac

# Free TCP port on 127.0.0.1 for the socket netdevs (node0 hosts a QEMU hub).
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 30000))
        ss -Htan "( sport = :$p or dport = :$p )" | grep -q . || { echo "$p"; return; }
    done
}
PORTS=()
for ((i = 1; i < NODES; i++)); do PORTS+=("$(free_port)"); done

# Node $2's link (see --link): node0's end, the node's end, listening.
link_server() {
    if [ "$LINK" = unix ]; then
        echo "stream,id=$1,server=on,addr.type=unix,addr.path=$RUN/link$2.sock"
    else
        echo "socket,id=$1,listen=127.0.0.1:${PORTS[$2 - 1]}"
    fi
}
link_client() {
    if [ "$LINK" = unix ]; then
        echo "stream,id=$1,server=off,addr.type=unix,addr.path=$RUN/link$2.sock"
    else
        echo "socket,id=$1,connect=127.0.0.1:${PORTS[$2 - 1]}"
    fi
}
link_listening() {
    if [ "$LINK" = unix ]; then
        [ -S "$RUN/link$1.sock" ]
    else
        ss -Htln "( sport = :${PORTS[$1 - 1]} )" | grep -q .
    fi
}

start_node() {
    local i=$1 net=()
    local mac
    mac=$(printf '52:54:00:c0:02:%02x' $((i + 1)))
    if [ "$NODES" -eq 2 ] && [ "$i" -eq 0 ]; then
        # Two nodes: the NIC on the link itself.  Through a hub, QEMU 7.2
        # corrupts the link's byte stream once its socket is full: when the
        # socket drains, the hub hands it the NIC's next frame before the
        # rest of the frame it had half sent (qemu_flush_or_purge_queued_packets
        # flushes the hub's queues first), the peer's QEMU then reads a wrong
        # frame length, and both VMs' transmit queues stop for good
        # ("NETDEV WATCHDOG"; cluster_rma_2n and cluster_fence_2n, in RDMA
        # READs of many MiB).
        net+=(-netdev "$(link_server s1 1)"
            -device "virtio-net-pci,netdev=s1,mac=$mac,romfile=")
    elif [ "$NODES" -gt 1 ] && [ "$i" -eq 0 ]; then
        # QEMU's socket 'listen' takes one peer, so join all peers with a hub
        # (see above for what it does when a link's socket fills).
        net+=(-netdev "hubport,id=hp0,hubid=0" -device "virtio-net-pci,netdev=hp0,mac=$mac,romfile=")
        for ((j = 1; j < NODES; j++)); do
            net+=(-netdev "$(link_server "s$j" "$j")"
                -netdev "hubport,id=hp$j,hubid=0,netdev=s$j")
        done
    elif [ "$NODES" -gt 1 ]; then
        net+=(-netdev "$(link_client n0 "$i")"
            -device "virtio-net-pci,netdev=n0,mac=$mac,romfile=")
    fi
    qemu-system-x86_64 -nodefaults -no-user-config -machine pc -accel tcg -cpu max \
        -smp "$CPUS" -m "$MEM" -nographic -monitor none -no-reboot \
        -serial "file:$RUN/console$i.log" \
        -kernel "$VMLINUZ" -initrd "$INITRD" \
        -append "console=ttyS0 quiet panic=-1 cluster.node=$i cluster.nodes=$NODES cluster.vgem=$VGEM" \
        -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
        -virtfs "local,path=$SHARE,mount_tag=results,security_model=none" \
        "${net[@]}" </dev/null >"$RUN/qemu$i.log" 2>&1 &
    PIDS+=($!)
}

T0=$SECONDS
DEADLINE=$((SECONDS + TIMEOUT))
log "kernel $KVER, $NODES node(s), timeout ${TIMEOUT}s, run dir $RUN"
start_node 0
for ((i = 1; i < NODES; i++)); do
    # Connecting QEMUs fail outright if node0 is not listening yet.
    until link_listening "$i"; do
        kill -0 "${PIDS[0]}" 2>/dev/null || break
        [ $SECONDS -lt $((T0 + 30)) ] || break
        sleep 0.1
    done
    start_node "$i"
done

# Wait for every VM to power off; a node that fails shortens the others' time,
# and so does every node having reported: a guest can hang in its own power
# off (seen under TCG: a soft lockup after sysrq 'o'), which must not cost the
# whole timeout once its result is in.
timed_out=0
while :; do
    alive=0 reported=0
    for ((i = 0; i < NODES; i++)); do
        [ -f "$SHARE/node$i.rc" ] && reported=$((reported + 1))
        if kill -0 "${PIDS[i]}" 2>/dev/null; then
            alive=$((alive + 1))
        elif ! [ -f "$SHARE/node$i.rc" ] || [ "$(cat "$SHARE/node$i.rc")" != 0 ]; then
            [ $DEADLINE -le $((SECONDS + GRACE)) ] || DEADLINE=$((SECONDS + GRACE))
        fi
    done
    [ "$alive" -gt 0 ] || break
    if [ "$reported" -eq "$NODES" ] && [ $DEADLINE -gt $((SECONDS + GRACE)) ]; then
        DEADLINE=$((SECONDS + GRACE))
    fi
    if [ $SECONDS -ge $DEADLINE ]; then timed_out=1; break; fi
    sleep 0.5
done
if [ "$timed_out" -eq 1 ] && [ "$reported" -eq "$NODES" ]; then
    log "every node reported; killing the VM(s) still powering off after $((SECONDS - T0))s"
elif [ "$timed_out" -eq 1 ]; then
    log "deadline reached after $((SECONDS - T0))s, killing VMs"
fi
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done

# --- report ----------------------------------------------------------------
status=0
summary=()
for ((i = 0; i < NODES; i++)); do
    if [ -f "$SHARE/node$i.rc" ]; then rc=$(cat "$SHARE/node$i.rc")
    elif [ "$timed_out" -eq 1 ]; then rc=124
    else rc=125; fi
    [ -f "$SHARE/node$i.log" ] && sed "s/^/[node$i] /" "$SHARE/node$i.log"
    if [ "$rc" != 0 ]; then
        [ "$status" -ne 0 ] || status=$rc
        echo "[node$i] --- console tail ---"
        # Strip SeaBIOS terminal escapes so the tail stays readable.
        tail -n 25 "$RUN/console$i.log" 2>/dev/null |
            sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' -e "s/^/[node$i console] /"
        [ -s "$RUN/qemu$i.log" ] && sed "s/^/[node$i qemu] /" "$RUN/qemu$i.log"
    fi
    summary+=("node$i=$rc")
done
if [ -n "$LOGDIR" ]; then
    mkdir -p "$LOGDIR"
    cp -r "$SHARE/." "$LOGDIR/"
    cp "$RUN"/console*.log "$RUN"/qemu*.log "$LOGDIR/" 2>/dev/null || true
fi
log "done in $((SECONDS - T0))s: ${summary[*]}"
exit "$status"
