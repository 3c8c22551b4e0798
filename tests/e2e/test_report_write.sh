#!/usr/bin/env bash
# A report that cannot be written never costs the previous one:
# - a read-only directory is refused up front (one line, exit 2), the file there untouched;
# - a disk that fills up while svctrace runs makes the write at exit fail: one clear error, exit 1,
#   the previous report intact and no temporary file left beside it.
# Root ignores file modes, so both use real filesystems, mounted in a private mount namespace that
# svctrace runs in (unshare -m): nothing is mounted where anyone else can see it, and the mounts go
# away with the namespace.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v unshare >/dev/null && command -v nsenter >/dev/null || fail "unshare/nsenter (util-linux) not installed"
dir=$WORK/reports
mkdir "$dir"

# Read-only directory: a read-only bind mount of $dir over itself.
echo "previous report" >"$dir/report.json"
rc=0
err=$(unshare -m --propagation private sh -c 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"' \
  "$dir" "$SVCTRACE" --cidr "$CIDR" --report "$dir/report.json" 2>&1 >/dev/null) || rc=$?
[[ $rc == 2 ]] || fail "report in a read-only directory: exit $rc, expected 2 (stderr: $err)"
[[ $(wc -l <<<"$err") == 1 && $err == *"directory $dir is not writable"* ]] ||
  fail "report in a read-only directory: expected one line saying $dir is not writable, got: $err"
[[ $(cat "$dir/report.json") == "previous report" ]] || fail "the previous report in the read-only directory changed"

# Full disk: $dir is a 64 KiB tmpfs holding the previous report, then filled to the last page. svctrace
# traces a lab namespace of this test, with no traffic: the report is written even with no flows.
lab up >/dev/null
SVC_WRAPPER=(unshare -m --propagation private sh -c '
  mount -t tmpfs -o size=64k svctrace-e2e "$0" && echo "previous report" >"$0/report.json" &&
  { cat /dev/zero >"$0/filler" 2>/dev/null; exec "$@"; }' "$dir")
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$dir/report.json" --duration 60
exec {mnt}<"/proc/$SVC_PID/ns/mnt" # keeps svctrace's mount namespace, and the tmpfs, after it exits
in_svc_mounts() { nsenter --mount="/dev/fd/$mnt" "$@"; }
[[ $(in_svc_mounts cat "$dir/report.json") == "previous report" ]] || fail "the full tmpfs was not set up as expected"
stop_svctrace TERM
assert_exit 1
grep -q "cannot write report $dir/report.json: No space left on device" "$ERR" ||
  fail "the failed report write is not reported on stderr as 'cannot write report ...: No space left on device'"
[[ $(tail -n 1 "$OUT" | jq -r .type) == summary ]] || fail "the summary line is still printed when the report cannot be written"
assert_detached
[[ $(in_svc_mounts cat "$dir/report.json") == "previous report" ]] ||
  fail "the previous report was clobbered by a failed write: $(in_svc_mounts head -c 200 "$dir/report.json")"
files=$(in_svc_mounts ls -A "$dir" | paste -sd ' ')
[[ $files == "filler report.json" ]] || fail "files beside the report after the failed write: '$files' (a temporary file left?)"
exec {mnt}<&-

pass
