#!/usr/bin/env bash
# Re-creates the recordings in this directory: each lab scenario of the end-to-end tests, traced by a
# live svctrace with --record, the capture kept as NAME.ndjson. They are the inputs of
# scripts/compare-replay.sh, which replays them with two builds and wants the same bytes out.
#
# Usage (root; Linux >= 6.4 with BTF; jq, nc, socat, iptables as for the e2e tests):
#   tests/recordings/make.sh [SCENARIO...]      # default: all of them
#   SVCTRACE=/path/to/svctrace tests/recordings/make.sh incident
# Scenarios: incident fixed forwarded udp rpfilter policy grouping
#
# Each scenario builds the lab in network namespaces of its own (scripts/lab.sh --prefix rec<PID>),
# and every packet starts inside one of them, towards another; the namespaces and svctrace go away on
# exit, however it ends. After refreshing, update README.md here with the commit of the svctrace used.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LAB=$ROOT/scripts/lab.sh
SVCTRACE=${SVCTRACE:-$ROOT/build/svctrace}
PREFIX=rec$$
NODE=$PREFIX-node
CIDR=172.24.0.0/13
ALL=(incident fixed forwarded udp rpfilter policy grouping)

((EUID == 0)) || { echo "make.sh: must run as root (lab namespaces, BPF)" >&2; exit 1; }
[[ -x $SVCTRACE ]] || { echo "make.sh: no svctrace at $SVCTRACE (build it, or set SVCTRACE)" >&2; exit 1; }
for tool in jq nc socat iptables; do
  command -v "$tool" >/dev/null || { echo "make.sh: $tool is not installed" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/svctrace-recordings.XXXXXX)
