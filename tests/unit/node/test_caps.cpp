#include <catch2/catch.hpp>
#include <linux/capability.h>

#include <fstream>
#include <string>

#include "node/caps.h"

using namespace svctrace;

namespace {
uint64_t caps(std::initializer_list<int> list) {
  uint64_t m = 0;
  for (int c : list) m |= uint64_t{1} << c;
  return m;
}
}  // namespace

TEST_CASE("the BPF capabilities that are missing are named, in a fixed order", "[caps]") {
  CHECK(missing_bpf_capabilities(caps({CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN})).empty());
  CHECK(missing_bpf_capabilities(caps({CAP_PERFMON, CAP_NET_ADMIN})) == std::vector<std::string>{"CAP_BPF"});
  CHECK(missing_bpf_capabilities(caps({CAP_BPF, CAP_NET_ADMIN})) == std::vector<std::string>{"CAP_PERFMON"});
  CHECK(missing_bpf_capabilities(caps({CAP_BPF, CAP_PERFMON})) == std::vector<std::string>{"CAP_NET_ADMIN"});
  CHECK(missing_bpf_capabilities(0) == std::vector<std::string>{"CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"});
  // Unrelated capabilities do not count.
  CHECK(missing_bpf_capabilities(caps({CAP_NET_RAW, CAP_SYS_PTRACE, CAP_DAC_OVERRIDE})).size() == 3);
}

TEST_CASE("a tracing program needs CAP_PERFMON, a netfilter program CAP_NET_ADMIN, both CAP_BPF", "[caps]") {
  uint64_t bpf_perfmon = caps({CAP_BPF, CAP_PERFMON}), bpf_net_admin = caps({CAP_BPF, CAP_NET_ADMIN});
  CHECK(missing_bpf_capabilities(bpf_perfmon, BpfUse::Tracing).empty());
  CHECK(missing_bpf_capabilities(bpf_perfmon, BpfUse::Netfilter) == std::vector<std::string>{"CAP_NET_ADMIN"});
  CHECK(missing_bpf_capabilities(bpf_net_admin, BpfUse::Netfilter).empty());
  CHECK(missing_bpf_capabilities(bpf_net_admin, BpfUse::Tracing) == std::vector<std::string>{"CAP_PERFMON"});
  CHECK(missing_bpf_capabilities(caps({CAP_PERFMON}), BpfUse::Tracing) == std::vector<std::string>{"CAP_BPF"});
}

TEST_CASE("CAP_SYS_ADMIN stands in for CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, as in the kernel", "[caps]") {
  for (BpfUse use : {BpfUse::Any, BpfUse::Tracing, BpfUse::Netfilter})
    CHECK(missing_bpf_capabilities(caps({CAP_SYS_ADMIN}), use).empty());
}

TEST_CASE("the EPERM hint names what to grant, or says capabilities are not the cause", "[caps]") {
  std::string hint = bpf_privilege_hint(caps({CAP_BPF, CAP_NET_ADMIN}));
  CHECK(hint.find("missing CAP_PERFMON;") != std::string::npos);
  CHECK(hint.find("CAP_BPF,") != std::string::npos);  // the full list follows
  CHECK(bpf_privilege_hint(0).find("missing CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN;") != std::string::npos);
  std::string held = bpf_privilege_hint(caps({CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN}));
  CHECK(held.find("missing") == std::string::npos);
  CHECK(held.find("are held") != std::string::npos);
  // Held for a tracing program, even though CAP_NET_ADMIN is not.
  CHECK(bpf_privilege_hint(caps({CAP_BPF, CAP_PERFMON}), BpfUse::Tracing).find("are held") != std::string::npos);
}

TEST_CASE("this process's effective set is the one the kernel shows in /proc/self/status", "[caps]") {
  std::ifstream status("/proc/self/status");
  std::string line;
  uint64_t cap_eff = ~uint64_t{0};
  while (std::getline(status, line))
    if (line.rfind("CapEff:", 0) == 0) cap_eff = std::stoull(line.substr(7), nullptr, 16);
  REQUIRE(cap_eff != ~uint64_t{0});
  CHECK(effective_capabilities() == cap_eff);
}
