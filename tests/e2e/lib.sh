# shellcheck shell=bash disable=SC2034  # NODE, CIDR, ... are used by the tests that source this
# Helpers for svctrace's end-to-end tests. Source it from a test_*.sh; it sets `set -euo pipefail`,
# gives the test a unique lab prefix and a temp dir, and installs a cleanup trap that stops svctrace and
# tears the lab down however the test ends.
#
# Every test ends with `pass` or `fail REASON`; an unexpected exit is reported as a FAIL by the trap.
set -euo pipefail

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB=$E2E_ROOT/scripts/lab.sh
SVCTRACE=${SVCTRACE:-$E2E_ROOT/build/svctrace}
TEST_NAME=$(basename "$0" .sh)
PREFIX=e2e$$            # unique per test run: namespaces e2e<pid>-node, -api, -gw
NODE=$PREFIX-node
CIDR=172.24.0.0/13
WORK=$(mktemp -d "/tmp/svctrace-$TEST_NAME.XXXXXX")
OUT=$WORK/stdout.ndjson # svctrace --json stdout
ERR=$WORK/stderr
REPORT=$WORK/report.json
SVC_PID=""
SVC_RC=""
_REPORTED=""
# The test's real stdout, kept on its own fd: the EXIT trap can fire while a helper's output is
# redirected (e.g. `wait_for_line ... >/dev/null`), and its FAIL line must not vanish with it.
# Closed for every child we start so no background process holds the caller's pipe open.
exec {E2E_OUT}>&1

# --- result reporting ---------------------------------------------------------------------------

pass() {
  _REPORTED=1
  echo "PASS $TEST_NAME" >&"$E2E_OUT"
  exit 0
}

# fail REASON: prints the reason plus svctrace's stderr tail, keeps the work dir for inspection.
fail() {
  _REPORTED=1
  {
    echo "FAIL $TEST_NAME: $*"
    if [[ -s $ERR ]]; then
      echo "--- svctrace stderr (last 20 lines):"
      tail -n 20 "$ERR" | sed 's/^/    /'
    fi
    echo "--- artifacts kept in $WORK"
  } >&"$E2E_OUT"
  exit 1
}

