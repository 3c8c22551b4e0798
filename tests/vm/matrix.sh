#!/usr/bin/env bash
# The kernel matrix: runs end-to-end scenarios inside each of Debian's kernels under qemu
# (tests/vm/run.sh), one kernel after another, with the binary in $SVCTRACE (default build/svctrace).
#
#   tests/vm/matrix.sh [KERNEL...]        default: every kernel of MATRIX_KERNELS
#
# Each kernel prints its tests' PASS/SKIP/FAIL lines and its own "N passed, N failed, N skipped"
# line, prefixed with the kernel; the last line sums them. Exits non-zero if any test failed on any
# kernel, or a VM could not run. Which scenarios run: MATRIX_TESTS (e2e test names without test_).
# Needs root and scripts/install-deps.sh --vm.
set -uo pipefail
cd "$(dirname "$0")/../.."

# The scenarios the matrix runs on every kernel: the incident and its fix, the reply paths
# (rp_filter drop, UDP), IPv6, policy routing, VRF (vrf is a module the VM kernels have and the CI
# host's kernel lacks) and a pod's forwarded flow. Under TCG a scenario takes ~4x its host time: the whole e2e suite on three
# kernels would not fit CI's time.
MATRIX_TESTS=${MATRIX_TESTS:-"incident fixed rpfilter udp ipv6 policy vrf forwarded"}
MATRIX_KERNELS=${MATRIX_KERNELS:-"6.12 6.1 5.10"}
export SVCTRACE=${SVCTRACE:-$PWD/build/svctrace}
kernels=("$@")
((${#kernels[@]})) || read -ra kernels <<<"$MATRIX_KERNELS"

passed=0 failed=0 skipped=0 broken=0
for k in "${kernels[@]}"; do
  echo "== kernel $k: ${MATRIX_TESTS}"
  # shellcheck disable=SC2086  # the test names are words
  out=$(bash tests/vm/run.sh "$k" -- bash tests/e2e/run.sh $MATRIX_TESTS 2>&1)
  rc=$?
  sed "s/^/[$k] /" <<<"$out"
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
((failed == 0 && broken == 0))
