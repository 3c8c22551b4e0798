#include <catch2/catch.hpp>

#include <algorithm>

#include "node/container_lookup.h"

using svctrace::container_from_cgroups;

namespace {
const std::string kId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kPod = "1b2c3d4e-5f60-4718-9a0b-c1d2e3f40516";
}  // namespace

TEST_CASE("containerd under systemd: cri-containerd-<id>.scope in a kubepods pod slice") {
  std::string pod_ = kPod;
  std::replace(pod_.begin(), pod_.end(), '-', '_');
  auto c = container_from_cgroups("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + pod_ +
                                  ".slice/cri-containerd-" + kId + ".scope\n");
  CHECK(c.id == kId);
  CHECK(c.pod_uid == kPod);
}

TEST_CASE("cgroupfs driver, cgroup v1 hierarchies: the id is a bare path component") {
  auto c = container_from_cgroups("12:pids:/kubepods/besteffort/pod" + kPod + "/" + kId +
                                  "\n11:memory:/kubepods/besteffort/pod" + kPod + "/" + kId + "\n0::/\n");
  CHECK(c.id == kId);
  CHECK(c.pod_uid == kPod);
}

TEST_CASE("docker and cri-o scopes outside Kubernetes") {
  CHECK(container_from_cgroups("0::/system.slice/docker-" + kId + ".scope\n").id == kId);
  CHECK(container_from_cgroups("0::/machine.slice/crio-" + kId + ".scope").id == kId);
  CHECK(container_from_cgroups("0::/system.slice/docker-" + kId + ".scope\n").pod_uid.empty());
}

TEST_CASE("a process in no container, and text that only looks like one") {
  auto host = container_from_cgroups("0::/system.slice/kubelet.service\n1:name=systemd:/user.slice/user-0.slice\n");
  CHECK(host.id.empty());
  CHECK(host.pod_uid.empty());
  CHECK(container_from_cgroups("0::/" + kId.substr(1) + "\n").id.empty());           // 63 digits
  CHECK(container_from_cgroups("0::/" + kId.substr(1) + "g\n").id.empty());          // not hex
  CHECK(container_from_cgroups("garbage without colons\n\n::\n").id.empty());
  CHECK(container_from_cgroups("0::/kubepods/podnot-a-uid/x\n").pod_uid.empty());
}
