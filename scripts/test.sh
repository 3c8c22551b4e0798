#!/usr/bin/env bash
# Runs every test of svctrace: installs what is missing, builds, runs the unit tests (CTest) and the
# end-to-end tests (real BPF, real traffic in network namespaces of their own). Needs root.
# Then the end-to-end scenarios of the kernel matrix in VMs of other kernels (tests/vm/matrix.sh),
# and the same tests once more against a build with AddressSanitizer and UndefinedBehaviorSanitizer
# (build-asan/): a sanitizer report makes the test it happens in fail.
set -euo pipefail
cd "$(dirname "$0")/.."

# --image: test_image builds the container image (mmdebstrap, umoci) and runs it (podman, runc).
bash scripts/install-deps.sh --image

# pass NAME BUILD_DIR [CMAKE_ARGS...]: builds into BUILD_DIR, runs the unit and end-to-end tests on it.
pass() {
  local name=$1 dir=$2
  shift 2
  echo "== $name: build ($dir)"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
  cmake --build "$dir" -j"$(nproc)"
  echo "== $name: unit tests"
  ctest --test-dir "$dir" --output-on-failure
  echo "== $name: end-to-end tests"
  SVCTRACE="$PWD/$dir/svctrace" bash tests/e2e/run.sh
}

pass release build -DSVCTRACE_SANITIZE=OFF

# The kernel matrix: end-to-end scenarios inside Debian's other kernels under qemu (tests/vm/).
echo "== kernel matrix: end-to-end tests in VMs"
bash scripts/install-deps.sh --vm
SVCTRACE="$PWD/build/svctrace" bash tests/vm/matrix.sh

# Sanitizer findings exit 66, a status svctrace never uses (0-3), so no test can take one for an
# expected exit; leaks count as findings.
export ASAN_OPTIONS=detect_leaks=1:exitcode=66 LSAN_OPTIONS=exitcode=66 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=66
pass sanitizers build-asan -DSVCTRACE_SANITIZE=ON
