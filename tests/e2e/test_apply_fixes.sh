#!/usr/bin/env bash
# e2e-timeout: 600
# Every fix svctrace prints in an e2e scenario, applied exactly as printed, leaves every service of
# that lab working. One lab per scenario (the lab variants the other tests diagnose, each with every
# service it has): `svctrace check` first, with no traffic, then svctrace tracing one try of each
# service. Each fix either printed (check's `fix (...)` lines, the diagnoses' fix) is run in the lab's
# node namespace, and then every service is tried 8 times from inside the lab, each try of which must
# work. A scenario's lab must be broken before (a fix that has nothing to fix proves nothing), and
# svctrace must print a fix for it, proven by the kernel in a scratch namespace (run as root, it can).
# shellcheck disable=SC2317  # the setup_ functions are called by name
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=two_endpoints.sh
source "$(dirname "$0")/two_endpoints.sh"
# shellcheck source-path=SCRIPTDIR source=kube_proxy.sh
source "$(dirname "$0")/kube_proxy.sh"

command -v nft >/dev/null || fail "nft is not installed (scripts/install-deps.sh installs nftables)"

# The lab's connect commands (scripts/lab.sh) and the service each tries, as a diagnosis names it.
declare -A SERVICE_OF=(
  [connect]="172.24.0.1 443" [pod-connect]="172.24.0.1 443" [vrf-connect]="172.24.0.1 443"
  [udp]="172.24.0.10 53" [vrf-udp]="172.24.0.10 53"
  [connect6]="fd00:10:96::1 443" [second-connect]="172.24.0.50 80"
)

# Each scenario's lab: setup_NAME brings it up and sets SERVICES (the connect commands of every
# service it has) and CIDRS (the service CIDRs svctrace is given).
setup_incident() { lab up >/dev/null; }
setup_incident_nft() { lab up --nat nft >/dev/null; }
setup_rpfilter() { lab up >/dev/null; lab rpfilter >/dev/null; }
setup_policy() { lab up >/dev/null; lab policy >/dev/null; }
setup_l3mdev() { lab up >/dev/null; ip netns exec "$NODE" ip rule add l3mdev pref 1000; }
setup_ipv6() {
  lab up >/dev/null
  lab ipv6 >/dev/null
  SERVICES+=(connect6)
  CIDRS+=(fd00:10:96::/112)
}
setup_pods() {
  lab up >/dev/null
  lab pod-up >/dev/null
  lab masquerade >/dev/null
  SERVICES+=(pod-connect)
}
setup_second_service() { lab up >/dev/null; lab second-service >/dev/null; SERVICES+=(second-connect); }
setup_second_service_nft() { lab up --nat nft >/dev/null; lab second-service >/dev/null; SERVICES+=(second-connect); }
setup_two_endpoints() { two_endpoint_lab enslf0; }
setup_two_endpoints_nft() { two_endpoint_lab enslf0 nft; }
# kube-proxy's masquerade with a pod CIDR that holds the node's source (test_check_snat): the node's
# connections are not masqueraded. Its rules are the whole NAT table: the API service only.
setup_masquerade_pod_cidr() {
  lab up >/dev/null
  kube_proxy_iptables 10.0.0.0/8 | ip netns exec "$NODE" iptables-restore
  SERVICES=(connect)
}
setup_masquerade_pod_cidr_nft() {
  lab up >/dev/null
  ip netns exec "$NODE" nft delete table ip nat
  kube_proxy_nft 10.0.0.0/8 | ip netns exec "$NODE" nft -f -
  SERVICES=(connect)
}
setup_vrf() {
  lab up >/dev/null
  local rc=0
  lab vrf >/dev/null 2>"$WORK/vrf.err" || rc=$?
  ((rc == 0)) && { SERVICES=(vrf-connect vrf-udp); return 0; }
  ((rc == 3)) || fail "scenario vrf: lab vrf failed: $(cat "$WORK/vrf.err")"
  [[ ${E2E_REQUIRE_VRF:-0} == 1 ]] && fail "E2E_REQUIRE_VRF=1 but $(cat "$WORK/vrf.err")"
  NOT_RUN+=("vrf ($(cat "$WORK/vrf.err"))")
  return 1
}

SCENARIOS=(incident incident_nft rpfilter policy l3mdev ipv6 pods second_service second_service_nft two_endpoints
  two_endpoints_nft masquerade_pod_cidr masquerade_pod_cidr_nft vrf)
NOT_RUN=()

# try SERVICE ARGS...: lab.sh's line for SERVICE's connect command; true when every try worked.
try() {
  local line
  line=$(lab "$@")
  echo "$line"
  [[ $line == *": ok" || $line == *": answered" ]]
}

