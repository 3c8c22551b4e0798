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
# Unique per test run: namespaces e2e<pid>-node, -api, -gw. E2E_PREFIX changes the e2e part (a
# helper running tests beside others' names its own).
PREFIX=${E2E_PREFIX:-e2e}$$
NODE=$PREFIX-node
CIDR=172.24.0.0/13
WORK=$(mktemp -d "/tmp/svctrace-$TEST_NAME.XXXXXX")
OUT=$WORK/stdout.ndjson # svctrace --json stdout
ERR=$WORK/stderr
REPORT=$WORK/report.json
SVC_PID=""
SVC_RC=""
SVC_WRAPPER=()   # a command svctrace is started under (e.g. unshare ... sh -c '...; exec "$@"'), or none
SVC_BPF_IDS=""   # "prog ID" / "link ID" lines: the BPF objects the running svctrace holds
_BPF_BEFORE=""   # "prog ID NAME" / "link ID" lines: what was in the kernel before it started
# Names of svctrace's programs as the kernel keeps them (15 characters at most).
SVCTRACE_PROG_NAMES='^(route_tp_btf|route_tp_btf_pr|route_raw_tp|route_fexit|route_fexit_pr|nat_local_out|nat_post_routin|nat_pre_routing|nat_dev_queue|nat_hook_slow|tcp_state|tcp_state_pr|tcp_retransmit|tcp_retrans_pr|drop_kfree_skb)$'
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

