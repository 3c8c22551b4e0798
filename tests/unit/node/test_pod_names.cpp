// Pod names from the node's own files, on a host root laid out as kubelet, host-local IPAM, containerd
// and CRI-O lay theirs out (tests/unit/data/host-root).
#include <catch2/catch.hpp>

#include "node/pod_names.h"

using namespace svctrace;

namespace {
const PodNames kHost(std::string(SVCTRACE_TEST_DATA) + "/host-root/");
}

TEST_CASE("a pod UID is named by kubelet's log directory of the pod", "[pods]") {
  CHECK(kHost.of_uid("1b2c3d4e-5f60-4718-9a0b-0000000000c1") == "default/client");
  // Names with dashes and dots: only the namespace ends at the first "_".
  CHECK(kHost.of_uid("7f3e2a10-4b5c-4d6e-8f90-0000000000d2") == "kube-system/coredns-5d78c9869d-x7k2p");
  CHECK(kHost.of_uid("9a8b7c6d-1e2f-4a3b-8c4d-0000000000e3") == "web/frontend-0");
}

TEST_CASE("a pod the node has no trace of stays unnamed", "[pods]") {
  CHECK(kHost.of_uid("00000000-0000-4000-8000-000000000000").empty());
  CHECK(kHost.of_uid("").empty());
  // Not a UID: no path outside the pods directory is read.
  CHECK(kHost.of_uid("../../../etc").empty());
  CHECK(PodNames("/nonexistent-host-root").of_uid("1b2c3d4e-5f60-4718-9a0b-0000000000c1").empty());
}

TEST_CASE("a pod IP is named through host-local's state and the runtime's sandbox bundle", "[pods]") {
  // containerd: cbr0/10.244.0.7 holds sandbox a1...01, whose bundle's annotations name the pod.
  CHECK(kHost.of_ip(*IpAddr::parse("10.244.0.7")) == "default/client");
  // CRI-O: crio/10.244.1.9 holds sandbox c3...03.
  CHECK(kHost.of_ip(*IpAddr::parse("10.244.1.9")) == "web/frontend-0");
}

TEST_CASE("a pod IP stays unnamed where the chain breaks", "[pods]") {
  CHECK(kHost.of_ip(*IpAddr::parse("10.244.0.8")).empty());   // its sandbox has no bundle (gone)
  CHECK(kHost.of_ip(*IpAddr::parse("10.244.0.99")).empty());  // no IPAM file: not host-local's
  CHECK(kHost.of_ip(IpAddr{}).empty());
  CHECK(kHost.of_sandbox("../../etc").empty());
}
