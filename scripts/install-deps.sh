#!/usr/bin/env bash
# Installs everything svctrace needs to build, run its lab and run its tests, from Debian's packages.
# Idempotent: packages already present are skipped, so CI and a developer can run it every time.
# Usage: scripts/install-deps.sh [--fuzz] [--bench] [--vm] [--image]
#   (also what scripts/fuzz.sh / scripts/bench.sh / tests/vm/run.sh / scripts/image.sh need)
set -euo pipefail

packages=(
  # build
  cmake make g++ pkg-config clang llvm bpftool
  libbpf-dev libelf-dev zlib1g-dev
  libcli11-dev libspdlog-dev libfmt-dev catch2
  # --metrics: the HTTP server (see CMakeLists.txt)
  libcpp-httplib-dev
  nlohmann-json3-dev libmnl-dev libnetfilter-conntrack-dev
  # man page (generated from --help), .deb (cpack runs dpkg-shlibdeps and file) and its test
  python3 dpkg-dev file groff-base
  # lab and end-to-end tests (nftables: `nft`, which `svctrace check` runs, and the lab's --nat nft)
  iproute2 iptables nftables conntrack netcat-openbsd socat jq procps util-linux
  # kube-proxy's IPVS mode: the lab's `up --nat ipvs` and what `svctrace check` runs to read IPVS
  ipvsadm
  # the terminal test drives svctrace on a real terminal
  tmux
  # the HTML report's test opens the page in a real browser, headless
  chromium
  # metrics test: scrapes with curl, parses with the Prometheus Python client's parser
  curl python3-prometheus-client
  # deploy test: reads deploy/daemonset.yaml
  python3-yaml
  # the --pcap e2e tests (issue 19) read the pcapng svctrace writes with tshark
  tshark
)
for arg in "$@"; do
  case $arg in
    # libFuzzer's runtime comes with clang's compiler-rt
    --fuzz) packages+=(clang libclang-rt-14-dev) ;;
    # the benchmarks: Google Benchmark, and the tools a user would run instead of svctrace
    --bench) packages+=(libbenchmark-dev tcpdump bpftrace time) ;;
    # tests/vm/run.sh: qemu (TCG) boots Debian's kernels, unpacked with dpkg and apt (no install);
    # a static busybox is the initramfs; kmod's depmod/modprobe -d index and load the guest's modules;
    # xz/zstd decompress them once; the keyring checks the bullseye index that 5.10 comes from
    --vm) packages+=(qemu-system-x86 busybox-static kmod cpio xz-utils zstd coreutils util-linux
      debian-archive-keyring apt dpkg) ;;
    # scripts/image.sh and test_image: mmdebstrap builds the root filesystem from the Debian mirror,
    # umoci makes it an OCI image, podman loads and runs it with runc (crun refuses this machine's
    # hybrid cgroups: docs/deploy.md)
    --image) packages+=(mmdebstrap umoci podman runc) ;;
    *) echo "usage: $0 [--fuzz] [--bench] [--vm] [--image]" >&2; exit 2 ;;
  esac
done

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
