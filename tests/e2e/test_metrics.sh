#!/usr/bin/env bash
# --metrics: Prometheus metrics over HTTP while svctrace traces the incident in the lab's node namespace.
# The listener is in the namespace svctrace was started in (here the root one, on loopback), not in
# the traced one; it answers as soon as svctrace is ready; the failing connect shows up as a diagnosis
# and unanswered SYNs for its service and backend; a port in use or an address that is not local is
# exit 1 with one line; nothing listens once svctrace has exited.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || fail "curl not installed"
# Debian's python3 with python3-prometheus-client (scripts/install-deps.sh), whatever python3 PATH finds first.
/usr/bin/python3 -c 'import prometheus_client.parser' 2>/dev/null ||
  fail "/usr/bin/python3 cannot import prometheus_client (python3-prometheus-client)"

# A loopback port nothing listens on: random in 20000..32767 (below the kernel's ephemeral range, so no
# outgoing connection takes it meanwhile), checked with ss, a few tries.
free_port() {
  local p i
  for ((i = 0; i < 20; i++)); do
    p=$((20000 + RANDOM % 12768))
    [[ -z $(ss -Htln "sport = :$p") ]] && { echo "$p"; return 0; }
  done
  return 1
}

# scrape: GET /metrics with a real HTTP client, straight to loopback; body in $WORK/scrape.
scrape() {
  curl -sS --noproxy '*' --max-time 5 -D "$WORK/headers" -o "$WORK/scrape" "http://127.0.0.1:$PORT/metrics"
}

# sample NAME [LABEL=VALUE...]: the value of that sample in the last scrape, as the Prometheus Python
# client's parser reads the text (which fails on a malformed exposition); nothing if there is none.
sample() {
  /usr/bin/python3 - "$WORK/scrape" "$@" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families

path, name, *labels = sys.argv[1:]
want = dict(label.split("=", 1) for label in labels)
for family in text_string_to_metric_families(open(path).read()):
    for s in family.samples:
        if s.name == name and s.labels == want:
            print(int(s.value) if s.value == int(s.value) else s.value)
EOF
}

# wait_for_sample TEST TIMEOUT_S NAME [LABEL=VALUE...]: scrapes until the sample's value passes
# `[[ VALUE TEST ]]`-style arithmetic test (e.g. "-gt 0"); prints the value.
wait_for_sample() {
  local test=$1 timeout=$2 i v=""
  shift 2
  for ((i = 0; i < timeout * 10; i++)); do
    scrape && v=$(sample "$@")
    # shellcheck disable=SC2086  # test is an operator and an operand
    if [[ -n $v ]] && [ "$v" $test ]; then
      echo "$v"
      return 0
    fi
    sleep 0.1
  done
  fail "$* never became $test within $timeout s; last value: '${v:-none}'; last scrape: $(head -c 3000 "$WORK/scrape")"
}

# expect_error CODE TEXT ARGS...: svctrace ARGS exits CODE with one line on stderr containing TEXT.
expect_error() {
  local want_rc=$1 want_text=$2 rc=0 err
  shift 2
  err=$(timeout 20 "$SVCTRACE" "$@" 2>&1 >/dev/null) || rc=$?
  [[ $rc == "$want_rc" ]] || fail "svctrace $*: exit $rc, expected $want_rc (stderr: $err)"
  [[ $(wc -l <<<"$err") == 1 ]] || fail "svctrace $*: expected one line on stderr, got: $err"
  [[ $err == *"$want_text"* ]] || fail "svctrace $*: stderr '$err' lacks '$want_text'"
}

PORT=$(free_port) || fail "no free loopback port found in 20 tries"

# Unparsable: a usage error.
expect_error 2 "--metrics: port \"99999\" is not a number in 1..65535" --cidr "$CIDR" --metrics 127.0.0.1:99999

lab up >/dev/null
# Bound in the namespace svctrace started in: an address of the traced namespace is not local there.
expect_error 1 "cannot listen on 10.0.0.12:$PORT: Cannot assign requested address (10.0.0.12 is not an address of" \
  --netns "$NODE" --cidr "$CIDR" --metrics "10.0.0.12:$PORT" --duration 5

# --duration is only a safety net against an orphaned tracer; the test stops it with SIGINT.
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --duration 60 --metrics "127.0.0.1:$PORT"
ready=$(head -n 1 "$OUT")

