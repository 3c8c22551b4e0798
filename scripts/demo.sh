#!/usr/bin/env bash
# The incident in a box: installs what is missing, builds svctrace, builds the lab reproduction of the
# two-NIC Service-IP outage (see ../README.md), and runs svctrace on it while a process in the lab's
# node namespace tries to reach the Service IP. Everything is removed on exit. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

# A line per step, so that a first run (minutes of package installs and compiling) is not silent.
step() { echo "demo: $*" >&2; }
step "installing what is missing (scripts/install-deps.sh)..."
bash scripts/install-deps.sh >/dev/null
step "configuring the build (build/)..."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
step "building svctrace (a few minutes the first time)..."
cmake --build build -j"$(nproc)" >/dev/null
step "built build/svctrace; now the incident's lab"

prefix="demo$$"
work=$(mktemp -d)
svc_pid=""
cleanup() {
  [[ -n $svc_pid ]] && kill -INT "$svc_pid" 2>/dev/null && wait "$svc_pid" 2>/dev/null
  scripts/lab.sh down --prefix "$prefix" >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

scripts/lab.sh up --prefix "$prefix"
echo "+ svctrace --netns $prefix-node --cidr 172.24.0.0/13 --report $work/report.json"
build/svctrace --netns "$prefix-node" --cidr 172.24.0.0/13 --report "$work/report.json" \
  --ready-file "$work/ready" &
svc_pid=$!
# Wait for svctrace's ready signal (bounded), not for a fixed time.
for _ in $(seq 200); do
  [[ -e $work/ready ]] && break
  kill -0 "$svc_pid" 2>/dev/null || { echo "svctrace failed to start" >&2; exit 1; }
  sleep 0.05
done
[[ -e $work/ready ]] || { echo "svctrace did not become ready" >&2; exit 1; }

echo "+ (in $prefix-node) nc -z -w 3 172.24.0.1 443      # the Service IP of the kubernetes API"
scripts/lab.sh connect --prefix "$prefix" --timeout 3
kill -INT "$svc_pid"
wait "$svc_pid" || true
svc_pid=""
echo
echo "The flow report svctrace wrote at exit ($work/report.json, removed with the lab):"
jq -c '.flows[] | {flow, dnat, egress_dev, verdict}' "$work/report.json"

fix=$(jq -r '[.diagnoses[].fix | select(.)][0] // empty' "$work/report.json")
if [[ -n $fix ]]; then
  echo
  echo "+ (in $prefix-node) $fix      # the fix svctrace printed"
  ip netns exec "$prefix-node" sh -c "$fix"
  scripts/lab.sh connect --prefix "$prefix" --timeout 3
fi