SVC_PID=""
BG_PIDS=()
cleanup() {
  local rc=$?
  set +e
  [[ -n $SVC_PID ]] && { kill -INT "$SVC_PID"; wait "$SVC_PID"; } 2>/dev/null
  ((${#BG_PIDS[@]})) && kill "${BG_PIDS[@]}" 2>/dev/null
  "$LAB" down --prefix "$PREFIX" >/dev/null 2>&1
  if ((rc == 0)); then rm -rf "$WORK"; else echo "make.sh: failed (status $rc); files kept in $WORK" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() { echo "make.sh: $scenario: $*" >&2; [[ -s $WORK/err ]] && sed 's/^/  svctrace: /' "$WORK/err" >&2; exit 1; }
lab() { "$LAB" "$@" --prefix "$PREFIX"; }
node() { ip netns exec "$NODE" "$@"; }

# start ARGS...: svctrace on the lab's node namespace, recording to $WORK/rec.ndjson; returns once ready.
start() {
  rm -f "$WORK/rec.ndjson" "$WORK/out" "$WORK/err"
  (
    trap - INT QUIT
    exec "$SVCTRACE" --netns "$NODE" --cidr "$CIDR" --json --record "$WORK/rec.ndjson" --duration 120 "$@"
  ) >"$WORK/out" 2>"$WORK/err" &
  SVC_PID=$!
  local i
  for ((i = 0; i < 400; i++)); do
    [[ -n $(jq -cR 'fromjson? | select(.type == "ready")' "$WORK/out" 2>/dev/null) ]] && return 0
    kill -0 "$SVC_PID" 2>/dev/null || die "svctrace exited before it was ready"
    sleep 0.05
  done
  die "svctrace was not ready within 20 s"
}

# wait_for N FILTER: until N lines of svctrace's stdout match the jq FILTER (10 s at most).
wait_for() {
  local want=$1 filter=$2 i
  for ((i = 0; i < 200; i++)); do
    (($(jq -cR "fromjson? | select($filter)" "$WORK/out" 2>/dev/null | wc -l) >= want)) && return 0
    sleep 0.05
  done
  die "no $want line(s) of $filter within 10 s"
}

# stop NAME: SIGINT, then keeps the capture as NAME.ndjson here.
stop() {
  local rc=0
  kill -INT "$SVC_PID"
  wait "$SVC_PID" || rc=$?
  SVC_PID=""
  ((rc == 0 || rc == 3)) || die "svctrace exited $rc"
  [[ -s $WORK/rec.ndjson ]] || die "no recording written"
  jq -e 'select(.type == "end")' "$WORK/rec.ndjson" >/dev/null || die "the recording has no end line"
  # The capture must replay to what the live run printed (flows, outcomes, diagnoses, changes).
  local replayed=0
  "$SVCTRACE" replay "$WORK/rec.ndjson" --json >"$WORK/replay" 2>"$WORK/replay.err" || replayed=$?
  ((replayed == rc)) || die "the replay exited $replayed, the live run $rc: $(head -c 500 "$WORK/replay.err")"
  lines() { jq -cS 'select(.type == "flow" or .type == "outcome" or .type == "diagnosis" or .type == "change")' "$1"; }
  [[ $(lines "$WORK/out") == "$(lines "$WORK/replay")" ]] ||
    die "the replay differs from the live run: $(diff <(lines "$WORK/out") <(lines "$WORK/replay") | head -n 6)"
  mv "$WORK/rec.ndjson" "$HERE/$1.ndjson"
  printf '%-17s %6d bytes  exit %d  %s\n' "$1.ndjson" "$(stat -c %s "$HERE/$1.ndjson")" "$rc" \
    "$(jq -r 'select(.type == "diagnosis" or .type == "outcome") | .verdict // .state' "$WORK/out" | sort | uniq -c |
      awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')"
}

# The incident: asymmetric_source; then the printed fix, and the same connect answered.
incident() {
  lab up >/dev/null
  start
  lab connect >/dev/null
  wait_for 1 '.type == "diagnosis"'
  lab fix >/dev/null
  wait_for 1 '.type == "change"'
  lab connect >/dev/null
  wait_for 1 '.type == "outcome" and .state == "answered"'
  stop incident
}

# The fixed lab: two connects answered; and one to a service whose backend port has no listener
# (172.24.0.2:443 -> 10.0.0.8:6444): refused.
fixed() {
  lab up >/dev/null
  lab fix >/dev/null
  node iptables -t nat -A OUTPUT -d 172.24.0.2/32 -p tcp --dport 443 -j DNAT --to-destination 10.0.0.8:6444
  start
  lab connect >/dev/null
  lab connect >/dev/null
  wait_for 2 '.type == "outcome" and .state == "answered"'
  node nc -z -w 2 172.24.0.2 443 >/dev/null 2>&1 || true
  wait_for 1 '.type == "diagnosis" and .verdict == "refused"'
  stop fixed
}

# A pod behind the node: forwarded without SNAT, unanswered; then masqueraded, answered.
forwarded() {
  lab up >/dev/null
  lab pod-up >/dev/null
  start
  lab pod-connect >/dev/null
  wait_for 1 '.type == "diagnosis"'
  lab masquerade >/dev/null
  lab pod-connect >/dev/null
  wait_for 1 '.type == "outcome" and .state == "answered"'
  stop forwarded
}

# A UDP query: asymmetric_source by the timeout; after the fix, answered.
udp() {
  lab up >/dev/null
  start --unanswered-after 1000
  lab udp --timeout 2 >/dev/null
  wait_for 1 '.type == "diagnosis"'
  lab fix >/dev/null
  lab udp --timeout 2 >/dev/null
  wait_for 1 '.type == "outcome" and .state == "answered"'
  stop udp
}

# A way back through the gw and strict rp_filter on the node: reply_dropped (IP_RPFILTER).
rpfilter() {
  lab up >/dev/null
  lab rpfilter >/dev/null
  start
  lab connect >/dev/null
  wait_for 1 '.type == "diagnosis"'
  stop rpfilter
}

# Policy routing: the source picked by a route of table 200, chosen by rule 1000.
policy() {
  lab up >/dev/null
  node ip route add 172.24.0.0/13 via 10.141.13.1 dev enslf1 src 10.141.13.182 table 200
  node ip rule add to 172.24.0.0/13 lookup 200 priority 1000
  start
  lab connect --timeout 2 >/dev/null
  wait_for 1 '.type == "diagnosis"'
  stop policy
}

# Three connects at once: one group, counts 1, 2, 3.
grouping() {
  lab up >/dev/null
  start
  local i
  BG_PIDS=()
  for i in 1 2 3; do
    node nc -z -w 2 172.24.0.1 443 >/dev/null 2>&1 &
    BG_PIDS+=($!)
  done
  wait_for 3 '.type == "diagnosis"'
  wait "${BG_PIDS[@]}" || true
  BG_PIDS=()
  stop grouping
}

scenarios=("$@")
((${#scenarios[@]})) || scenarios=("${ALL[@]}")
for scenario in "${scenarios[@]}"; do
  [[ " ${ALL[*]} " == *" $scenario "* ]] || { echo "make.sh: unknown scenario '$scenario' (${ALL[*]})" >&2; exit 2; }
done
echo "svctrace: $SVCTRACE ($("$SVCTRACE" --version)); lab prefix $PREFIX"
for scenario in "${scenarios[@]}"; do
  "$scenario"
  lab down >/dev/null
done
