#!/usr/bin/env bash
# The kernel matrix: runs end-to-end scenarios inside each of Debian's kernels under qemu
# (tests/vm/run.sh), one kernel after another, with the binary in $SVCTRACE (default build/svctrace).
#
#   tests/vm/matrix.sh [KERNEL...]        default: every kernel of MATRIX_KERNELS; `host`: no VM
#
# Each kernel prints its tests' PASS/SKIP/FAIL lines and its own "N passed, N failed, N skipped"
# line, prefixed with the kernel; the last line sums them. Exits non-zero if any test failed on any
# kernel, or a VM could not run. Which scenarios run: MATRIX_TESTS (e2e test names without test_).
# Each kernel's release, `svctrace --hooks` and test lines go to MATRIX_RESULTS/KERNEL.txt (default
# build/matrix), from which scripts/kernel-table.sh makes docs/kernels.md's table; the run ends by
# printing that table. Needs root and scripts/install-deps.sh --vm.
set -uo pipefail
cd "$(dirname "$0")/../.."

# The scenarios the matrix runs on every kernel: the incident and its fix, the reply paths
# (rp_filter drop, UDP), IPv6, policy routing, VRF and kube-proxy's IPVS mode (vrf and ip_vs are
# modules the VM kernels have and the CI host's kernel lacks), a pod's forwarded flow, and --pcap's
# packets (captured by each kernel's own hooks). Under TCG a scenario takes ~4x its host time: the
# whole e2e suite on three kernels would not fit CI's time.
MATRIX_TESTS=${MATRIX_TESTS:-"incident fixed rpfilter udp ipv6 policy vrf ipvs forwarded pcap"}
MATRIX_KERNELS=${MATRIX_KERNELS:-"6.12 6.1 5.10"}
# Scenarios run on one kernel only, as KERNEL:TEST: every hook fallback forced by its flag (the NAT
# role's fexit and net_dev_queue, the route's raw_tp and fexit) where the kernel has them all; the
# other kernels run their own best hooks through MATRIX_TESTS.
MATRIX_ALSO=${MATRIX_ALSO:-"6.12:fallbacks"}
# A scenario under TCG takes ~4x its host time: run.sh's per-test bound, raised.
export E2E_TIMEOUT=${E2E_TIMEOUT:-300}
export SVCTRACE=${SVCTRACE:-$PWD/build/svctrace}
kernels=("$@")
((${#kernels[@]})) || read -ra kernels <<<"$MATRIX_KERNELS"

results=${MATRIX_RESULTS:-build/matrix}
mkdir -p "$results"

# What runs in each kernel: the release, what svctrace's hooks are there (an IPv6 CIDR too, so that
# the IPv6 route role is asked for), then the scenarios.
# shellcheck disable=SC2016  # expanded by the inner shell
in_kernel=(bash -c 'echo "kernel: $(uname -r)"
  "$SVCTRACE" --cidr 172.24.0.0/13 --cidr fd00:24::/108 --hooks 2>&1 | sed "s/^/hooks: /"
  exec bash tests/e2e/run.sh "$@"' matrix)

passed=0 failed=0 skipped=0 broken=0
for k in "${kernels[@]}"; do
  tests=$MATRIX_TESTS
  for also in $MATRIX_ALSO; do [[ ${also%%:*} == "$k" ]] && tests+=" ${also#*:}"; done
  echo "== kernel $k: $tests"
  # shellcheck disable=SC2086  # the test names are words
  if [[ $k == host ]]; then
    out=$("${in_kernel[@]}" $tests 2>&1)
  else
    # Every VM kernel has ip_vs: there, test_ipvs skipping would be a failure.
    out=$(E2E_REQUIRE_IPVS=1 bash tests/vm/run.sh "$k" -- "${in_kernel[@]}" $tests 2>&1)
  fi
  rc=$?
  sed "s/^/[$k] /" <<<"$out"
  grep -E '^(kernel: |hooks: |(PASS|SKIP|FAIL) test_)' <<<"$out" >"$results/$k.txt"
  counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' <<<"$out" | tail -n 1)
  if [[ -z $counts ]]; then
    echo "[$k] the VM did not run the tests (exit $rc)"
    broken=$((broken + 1))
    continue
  fi
  read -r p _ f _ s _ <<<"${counts//,/}"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
echo "matrix (${kernels[*]}): $passed passed, $failed failed, $skipped skipped"
echo "== what each kernel gives (scripts/kernel-table.sh $results)"
bash scripts/kernel-table.sh "$results" || true
((failed == 0 && broken == 0))
