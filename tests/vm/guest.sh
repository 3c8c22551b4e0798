#!/bin/bash
# Stage 2, PID 1 in the guest that tests/vm/run.sh boots, running from the host's root (read-only 9p
# under a tmpfs overlay): mount what a node has, load the modules the tests need, run the job from the
# 9p share "job" (argv, env, cwd written by run.sh), write its exit status there and power off.
# CMD's stdout and stderr are the serial ports ttyS1 and ttyS2, which run.sh sends to its own.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

off() {
  sync
  echo o >/proc/sysrq-trigger
  sleep 30
}
die() {
  echo "vm guest: $*" >/dev/console
  off
}

mnt() { # mnt TYPE DIR [OPTIONS]
  [[ -d $2 ]] || mkdir -p "$2"
  mount -t "$1" ${3:+-o "$3"} "$1" "$2" || echo "vm guest: cannot mount $1 on $2" >/dev/console
}
mnt proc /proc
mark() { echo "svctrace-vm: $*" >/dev/kmsg; }
mark "stage 2"
mnt sysfs /sys
mountpoint -q /dev || mnt devtmpfs /dev
mnt devpts /dev/pts mode=620,ptmxmode=666
mnt tmpfs /dev/shm mode=1777
# /tmp stays the overlay's: the host's, read-only beneath, with the guest's writes in the tmpfs above,
# so that a checkout under /tmp (a CI clone) is visible at its own path, and writes stay in the guest.
mnt tmpfs /run mode=755
mnt bpf /sys/fs/bpf mode=700
mnt tracefs /sys/kernel/tracing
mnt debugfs /sys/kernel/debug
mnt cgroup2 /sys/fs/cgroup
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr

job=/run/svctrace-vm
mkdir -p $job
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 job $job || die "cannot mount the job share"

kdir=$(<$job/kdir)
kver=$(<$job/kver)
[[ $(</proc/sys/kernel/osrelease) == "$kver" ]] || die "booted $(</proc/sys/kernel/osrelease), expected $kver"
# The kernel's modules at the usual place too, for the kernel's own module autoloading (modprobe).
mkdir -p "/lib/modules/$kver"
mount --bind "$kdir/lib/modules/$kver" "/lib/modules/$kver" || die "cannot bind the modules of $kver"

host=$(<$job/hostname)
echo "$host" >/proc/sys/kernel/hostname
echo "127.0.1.1 $host" >>/etc/hosts
ip link set lo up

mark "mounted"
# What the tests use (NAT by iptables and nft, conntrack, veth labs, VRF, IPVS, containers); a module a
# kernel lacks or has built in is skipped. Others load on demand through the kernel's autoloading.
# One modprobe for all: each process start costs tens of ms under TCG.
modprobe -a -q -d "$kdir" -S "$kver" nf_conntrack nf_nat iptable_nat iptable_filter iptable_raw \
  iptable_mangle ip6table_nat ip6table_filter nf_tables nft_nat nft_chain_nat nft_ct nft_compat \
  xt_conntrack xt_nat xt_MASQUERADE xt_comment xt_addrtype veth vrf dummy ip_vs ip_vs_rr overlay \
  sch_ingress cls_bpf 2>/dev/null
mark "modules loaded"
# The job: argv and env NUL-separated, as run.sh saw them.
argv=()
while IFS= read -r -d '' a; do argv+=("$a"); done <$job/argv
while IFS= read -r -d '' kv; do
  name=${kv%%=*}
  [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
  case $name in
    SHLVL | PWD | OLDPWD | _ | HOSTNAME | SSH_* | DISPLAY | XDG_RUNTIME_DIR | DBUS_SESSION_BUS_ADDRESS | TMUX | TMUX_PANE) continue ;;
  esac
  # shellcheck disable=SC2163 # NAME=value, exported as such
  export "$kv"
done <$job/env
cwd=$(<$job/cwd)
cd "$cwd" 2>/dev/null || die "cannot cd to $cwd (host directories under /run are not visible)"

mark "job read"
for t in /dev/ttyS1 /dev/ttyS2; do stty -F $t raw -echo 2>/dev/null; done
mark "CMD starts"
: >$job/started
# Its own session, as a login would give it; stdin is empty.
setsid -w "${argv[@]}" </dev/null >/dev/ttyS1 2>/dev/ttyS2
rc=$?
echo "$rc" >$job/rc.tmp && mv $job/rc.tmp $job/rc
off
