#!/usr/bin/env bash
# Boots one of Debian's kernels under qemu and runs a command inside it, with the host's filesystem
# visible at the same paths (read-only, under a tmpfs overlay), and returns the command's exit status.
#
#   tests/vm/run.sh KERNEL -- CMD [ARG...]        KERNEL: 5.10, 6.1 or 6.12
#
# CMD runs as root in the directory run.sh was started from, with run.sh's environment, in a guest with
# no network device (only its own namespaces). Its stdout and stderr come back on run.sh's stdout and
# stderr; the guest kernel's console goes to a log file, and its panic/oops lines are shown.
# Kernels are Debian packages, downloaded and unpacked (never installed) into the cache directory.
# Environment: VM_TIMEOUT (s, default 1200), VM_MEM (default 512M), VM_SMP (default 2),
#   VM_TCG_THREAD (single, the default, or multi),
#   SVCTRACE_VM_CACHE (default $XDG_CACHE_HOME/svctrace-vm, or /var/cache/svctrace-vm as root),
#   VM_CONSOLE=1 (also stream the guest kernel's console to stderr), VM_TIMES=1 (print boot time to CMD),
#   VM_KEEP=1 (keep the job directory with the console log).
# Exit status: CMD's, or 125 when the VM could not run CMD (setup error, timeout, panic).
# Needs: scripts/install-deps.sh --vm. See tests/vm/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
say() { echo "vm: $*" >&2; }
die() { say "$*"; exit 125; }
# Until the guest runs, any failure is the VM's (125), never one CMD could have returned.
trap 'say "setup failed (line $LINENO): $BASH_COMMAND"; exit 125' ERR

usage() { echo "usage: $0 {5.10|6.1|6.12} -- CMD [ARG...]" >&2; exit 125; }
(($# >= 3)) && [[ $2 == -- ]] || usage
kernel=$1
shift 2
case $kernel in
  5.10) suite=bullseye meta=linux-image-amd64 ;;
  6.1) suite=bookworm meta=linux-image-amd64 ;;
  6.12) suite=bookworm meta=linux-image-6.12-amd64 ;;
  *) usage ;;
esac

((EUID == 0)) || die "needs root (qemu's 9p export of / must read every file, the guest runs CMD as root)"
for tool in qemu-system-x86_64 busybox depmod modprobe cpio xz apt-get dpkg flock; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-deps.sh --vm"
done
[[ -x /bin/busybox ]] || die "/bin/busybox is missing: run scripts/install-deps.sh --vm"
# busybox-static, not the dynamic busybox: it runs alone in the initramfs
ldd /bin/busybox >/dev/null 2>&1 && die "/bin/busybox is dynamically linked: install busybox-static"

if [[ -n ${SVCTRACE_VM_CACHE:-} ]]; then
  cache=$SVCTRACE_VM_CACHE
elif [[ -n ${XDG_CACHE_HOME:-} ]]; then
  cache=$XDG_CACHE_HOME/svctrace-vm
else
  cache=/var/cache/svctrace-vm