# Serving as soon as it is ready, from the root namespace, and not in the traced one.
scrape || fail "no answer from http://127.0.0.1:$PORT/metrics once svctrace was ready"
grep -qi '^content-type: text/plain; version=0.0.4' "$WORK/headers" ||
  fail "Content-Type is not text/plain; version=0.0.4: $(cat "$WORK/headers")"
[[ -n $(ss -Htln "src 127.0.0.1 and sport = :$PORT") ]] || fail "nothing listens on 127.0.0.1:$PORT in the root namespace"
[[ -z $(ip netns exec "$NODE" ss -Htln "sport = :$PORT") ]] || fail "the listener is in the traced namespace $NODE"
assert_eq "$(sample svctrace_up)" 1 "svctrace_up"
assert_eq "$(sample svctrace_build_info "version=$("$SVCTRACE" --version | cut -d' ' -f2)")" 1 "svctrace_build_info"
# Every family's HELP and TYPE once.
dup=$(grep -E '^# (HELP|TYPE) ' "$WORK/scrape" | cut -d' ' -f2,3 | sort | uniq -d)
[[ -z $dup ]] || fail "HELP/TYPE lines repeated: $dup"
# A hook_live sample per hook of the ready line: 1 for the live ones, 0 for the refused ones.
while read -r live role hook; do
  assert_eq "$(sample svctrace_hook_live "role=$role" "hook=$hook")" "$live" "svctrace_hook_live{role=\"$role\",hook=\"$hook\"}"
done < <(jq -r '(.hooks[] | "1 \(.role) \(.hook)"), (.refused[] | "0 \(.role) \(.hook)")' <<<"$ready")
[[ $(grep -c '^svctrace_hook_live{' "$WORK/scrape") == $(jq '(.hooks | length) + (.refused | length)' <<<"$ready") ]] ||
  fail "svctrace_hook_live has samples for hooks the ready line does not name: $(grep '^svctrace_hook_live' "$WORK/scrape")"

# Another svctrace on the same port is refused (no SO_REUSEPORT sharing), exit 1, one line.
expect_error 1 "cannot listen on 127.0.0.1:$PORT: Address already in use" \
  --cidr "$CIDR" --metrics "127.0.0.1:$PORT" --duration 5

result=$(lab_connect 3) && fail "connect through the broken lab should fail, got: $result"
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis line within 10 s of the failed connect"
assert_json "$diag" '.verdict == "asymmetric_source"' "verdict"
syns=$(jq '.evidence.syns' <<<"$diag")

svc=(service=172.24.0.1:443 backend=10.0.0.8:6443 proto=tcp)
wait_for_sample "-eq 1" 10 svctrace_diagnoses_total verdict=asymmetric_source "${svc[@]}" >/dev/null
wait_for_sample "-eq $syns" 10 svctrace_unanswered_syns_total "${svc[@]}" >/dev/null
assert_eq "$(sample svctrace_flows_total verdict=asymmetric_source)" 1 "svctrace_flows_total{verdict=asymmetric_source}"
# The stats are read once a second: the events of the connect arrive within a few.
wait_for_sample "-gt 0" 10 svctrace_events_total >/dev/null
assert_eq "$(sample svctrace_ringbuf_drops_total)" 0 "svctrace_ringbuf_drops_total"
# The unanswered flow is still in the kernel's table of flows awaiting their reply; nothing evicted it.
awaiting=$(sample svctrace_bpf_flows_awaiting_reply)
[[ $awaiting -ge 1 ]] || fail "svctrace_bpf_flows_awaiting_reply: expected at least 1, actual '$awaiting'"
assert_eq "$(sample svctrace_bpf_flows_evicted_total)" 0 "svctrace_bpf_flows_evicted_total"
assert_eq "$(sample svctrace_flows_evicted_total)" 0 "svctrace_flows_evicted_total"
tracked=$(sample svctrace_flows_tracked)
[[ $tracked -ge 1 ]] || fail "svctrace_flows_tracked: expected at least 1, actual '$tracked'"

stop_svctrace
assert_exit 3
assert_detached
# The listener went with it.
[[ -z $(ss -Htln "sport = :$PORT") ]] || fail "something still listens on port $PORT after svctrace exited"
scrape 2>/dev/null && fail "http://127.0.0.1:$PORT/metrics still answers after svctrace exited"
pass
