#!/usr/bin/env bash
# --btf FILE: the kernel's BTF from a file, for kernels (or containers) without
# /sys/kernel/btf/vmlinux. With a copy of the kernel's own, svctrace catches the incident as it does
# without; a file it cannot use is one line on stderr and exit 1, before anything is loaded; and where
# /sys/kernel/btf is hidden (a mount namespace with an empty directory over it), svctrace without
# --btf says what the kernel lacks.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

[[ -r /sys/kernel/btf/vmlinux ]] || skip "this kernel exposes no BTF to copy"
btf=$WORK/vmlinux.btf
cp /sys/kernel/btf/vmlinux "$btf"

lab up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --duration 60 --btf "$btf"
lab connect --timeout 2 >/dev/null
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis with --btf"
assert_json "$diag" '.verdict == "asymmetric_source" and .dnat.ip == "10.0.0.8"' "the incident with --btf"
stop_svctrace
assert_exit 3
assert_detached

# expect_one_line RC WANTED CMD...: CMD exits RC with one line on stderr that contains WANTED.
expect_one_line() {
  local want_rc=$1 want=$2 rc=0 err
  shift 2
  err=$("$@" 2>&1 >/dev/null) || rc=$?
  [[ $rc == "$want_rc" && $(wc -l <<<"$err") == 1 && $err == *"$want"* ]] ||
    fail "$*: expected exit $want_rc and one line with \"$want\", got exit $rc: $err"
}
expect_one_line 1 "--btf $WORK/none: cannot read it: No such file or directory" \
  "$SVCTRACE" --netns "$NODE" --cidr "$CIDR" --hooks --btf "$WORK/none"
printf 'not BTF\n' >"$WORK/text"
expect_one_line 1 "--btf $WORK/text: not a BTF file" "$SVCTRACE" --netns "$NODE" --cidr "$CIDR" --hooks --btf "$WORK/text"
# A BTF header with no types: BTF, but not a kernel's.
head -c 24 "$btf" >"$WORK/header-only"
expect_one_line 1 "--btf $WORK/header-only: " "$SVCTRACE" --netns "$NODE" --cidr "$CIDR" --hooks --btf "$WORK/header-only"

# With /sys/kernel/btf hidden (an empty directory mounted over it): the floor names what is missing;
# with --btf, libbpf still looks for the kernel's own BTF to attach the hooks, and unless it finds a
# vmlinux under /boot or /lib/modules that is said in one line too, not as a loader's bare errno.
hidden=(unshare -m sh -c 'mount -t tmpfs none /sys/kernel/btf && exec "$@"' sh)
expect_one_line 1 "/sys/kernel/btf/vmlinux is missing" "${hidden[@]}" "$SVCTRACE" --netns "$NODE" --cidr "$CIDR" --hooks
release=$(uname -r)
if ! ls "/boot/vmlinux-$release" "/lib/modules/$release/vmlinux-$release" "/lib/modules/$release/build/vmlinux" \
  "/usr/lib/modules/$release/kernel/vmlinux" "/usr/lib/debug/boot/vmlinux-$release"* \
  "/usr/lib/debug/lib/modules/$release/vmlinux" >/dev/null 2>&1; then
  expect_one_line 1 "--btf $btf: libbpf also needs the kernel's own BTF" \
    "${hidden[@]}" "$SVCTRACE" --netns "$NODE" --cidr "$CIDR" --hooks --btf "$btf"
fi
pass
