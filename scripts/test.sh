#!/usr/bin/env bash
# Runs every test of svctrace: installs what is missing, builds, runs the unit tests (CTest) and the
# end-to-end tests (real BPF, real traffic in network namespaces of their own). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"

echo "== unit tests"
ctest --test-dir build --output-on-failure

echo "== end-to-end tests"
SVCTRACE="$PWD/build/svctrace" bash tests/e2e/run.sh
