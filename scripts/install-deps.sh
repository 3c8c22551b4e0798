#!/usr/bin/env bash
# Installs everything svctrace needs to build, run its lab and run its tests, from Debian's packages.
# Idempotent: packages already present are skipped, so CI and a developer can run it every time.
set -euo pipefail

packages=(
  # build
  cmake make g++ pkg-config clang llvm bpftool
  libbpf-dev libelf-dev zlib1g-dev
  libcli11-dev libspdlog-dev libfmt-dev catch2
  nlohmann-json3-dev libmnl-dev libnetfilter-conntrack-dev
  # man page (generated from --help), .deb (cpack runs dpkg-shlibdeps and file) and its test
  python3 dpkg-dev file groff-base
  # lab and end-to-end tests
  iproute2 iptables conntrack netcat-openbsd socat jq procps
  # deploy test: reads deploy/daemonset.yaml
  python3-yaml
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [[ $EUID -ne 0 ]]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
