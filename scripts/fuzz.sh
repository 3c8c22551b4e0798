#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/fuzz_*.cpp) with clang, ASan and UBSan into build-fuzz/, and runs
# each for a bounded time over its committed corpus (fuzz/corpus/<target without fuzz_>/), which it
# only reads: what libFuzzer adds goes to a temporary directory. A crashing input is kept in
# build-fuzz/artifacts/ and makes the script exit 1; reproduce it with build-fuzz/fuzz/<target> FILE.
#
# Usage: scripts/fuzz.sh [-t SECONDS_EACH] [TARGET...]   (default: 20 s, or $FUZZ_SECONDS; every target)
#
# The netlink corpus holds real kernel replies, recorded in a lab namespace with a route dump, an
# address dump, a rule dump (with the l3mdev rule), a link dump and `route get [fibmatch]` requests
# (the questions svctrace asks).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
if [[ ${1:-} == -t ]]; then
  (($# >= 2)) || { echo "usage: $0 [-t SECONDS_EACH] [TARGET...]" >&2; exit 2; }
  seconds=$2
  shift 2
fi
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: bad time '$seconds'" >&2; exit 2; }
mapfile -t all < <(cd fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//')
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz: no target '$t' (have: ${all[*]})" >&2; exit 2; }
done

bash scripts/install-deps.sh --fuzz
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSVCTRACE_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}"

mkdir -p build-fuzz/artifacts
work=$(mktemp -d /tmp/svctrace-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
  corpus=fuzz/corpus/${t#fuzz_}
  mkdir -p "$work/$t"
  echo "== $t: ${seconds} s over $corpus ($(ls "$corpus" | wc -l) inputs)"
  if build-fuzz/fuzz/"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="build-fuzz/artifacts/$t-" "$work/$t" "$corpus" >"$work/$t.log" 2>&1; then
    grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$work/$t.log" | sed 's/^/   /'
    echo "   $(grep -oE "cov: [0-9]+ ft: [0-9]+" "$work/$t.log" | tail -n 1)"
  else
    tail -n 40 "$work/$t.log"
    failed+=("$t")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: ${failed[*]} failed; inputs kept in build-fuzz/artifacts/" >&2
  exit 1
fi
echo "fuzz: ${targets[*]}: no crash in ${seconds} s each"