_cleanup() {
  local rc=$?
  set +e
  [[ -n $SVC_PID ]] && stop_svctrace >/dev/null 2>&1
  "$LAB" down --prefix "$PREFIX" >/dev/null 2>&1 {E2E_OUT}>&-
  if [[ -z $_REPORTED && $rc -ne 0 ]]; then
    echo "FAIL $TEST_NAME: unexpected exit (status $rc) at: ${BASH_COMMAND}" >&"$E2E_OUT"
    echo "--- artifacts kept in $WORK" >&"$E2E_OUT"
  elif ((rc == 0)); then
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap _cleanup EXIT
# Make SIGINT/SIGTERM (e.g. from `timeout` in run.sh) go through the EXIT trap too.
trap 'exit 130' INT
trap 'exit 143' TERM

((EUID == 0)) || fail "must run as root"
command -v jq >/dev/null || fail "jq not installed"

# --- lab ----------------------------------------------------------------------------------------

lab() { "$LAB" "$@" --prefix "$PREFIX" {E2E_OUT}>&-; }

# lab_connect [TIMEOUT]: one bounded connect from the node netns; prints lab.sh's line, returns 0 if
# it connected and 1 otherwise.
lab_connect() {
  local line
  line=$(lab connect --timeout "${1:-3}")
  echo "$line"
  [[ $line == *": ok" ]]
}

# --- svctrace -------------------------------------------------------------------------------------

# start_svctrace ARGS...: runs svctrace in the background and returns once it printed its ready line
# (the probes are attached). Fails the test if it dies or is not ready within 20 s.
start_svctrace() {
  [[ -x $SVCTRACE ]] || fail "svctrace binary not found or not executable: $SVCTRACE"
  echo "+ $SVCTRACE $*" >"$WORK/cmdline"
  # A background job of a non-interactive shell starts with SIGINT ignored, and an ignored SIGINT is
  # discarded before a signalfd/sigwait could see it. Reset it so SIGINT behaves like a user's Ctrl-C.
  (
    trap - INT QUIT
    exec "$SVCTRACE" "$@"
  ) >"$OUT" 2>"$ERR" {E2E_OUT}>&- &
  SVC_PID=$!
  SVC_RC=""
  local i
  for ((i = 0; i < 400; i++)); do # 400 x 50 ms = 20 s
    # (not `jq -e`: it exits 0 on empty input)
    if [[ -n $(jq -cR 'fromjson? | select(.type == "ready")' "$OUT" 2>/dev/null) ]]; then
      local first
      first=$(head -n 1 "$OUT")
      assert_json "$first" '.type == "ready"' "the ready line is the first line of stdout"
      assert_json "$first" '(.hooks | type) == "array" and (.hooks | length) > 0' "ready line lists attached hooks"
      return 0
    fi
    if ! kill -0 "$SVC_PID" 2>/dev/null; then
      local rc=0
      wait "$SVC_PID" || rc=$?
      SVC_PID=""
      SVC_RC=$rc
      fail "svctrace exited (status $rc) before printing its ready line"
    fi
    sleep 0.05
  done
  fail "svctrace printed no ready line within 20 s"
}

# stop_svctrace: SIGINT, up to 10 s to exit, SIGKILL as a last resort. Sets SVC_RC.
stop_svctrace() {
  [[ -n $SVC_PID ]] || return 0
  local i rc=0
  kill -INT "$SVC_PID" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    kill -0 "$SVC_PID" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$SVC_PID" 2>/dev/null; then
    echo "svctrace did not exit within 10 s of SIGINT; sending SIGKILL" >>"$ERR"
    kill -KILL "$SVC_PID" 2>/dev/null || true
  fi
  wait "$SVC_PID" || rc=$?
  SVC_LAST_PID=$SVC_PID
  SVC_PID=""
  SVC_RC=$rc
}

# wait_for_line JQ_FILTER TIMEOUT_SEC: polls svctrace's NDJSON stdout until a line matches the filter
# (used as `select(FILTER)`); prints the first match and returns 0, or returns 1 on timeout.
# Partial (still being written) lines are skipped by `fromjson?`.
# wait_for_count JQ_FILTER N TIMEOUT_S: waits until N lines of svctrace's stdout match.
wait_for_count() {
  local filter=$1 want=$2 timeout=$3 i
  for ((i = 0; i < timeout * 20; i++)); do
    (($(jq -cR "fromjson? | select($filter)" "$OUT" 2>/dev/null | wc -l) >= want)) && return 0
    sleep 0.05
  done
  return 1
}

# assert_detached: after svctrace exits, none of its BPF programs is left in the kernel: none held by
# the svctrace process we ran, and none held by no process at all (pinned or leaked). Programs of other
# svctrace instances running at the same time (held by their own processes) are not ours to judge.
# The kernel frees programs asynchronously (RCU, deferred work) after their last fd closes, so this
# polls for up to 3 s before calling them leaked.
assert_detached() {
  local left i
  for ((i = 0; i < 60; i++)); do
    left=$(_svctrace_programs_left)
    [[ -z $left ]] && return 0
    sleep 0.05
  done
  fail "BPF programs still loaded 3 s after svctrace exited: $left"
}
_svctrace_programs_left() {
  bpftool -j prog show 2>/dev/null |
    jq -r --argjson pid "${SVC_LAST_PID:-0}" '.[]
      | select(.name | test("^(route_tp_btf|route_raw_tp|route_fexit|nat_local_out|nat_post_routin|nat_pre_routing|nat_dev_queue|tcp_state|tcp_retransmit|drop_kfree_skb)$"))
      | select(.pids == null or any(.pids[]; .pid == $pid)) | .name' || true
}

wait_for_line() {
  local filter=$1 timeout=$2 i line
  for ((i = 0; i < timeout * 20; i++)); do
    line=$(jq -cR "fromjson? | select($filter)" "$OUT" 2>/dev/null | head -n 1 || true)
    if [[ -n $line ]]; then
      echo "$line"
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# --- assertions -------------------------------------------------------------------------------------

# assert_json JSON FILTER WHAT: fails unless `jq -e FILTER` is true for JSON.
assert_json() {
  local json=$1 filter=$2 what=$3
  jq -e "$filter" >/dev/null 2>&1 <<<"$json" ||
    fail "$what: expected jq '$filter' to hold; actual: $(jq -c . <<<"$json" 2>/dev/null || echo "$json")"
}

# assert_eq ACTUAL EXPECTED WHAT
assert_eq() {
  [[ $1 == "$2" ]] || fail "$3: expected '$2', actual '$1'"
}

# assert_exit_ok: svctrace must have exited 0 or 3 (3 = a diagnosis was made).
# assert_exit CODE: svctrace's documented exit status (0 nothing found, 3 a diagnosis was made).
assert_exit() {
  [[ $SVC_RC == "$1" ]] || fail "svctrace exit status: expected $1, actual '$SVC_RC'"
}

# assert_ndjson: every stdout line is a JSON object with a "type".
assert_ndjson() {
  local bad
  bad=$(jq -cR 'fromjson? // "BAD" | select(type != "object" or (.type | type) != "string")' "$OUT" | head -n 1 || true)
  [[ -z $bad ]] || fail "stdout has a line that is not a JSON object with a \"type\" (first offender: $bad)"
}

# assert_report: the report file exists and is one JSON object.
assert_report() {
  [[ -s $REPORT ]] || fail "report $REPORT missing or empty"
  jq -e 'type == "object"' "$REPORT" >/dev/null 2>&1 || fail "report $REPORT is not a JSON object: $(head -c 300 "$REPORT")"
}

# assert_report_json FILTER WHAT: fails unless `jq -e FILTER` holds on the report; shows the report.
assert_report_json() {
  jq -e "$1" "$REPORT" >/dev/null 2>&1 ||
    fail "$2: expected jq '$1' to hold on the report; actual report: $(jq -c . "$REPORT" | head -c 2000)"
}
