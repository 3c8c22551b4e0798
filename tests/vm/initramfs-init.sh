#!/bin/busybox sh
# shellcheck shell=dash
# Stage 1, PID 1 in the initramfs that tests/vm/run.sh builds: load the modules that reach the host's
# root over 9p (in /modules, in dependency order), mount it read-only under a tmpfs overlay and
# switch_root into it, to run stage 2 (svcvm.init=PATH on the kernel command line, a host script).
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
fail() {
  echo "vm init: $*" >/dev/console
  echo o >/proc/sysrq-trigger
  sleep 10
}
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in /modules/*.ko; do
  [ -e "$m" ] || continue
  insmod "$m" || fail "insmod $m failed"
done
mkdir -p /lower /rw
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose root /lower || fail "cannot mount the 9p root"
mount -t tmpfs -o mode=755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail "cannot mount the overlay"
stage2=
for arg in $(cat /proc/cmdline); do
  case $arg in svcvm.init=*) stage2=${arg#svcvm.init=} ;; esac
done
[ -n "$stage2" ] && [ -f "/newroot$stage2" ] || fail "stage 2 '$stage2' not found in the host's root"
mount --move /dev /newroot/dev
umount /sys /proc
exec switch_root /newroot /bin/bash "$stage2"