fi
mkdir -p "$cache"
cache=$(cd "$cache" && pwd -P)
case $cache/ in
  /tmp/* | /run/* | /proc/* | /sys/* | /dev/*) die "cache $cache must not be under /tmp, /run, /proc, /sys or /dev: the guest has its own /run, /proc, /sys and /dev, and writes to /tmp stay in the guest" ;;
esac

# --- the kernel: resolve, download, unpack ----------------------------------------------------------

# apt for bullseye: the same mirror, its own sources list and state, so the host's apt stays untouched.
apt_opts=()
if [[ $suite == bullseye ]]; then
  adir=$cache/apt-bullseye
  apt_opts=(-o "Dir::Etc::sourcelist=$adir/sources.list" -o Dir::Etc::sourceparts=-
    -o "Dir::State::Lists=$adir/lists" -o "Dir::Cache=$adir/cache"
    -o "Dir::Cache::pkgcache=$adir/cache/pkgcache.bin" -o "Dir::Cache::srcpkgcache=$adir/cache/srcpkgcache.bin")
fi
apt_update() {
  if [[ $suite == bullseye ]]; then
    mkdir -p "$adir/lists/partial" "$adir/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main" \
      >"$adir/sources.list"
  fi
  say "apt-get update ($suite)"
  apt-get "${apt_opts[@]}" update -qq >&2 || return 1
}
# The meta-package's dependency is the exact ABI version (linux-image-6.1.0-57-amd64); it moves as
# Debian publishes new kernels, and older ones leave the mirror.
resolve() {
  apt-cache "${apt_opts[@]}" depends "$meta" 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1
}

exec {lock}>"$cache/.lock"
flock "$lock"
if [[ $suite == bullseye && ! -s ${adir:-}/sources.list ]]; then apt_update || die "apt-get update for bullseye failed"; fi
pkg=$(resolve)
if [[ -z $pkg ]]; then
  apt_update || true
  pkg=$(resolve)
fi
[[ -n $pkg ]] || die "cannot resolve $meta ($suite) to a kernel package with apt-cache depends"
kver=${pkg#linux-image-}
kdir=$cache/kernels/$kver
if [[ ! -e $kdir/.done ]]; then
  rm -rf "$kdir" "$cache/deb-$kver"
  mkdir -p "$cache/deb-$kver"
  say "downloading $pkg ($suite)"
  if ! (cd "$cache/deb-$kver" && apt-get "${apt_opts[@]}" -o APT::Sandbox::User=root -qq download "$pkg" >&2); then
    # the mirror may have moved on since the last update: refresh the lists once and try again
    apt_update || true
    pkg2=$(resolve)
    [[ $pkg2 == "$pkg" ]] || die "$meta now depends on $pkg2, not $pkg: run again"
    (cd "$cache/deb-$kver" && apt-get "${apt_opts[@]}" -o APT::Sandbox::User=root -qq download "$pkg" >&2) ||
      die "apt-get download $pkg failed"
  fi
  say "unpacking $pkg into $kdir"
  mkdir -p "$kdir"
  dpkg -x "$cache"/deb-"$kver"/"$pkg"_*.deb "$kdir"
  # Decompressed once here (6.12's are .ko.xz): unxz under TCG would cost seconds at every boot.
  # The signature is inside the compressed file, so the .ko keeps it.
  find "$kdir/lib/modules/$kver" -name '*.ko.xz' -print0 | xargs -0 -r -P 2 -n 64 xz -d
  find "$kdir/lib/modules/$kver" -name '*.ko.zst' -print0 | xargs -0 -r -P 2 -n 64 zstd -q -d --rm
  depmod -b "$kdir" "$kver"
  rm -rf "$cache/deb-$kver"
  touch "$kdir/.done"
fi
[[ -f $kdir/boot/vmlinuz-$kver ]] || die "$kdir/boot/vmlinuz-$kver is missing"

# --- the initramfs: busybox, the modules that reach the 9p root, and init ---------------------------

# Rebuilt when init or busybox changes.
initrd_key=$(cat "$here/initramfs-init.sh" /bin/busybox | sha256sum | cut -c1-12)
initrd=$kdir/initramfs-$initrd_key.cpio
if [[ ! -s $initrd ]]; then
  say "building $initrd"
  stage=$(mktemp -d)
  mkdir -p "$stage"/{bin,dev,proc,sys,newroot,modules}
  cp /bin/busybox "$stage/bin/busybox"
  cp "$here/initramfs-init.sh" "$stage/init"
  chmod 755 "$stage/init"
  # insmod order: each module after what it depends on; built-in ones are skipped
  n=0
  for m in virtio_pci 9pnet_virtio 9p overlay; do
    while read -r what path _; do
      [[ $what == insmod ]] || continue
      base=$(basename "$path")
      base=${base%.xz}
      base=${base%.zst}
      grep -qx "[0-9]*-$base" <(ls "$stage/modules") && continue
      n=$((n + 1))
      dst=$stage/modules/$(printf %02d $n)-$base
      case $path in
        *.xz) xz -dc "$path" >"$dst" ;;
        *.zst) zstd -dc "$path" >"$dst" ;;
        *) cp "$path" "$dst" ;;
      esac
    done < <(modprobe -d "$kdir" -S "$kver" --show-depends "$m")
  done
  (cd "$stage" && find . | cpio -o -H newc --quiet) >"$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
  rm -rf "$stage"
  find "$kdir" -maxdepth 1 -name 'initramfs-*.cpio' ! -name "${initrd##*/}" -delete
fi
flock -u "$lock"
trap - ERR

# --- the job: what the guest runs, and where it writes its exit status --------------------------------

