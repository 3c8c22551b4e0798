#!/usr/bin/env bash
# The README's first command, as a newcomer runs it: scripts/demo.sh says what it is doing while it
# installs and builds, reproduces the incident, diagnoses it with the route and the fix, applies the
# fix and connects, and leaves no lab behind. (It builds build/, which the test run has built already.)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

root=$(cd "$(dirname "$0")/../.." && pwd)
before=$(ip netns list | grep -c '^demo' || true)
out=$(timeout 600 bash "$root/scripts/demo.sh" 2>&1 {E2E_OUT}>&-) || fail "scripts/demo.sh failed: $(tail -n 20 <<<"$out")"
for want in "demo: installing what is missing" "demo: building svctrace" \
  "asymmetric_source" "fix (checked against " "): ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12" \
  ": ok"; do
  grep -qF -- "$want" <<<"$out" || fail "the demo's output lacks \"$want\": $(tail -n 30 <<<"$out")"
done
after=$(ip netns list | grep -c '^demo' || true)
[[ $after == "$before" ]] || fail "the demo left network namespaces behind: $(ip netns list | grep '^demo')"
pass