# skip REASON: this kernel cannot run the test (a missing feature, named in REASON). run.sh counts it
# as skipped, never as passed.
skip() {
  _REPORTED=1
  echo "SKIP $TEST_NAME: $*" >&"$E2E_OUT"
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

# What a test adds to the EXIT trap (a tmux session, a cgroup, background processes), run before the
# lab goes down, whether the test passed or failed. A test must not set its own EXIT trap: under
# `set -e` one that fails part-way never reaches _cleanup, and the lab is left behind.
_ON_EXIT=()
on_exit() { _ON_EXIT+=("$*"); }
# Background processes of the test's own (a second svctrace, a replier in a lab namespace): a process
# keeps a deleted namespace alive, so `lab down` alone does not stop it.
kill_on_exit() { on_exit kill -TERM "$@"; }

_cleanup() {
  local rc=$?
  set +e
  [[ -n $SVC_PID ]] && stop_svctrace >/dev/null 2>&1
  local cmd
  for cmd in "${_ON_EXIT[@]}"; do eval "$cmd" 2>/dev/null; done
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

# pod_cgroup NAME POD_UID CONTAINER_ID: makes a cgroup laid out as kubelet's cgroupfs driver lays out
# a pod's container (kubepods-NAME/besteffort/pod<uid>/<id>; a v1 pids hierarchy where there is one,
# else the unified one), removed when the test exits, and sets POD_CGROUP to its path.
pod_cgroup() {
  local root="" r
  for r in /sys/fs/cgroup/pids /sys/fs/cgroup/unified /sys/fs/cgroup; do
    [[ -e $r/cgroup.procs ]] && { root=$r; break; }
  done
  [[ -n $root ]] || fail "no writable cgroup hierarchy found under /sys/fs/cgroup"
  POD_CGROUP=$root/kubepods-$1/besteffort/pod$2/$3
  mkdir -p "$POD_CGROUP" || fail "cannot create the container's cgroup $POD_CGROUP"
  on_exit rmdir "$POD_CGROUP" "${POD_CGROUP%/*}" "${POD_CGROUP%/*/*}" "${POD_CGROUP%/*/*/*}"
}

# connect_in_cgroup CGROUP: one bounded connect to the lab's service from the node namespace by a
# client that joins CGROUP first, as a containerised client would; returns nc's status.
connect_in_cgroup() {
  bash -c 'echo $$ >"$1/cgroup.procs" && exec ip netns exec "$2" nc -z -w 3 172.24.0.1 443' _ "$1" "$NODE" \
    >/dev/null 2>&1 {E2E_OUT}>&-
}

# --- svctrace -------------------------------------------------------------------------------------

# start_svctrace ARGS...: runs svctrace in the background and returns once it printed its ready line
# (the probes are attached). Fails the test if it dies or is not ready within 20 s.
start_svctrace() {
  [[ -x $SVCTRACE ]] || fail "svctrace binary not found or not executable: $SVCTRACE"
  echo "+ ${SVC_WRAPPER[*]} $SVCTRACE $*" >"$WORK/cmdline"
  _BPF_BEFORE=$(_bpf_ids_existing)
  # A background job of a non-interactive shell starts with SIGINT ignored, and an ignored SIGINT is
  # discarded before a signalfd/sigwait could see it. Reset it so SIGINT behaves like a user's Ctrl-C.
  (
    trap - INT QUIT
    exec "${SVC_WRAPPER[@]}" "$SVCTRACE" "$@"
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
      # What this svctrace holds in the kernel, for assert_detached once it has exited.
      SVC_BPF_IDS=$(_bpf_ids_held "$SVC_PID")
      grep -q '^prog ' <<<"$SVC_BPF_IDS" && grep -q '^link ' <<<"$SVC_BPF_IDS" ||
        fail "svctrace is ready but /proc/$SVC_PID/fdinfo shows no BPF program and link of it: ${SVC_BPF_IDS:-nothing}"
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

# before_netfilter_links: true when the running svctrace's NAT role is served by the net_dev_queue
# fallback (kernels before 6.4 that refuse fexit, or --nat-hook net_dev_queue). It meets a
# packet at the driver queue: after a forwarded flow's route decision (which PRE_ROUTING's program
# announces), and never for one whose next hop does not resolve. Tests skip or adapt what needs more,
# with BEFORE_NETFILTER_LINKS as the reason.
BEFORE_NETFILTER_LINKS="no BPF netfilter links before 6.4: the net_dev_queue fallback meets packets at the driver queue"
before_netfilter_links() {
  head -n 1 "$OUT" | jq -e 'any(.hooks[]; .hook == "tp_btf/net_dev_queue")' >/dev/null
}

# kernel_before VERSION: true when the running kernel is older than VERSION (e.g. 5.17).
kernel_before() {
  [[ $(printf '%s\n' "$1" "$(uname -r)" | sort -V | head -n 1) != "$1" ]]
}

# run_check RC ARGS...: `svctrace check ARGS` to completion, stdout to $OUT and stderr to $ERR; fails
# the test unless it exits RC.
run_check() {
  local want=$1 rc=0
  shift
  "$SVCTRACE" check "$@" >"$OUT" 2>"$ERR" {E2E_OUT}>&- || rc=$?
  [[ $rc == "$want" ]] || fail "svctrace check $*: exit $rc, expected $want; stdout: $(head -c 3000 "$OUT")"
}

# stop_svctrace [SIGNAL]: sends SIGNAL (default INT), gives svctrace up to 10 s to exit, SIGKILL as a
# last resort. Sets SVC_RC.
stop_svctrace() {
  [[ -n $SVC_PID ]] || return 0
  local sig=${1:-INT} i rc=0
  kill -"$sig" "$SVC_PID" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    kill -0 "$SVC_PID" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$SVC_PID" 2>/dev/null; then
    echo "svctrace did not exit within 10 s of SIG$sig; sending SIGKILL" >>"$ERR"
    kill -KILL "$SVC_PID" 2>/dev/null || true
  fi
  wait "$SVC_PID" || rc=$?
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

# assert_detached: after svctrace exits, nothing of it is left in the kernel. Two comparisons:
# - every BPF program and link its process held while it ran (ids read from /proc/PID/fdinfo when it
#   was ready: Debian's bpftool 7.1 cannot name the process holding an object) is gone;
# - of the programs and links that exist now and did not before it started, none is an svctrace
#   program or a link that no process holds (pinned or leaked). Those of other svctrace instances
#   running at the same time are held by their processes and not ours to judge.
# The kernel frees programs and links asynchronously after their last fd closes, so this polls for up
# to 3 s before calling anything leaked.
assert_detached() {
  local left deadline=$((SECONDS + 3))
  while :; do
    left=$(_bpf_left_behind)
    [[ -z $left ]] && return 0
    ((SECONDS < deadline)) || break
    sleep 0.05
  done
  fail "3 s after svctrace exited, still in the kernel: $(paste -sd ';' <<<"$left")"
}

# _bpf_ids_existing: every program ("prog ID NAME") and link ("link ID") in the kernel.
_bpf_ids_existing() {
  bpftool -j prog show 2>/dev/null | jq -r '.[] | "prog \(.id) \(.name // "")"'
  bpftool -j link show 2>/dev/null | jq -r '.[] | "link \(.id)"'
}

# _bpf_ids_held [PID...]: "prog ID" / "link ID" for each BPF fd of those processes (default: all); a
# link's fdinfo names its program too, so a program held through a link counts as held.
_bpf_ids_held() {
  local p pids=("$@")
  ((${#pids[@]})) || mapfile -t pids < <(ls /proc | grep -E '^[0-9]+$')
  for p in "${pids[@]}"; do printf '%s\n' /proc/"$p"/fdinfo/*; done |
    { xargs -r grep -hsE '^(prog|link)_id:' || true; } | awk '{ sub(/_id:/, "", $1); print $1, $2 }' | sort -u
}

_bpf_left_behind() {
  local held
  held=$(_bpf_ids_held)
  # Three lists, then what exists now; each list ends with a "--" line.
  printf '%s\n--\n' "$SVC_BPF_IDS" "$_BPF_BEFORE" "$held" | cat - <(_bpf_ids_existing) |
    awk -v names="$SVCTRACE_PROG_NAMES" '
      $0 == "--" { list++; next }
      list == 0 { ours[$1 " " $2] = 1; next }
      list == 1 { before[$1 " " $2] = 1; next }
      list == 2 { held[$1 " " $2] = 1; next }
      {
        id = $1 " " $2
        if (id in ours) print $0 " (held by svctrace while it ran)"
        else if (!(id in before) && !(id in held) && ($1 == "link" || $3 ~ names)) print $0 " (new, held by no process)"
      }'
}

# wait_svctrace_exit SECONDS: waits for svctrace to stop by itself, then reaps it (sets SVC_RC);
# returns 1, leaving it running, if it has not within SECONDS.
wait_svctrace_exit() {
  local i
  for ((i = 0; i < $1 * 20; i++)); do
    if ! kill -0 "$SVC_PID" 2>/dev/null; then
      stop_svctrace
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# wait_stderr TEXT SECONDS: waits until svctrace's stderr says TEXT.
wait_stderr() {
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    grep -qF -- "$1" "$ERR" && return 0
    sleep 0.05
  done
  return 1
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

# --- a healthy service beside the incident (test_busy, test_pcap) -----------------------------------

CONNLOAD=${CONNLOAD:-$(dirname "$SVCTRACE")/bench/connload}

# healthy_service_up: on the lab that is up, 172.24.0.2:80 DNAT'd to a server on enslf1's network
# (10.141.13.1:7443 in the gw namespace, which the node's source reaches): every connect to it is
# answered. The server (bench/connload.cpp, built beside svctrace) stops when the test exits.
healthy_service_up() {
  local i
  [[ -x $CONNLOAD ]] || fail "connload (bench/connload.cpp) is not built beside svctrace: $CONNLOAD"
  ip netns exec "$NODE" iptables -t nat -A OUTPUT -d 172.24.0.2/32 -p tcp --dport 80 -j DNAT --to-destination 10.141.13.1:7443
  ip netns exec "$PREFIX-gw" "$CONNLOAD" server --listen 10.141.13.1:7443 --seconds 300 >"$WORK/server.out" 2>&1 {E2E_OUT}>&- &
  kill_on_exit $!
  for ((i = 0; i < 200; i++)); do grep -q '^listening' "$WORK/server.out" && break; sleep 0.05; done
  grep -q '^listening' "$WORK/server.out" || fail "the healthy service's server did not listen: $(cat "$WORK/server.out")"
}

# --- faults while tracing (test_fault_*) ------------------------------------------------------------

# incident_then_healthy PHASE N [M]: the incident's two kinds of flow, as a fault test drives them
# before and after its fault: a connect through the broken lab, which svctrace must diagnose
# asymmetric_source, then the fix and a connect that it must call answered. N: how many diagnoses
# svctrace must have printed by then, counting the earlier phases'; M (default N): how many answered
# outcomes. Leaves the lab fixed.
incident_then_healthy() {
  local phase=$1 n=$2 m=${3:-$2} result
  lab unfix >/dev/null
  result=$(lab_connect 3) && fail "$phase: connect through the broken lab should fail, got: $result"
  wait_for_count '.type == "diagnosis" and .verdict == "asymmetric_source"' "$n" 20 ||
    fail "$phase: no asymmetric_source diagnosis #$n within 20 s of the failed connect"
  lab fix >/dev/null
  result=$(lab_connect 3) || fail "$phase: connect through the fixed lab should succeed, got: $result"
  wait_for_count '.type == "outcome" and .state == "answered"' "$m" 20 ||
    fail "$phase: no answered outcome #$m within 20 s of the connect that succeeded"
}

# assert_fault_survived EXIT: svctrace has exited with the documented status EXIT, left nothing in the
# kernel, printed only JSON lines, and wrote a parseable report in which no flow is left undecided.
assert_fault_survived() {
  assert_exit "$1"
  assert_detached
  assert_ndjson
  assert_report
  assert_report_json 'all(.flows[]; .state != "pending")' "no flow is left pending in the report"
}
