#!/usr/bin/env bash
# Runs every tests/e2e/test_*.sh one after another (each builds its own lab), or only the named ones
# (`run.sh incident vrf`), prints each test's output and a final "N passed, M failed, K skipped"
# line. Exits non-zero if any test failed, or if a named test does not exist.
set -uo pipefail

if ((EUID != 0)); then
  echo "run.sh: the end-to-end tests need root (network namespaces, BPF); refusing to run" >&2
  exit 1
fi

dir=$(cd "$(dirname "$0")" && pwd)
passed=0
failed=0
skipped=0
tests=("$dir"/test_*.sh)
if (($# > 0)); then
  tests=()
  for name in "$@"; do
    [[ -f $dir/test_$name.sh ]] || { echo "run.sh: no test named $name ($dir/test_$name.sh)" >&2; exit 1; }
    tests+=("$dir/test_$name.sh")
  done
fi
for t in "${tests[@]}"; do
  name=$(basename "$t" .sh)
  # Bounded (E2E_TIMEOUT seconds, default 120, or more where the test's header asks for it in a line
  # `# e2e-timeout: SECONDS`, maybe followed by why): a hung test is killed (its trap still tears the
  # lab down on SIGTERM).
  limit=${E2E_TIMEOUT:-120}
  own=$(sed -n '2,5s/^# e2e-timeout: \([0-9][0-9]*\).*/\1/p' "$t" | head -n 1)
  [[ -n $own ]] && ((own > limit)) && limit=$own
  out=$(timeout -k 10 "$limit" bash "$t" 2>&1)
  rc=$?
  [[ -n $out ]] && echo "$out"
  if ((rc == 0)) && grep -qx "PASS $name" <<<"$out"; then
    passed=$((passed + 1))
  elif ((rc == 0)) && grep -q "^SKIP $name: " <<<"$out"; then
    skipped=$((skipped + 1))
  else
    # Make sure every failure has a FAIL line, even if the test died without printing one.
    ((rc == 124)) && echo "($name timed out after $limit s)"
    grep -q "^FAIL $name" <<<"$out" || echo "FAIL $name: exit status $rc"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed, $skipped skipped (see their SKIP lines)"
((failed == 0))
