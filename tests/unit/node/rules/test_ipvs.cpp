// kube-proxy's IPVS mode as `check` reads it: `ipvsadm -Ln --exact`'s virtual servers and real servers
// become service pairs (tests/unit/data/ipvsadm.txt is the lab's, printed in the 6.12 VM), and
// kube-proxy's iptables chains give their connections' source NAT.
#include <catch2/catch.hpp>
#include <netinet/in.h>

#include "fixtures.h"
#include "node/rules/ipvs.h"
#include "node/rules/nat_rules.h"

using namespace svctrace;
using test::fixture;

namespace {
const std::vector<Cidr> kCidrs = {Cidr::parse("172.24.0.0/13"), Cidr::parse("fd00:10:96::/112")};

// "tcp 172.24.0.1:443 -> 10.0.0.8:6443", "tcp 172.24.0.20:443 -> none"
std::vector<std::string> texts(const std::vector<ServicePair>& pairs) {
  std::vector<std::string> out;
  for (const auto& p : pairs) {
    CHECK(p.by_ipvs);
    CHECK(p.found_in == std::vector<RuleOrigin>{{"ipvsadm", "virtual server"}});
    out.push_back(std::string(proto_name(p.proto)) + " " + endpoint(p.service_ip, p.service_port) + " -> " +
                  (p.backend_ip.is_set() ? endpoint(p.backend_ip, p.backend_port) : "none"));
  }
  return out;
}
}  // namespace

TEST_CASE("ipvsadm's virtual servers give one pair per masquerading real server", "[ipvs]") {
  CHECK(texts(service_pairs_from_ipvsadm(fixture("ipvsadm.txt"), kCidrs)) ==
        std::vector<std::string>{"tcp 172.24.0.1:443 -> 10.0.0.8:6443", "udp 172.24.0.10:53 -> 10.0.0.8:5353"});
}

TEST_CASE("ipvsadm: no real server is no endpoints, and other forwarding, FWM, other CIDRs are left out", "[ipvs]") {
  const char* text =
      "IP Virtual Server version 1.2.1 (size=4096)\n"
      "Prot LocalAddress:Port Scheduler Flags\n"
      "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
      "TCP  172.24.0.20:443 rr\n"
      "TCP  172.24.0.30:80 rr\n"
      "  -> 10.0.0.9:80                  Route   1      0          0\n"
      "  -> 10.0.0.10:8080               Masq    1      0          0\n"
      "  -> 10.0.0.11:8080               Masq    0      0          0\n"
      "FWM  5 rr\n"
      "  -> 10.0.0.12:80                 Masq    1      0          0\n"
      "TCP  192.168.1.1:443 rr\n"
      "  -> 10.0.0.13:443                Masq    1      0          0\n"
      "TCP  [fd00:10:96::1]:443 rr persistent 50\n"
      "  -> [fd00:0:0:1::8]:6443         Masq    1      0          0\n"
      "SCTP 172.24.0.40:9 rr\n";
  CHECK(texts(service_pairs_from_ipvsadm(text, kCidrs)) ==
        std::vector<std::string>{"tcp 172.24.0.20:443 -> none", "tcp 172.24.0.30:80 -> 10.0.0.10:8080",
                                 "tcp 172.24.0.30:80 -> 10.0.0.11:8080", "tcp [fd00:10:96::1]:443 -> [fd00:0:0:1::8]:6443"});
  CHECK(service_pairs_from_ipvsadm("", kCidrs).empty());
  CHECK(service_pairs_from_ipvsadm("TCP  nonsense rr\n  -> also:nonsense Masq\n", kCidrs).empty());
}

TEST_CASE("IPVS pairs get the source NAT of kube-proxy's chains on the way out", "[ipvs]") {
  // kube-proxy's IPVS-mode chains as the lab lays them out; `masq_all` is masqueradeAll's mark rule.
  auto pairs_with = [](const std::string& masq_all) {
    NatRules rules;
    rules.iptables_save = "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-POSTROUTING - [0:0]\n"
                          "-A OUTPUT -j KUBE-SERVICES\n-A POSTROUTING -j KUBE-POSTROUTING\n" + masq_all +
                          "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"
                          "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
                          "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n"
                          "-A KUBE-POSTROUTING -j MASQUERADE\nCOMMIT\n";
    rules.ipvsadm = fixture("ipvsadm.txt");
    return service_pairs(rules, kCidrs);
  };
  auto applies = [](const ServicePair& p) {
    auto c = source_nat_for(p.source_nat, *IpAddr::parse("172.24.0.1"), "enslf0");
    return c ? std::string(name(c->action)) + " " + c->chain : "unknown";
  };
  auto broken = pairs_with("");
  REQUIRE(broken.size() == 2);
  CHECK(applies(broken[0]) == "none ");
  auto fixed = pairs_with("-A KUBE-SERVICES -d 172.24.0.0/13 -j KUBE-MARK-MASQ\n");
  REQUIRE(fixed.size() == 2);
  CHECK(applies(fixed[0]) == "masquerade KUBE-POSTROUTING");
  CHECK(applies(fixed[1]) == "masquerade KUBE-POSTROUTING");
}