job=$(mktemp -d "${TMPDIR:-/tmp}/svctrace-vm.XXXXXX")
qemu_pid=""
cleanup() {
  [[ -n $qemu_pid ]] && kill "$qemu_pid" 2>/dev/null
  if [[ ${VM_KEEP:-} == 1 ]]; then say "kept $job"; else rm -rf "$job"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
printf '%s\0' "$@" >"$job/argv"
env -0 >"$job/env"
pwd >"$job/cwd"
echo "$kdir" >"$job/kdir"
echo "$kver" >"$job/kver"
echo "svctrace-vm-${kernel/./-}" >"$job/hostname"
log=$job/console.log
: >"$log"

timeout_s=${VM_TIMEOUT:-1200}
# One host thread for both vCPUs: with multi-threaded TCG a 6.12 guest once hit an int3 its kernel
# had already patched away (a stale translation, on a busy host). Measured: the matrix takes 10-25%
# longer this way (tests/vm/README.md).
# shellcheck disable=SC2054 # qemu's options are comma-separated lists
qemu=(qemu-system-x86_64 -accel "tcg,thread=${VM_TCG_THREAD:-single}" -cpu max -smp "${VM_SMP:-2}" -m "${VM_MEM:-512M}"
  -nodefaults -display none -no-reboot -nic none
  -kernel "$kdir/boot/vmlinuz-$kver" -initrd "$initrd"
  -append "console=ttyS0 panic=-1 oops=panic random.trust_cpu=on svcvm.init=$here/guest.sh"
  -virtfs local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap
  -virtfs local,path="$job",mount_tag=job,security_model=none
  # ttyS0: the kernel's console; ttyS1, ttyS2: CMD's stdout and stderr (appended, never truncated)
  -serial "file:$log"
  -chardev "file,id=out,path=$job/stdout" -serial chardev:out
  -chardev "file,id=err,path=$job/stderr" -serial chardev:err
  -monitor none)
# FIFOs, copied by cat: its writes share our stdout's and stderr's file offsets (a file qemu opened
# itself, e.g. /proc/self/fd/1, would not, and the two writers would overwrite each other).
mkfifo "$job/stdout" "$job/stderr"
cat "$job/stdout" &
cat_out=$!
cat "$job/stderr" >&2 &
cat_err=$!

start_ms=$(date +%s%3N)
# The wall-clock bound: timeout kills qemu when it runs out (SIGTERM, then SIGKILL 5 s later).
timeout -k 5 "$timeout_s" "${qemu[@]}" </dev/null &
qemu_pid=$!
tail_pid=""
if [[ ${VM_CONSOLE:-} == 1 ]]; then
  tail -n +1 -f "$log" --pid "$qemu_pid" | sed 's/^/vm: console: /' >&2 &
  tail_pid=$!
fi
set +e
wait "$qemu_pid"
qemu_rc=$?
set -e
qemu_pid=""
# EOF for the cats, also when qemu never opened the FIFOs (an O_RDWR open never blocks)
for f in "$job/stdout" "$job/stderr"; do exec {x}<>"$f" && exec {x}>&-; done
wait "$cat_out" "$cat_err"
[[ -n $tail_pid ]] && wait "$tail_pid" 2>/dev/null
end_ms=$(date +%s%3N)
secs() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }

# What the kernel said that a test author must see: oopses, BUGs, warnings, panics.
kernel_trouble() {
  tr -d '\r' <"$log" | grep -E -A 40 'Oops|BUG:|WARNING:|Kernel panic|general protection fault|Call Trace' |
    head -n 120 | sed 's/^/vm: kernel: /' >&2 || true
}
if ((qemu_rc == 124 || qemu_rc == 137)); then
  say "TIMEOUT: $kernel ($kver) did not finish within VM_TIMEOUT=$timeout_s s; qemu killed. Console tail:"
  tr -d '\r' <"$log" | tail -n 40 | sed 's/^/vm: console: /' >&2
  kernel_trouble
  exit 125
fi
if [[ ! -s $job/rc ]]; then
  grep -q 'Kernel panic' "$log" && say "the guest kernel PANICKED"
  say "the guest ($kernel, $kver) ended without CMD's exit status (qemu exit $qemu_rc after $(secs $((end_ms - start_ms))) s). Console tail:"
  tr -d '\r' <"$log" | tail -n 60 | sed 's/^/vm: console: /' >&2
  exit 125
fi
kernel_trouble
rc=$(<"$job/rc")
if [[ ${VM_TIMES:-} == 1 && -e $job/started ]]; then
  started_ms=$(date -r "$job/started" +%s%3N)
  say "$kver: CMD started $(secs $((started_ms - start_ms))) s after qemu; qemu ran $(secs $((end_ms - start_ms))) s; CMD exit $rc"
fi
exit "$rc"