# printed_fixes CHECK_OUTPUT: the fixes as printed, each once: check's `  fix (...): CMD` lines, then
# the diagnoses' fix in svctrace's JSON.
printed_fixes() {
  {
    sed -n 's/^  fix\( ([^)]*)\)\{0,1\}: //p' "$1"
    jq -r 'select(.type == "diagnosis") | .fix // empty' "$OUT"
  } | awk '!seen[$0]++'
}

# run_scenario NAME: the scenario's lab, svctrace's fixes for it, applied, and every service tried.
run_scenario() {
  local name=$1 svc failed=() cidr_args=() fixes=() fix rc=0
  SERVICES=(connect udp)
  CIDRS=("$CIDR")
  "setup_$name" || return 0
  for cidr in "${CIDRS[@]}"; do cidr_args+=(--cidr "$cidr"); done

  "$SVCTRACE" check --netns "$NODE" "${cidr_args[@]}" >"$WORK/$name.check" 2>"$WORK/$name.check.err" || rc=$?
  ((rc == 0 || rc == 3)) || fail "scenario $name: svctrace check exit $rc: $(cat "$WORK/$name.check.err")"

  start_svctrace --netns "$NODE" "${cidr_args[@]}" --json --duration 120 --unanswered-after 1000
  # Two tries each, so that both endpoints of a two-endpoint service are tried.
  for svc in "${SERVICES[@]}"; do
    try "$svc" --count 2 --timeout 2 >/dev/null || failed+=("$svc")
  done
  ((${#failed[@]})) || fail "scenario $name: every service works before any fix; nothing to prove"
  for svc in "${failed[@]}"; do
    read -r ip port <<<"${SERVICE_OF[$svc]}"
    wait_for_line ".type == \"diagnosis\" and .flow.dst == \"$ip\" and .flow.dport == $port" 20 >/dev/null ||
      fail "scenario $name: no diagnosis within 20 s for the failed $svc ($ip:$port)"
  done
  stop_svctrace
  assert_exit 3
  cp "$OUT" "$WORK/$name.ndjson"

  mapfile -t fixes < <(printed_fixes "$WORK/$name.check")
  ((${#fixes[@]})) || fail "scenario $name: svctrace printed no fix for $(printf '%s ' "${failed[@]}")"
  # Root can make the scratch namespace: every fix is the kernel's, none reasoned only.
  unproven=$(grep -E '^  fix( \(unproven[^)]*\))?: ' "$WORK/$name.check"; jq -c 'select(.type == "diagnosis" and .fix != null and .fix_proven != true)' "$OUT")
  [[ -z $unproven ]] || fail "scenario $name: a fix not proven by the kernel: $unproven"
  for fix in "${fixes[@]}"; do
    ip netns exec "$NODE" sh -c "$fix" >"$WORK/$name.fix.out" 2>&1 ||
      fail "scenario $name: the printed fix failed to run in $NODE: $fix: $(cat "$WORK/$name.fix.out")"
  done
  local applied
  applied=$(printf "'%s' " "${fixes[@]}")
  for svc in "${SERVICES[@]}"; do
    result=$(try "$svc" --count 8 --timeout 3) ||
      fail "scenario $name: after the printed fixes $applied: $result"
  done
  echo "  $name: $applied-> ${SERVICES[*]}: 8 of 8 each" >&"$E2E_OUT"
}

# One scenario: this script with its name runs it alone (its own lab prefix, work dir and svctrace).
if (($# == 1)); then
  run_scenario "$1"
  ((${#NOT_RUN[@]} == 0)) || echo "  not run here: ${NOT_RUN[*]}" >&"$E2E_OUT"
  pass
fi

# All of them, E2E_APPLY_JOBS (default 3) at a time: most of a scenario is waiting (for a lab, for
# BPF programs to load, for a connect to time out). Each child's lines are printed in order; the first
# that failed fails the test with its reason, which names its scenario and the fixes.
jobs_max=${E2E_APPLY_JOBS:-3}
declare -A child_of=()
for scenario in "${SCENARIOS[@]}"; do
  while (($(jobs -pr | wc -l) >= jobs_max)); do wait -n || true; done
  bash "$0" "$scenario" >"$WORK/$scenario.result" 2>&1 {E2E_OUT}>&- &
  child_of[$scenario]=$!
  kill_on_exit "${child_of[$scenario]}"
done
failures=()
for scenario in "${SCENARIOS[@]}"; do
  wait "${child_of[$scenario]}" || true
  if grep -qx "PASS $TEST_NAME" "$WORK/$scenario.result"; then
    grep -v "^PASS " "$WORK/$scenario.result" >&"$E2E_OUT" || true
  else
    failures+=("$(grep -m1 "^FAIL " "$WORK/$scenario.result" || echo "scenario $scenario: exit without a result")")
    cat "$WORK/$scenario.result" >&"$E2E_OUT"
  fi
done
((${#failures[@]} == 0)) || fail "${#failures[@]} of ${#SCENARIOS[@]} scenarios failed; first: ${failures[0]#FAIL "$TEST_NAME": }"
pass
