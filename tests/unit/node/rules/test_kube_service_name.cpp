// Service names from kube-proxy's own rules, in both its modes: the comments of its iptables rules
// (tests/unit/data/kube-proxy.iptables) and the chain names of its nftables rules (kube-proxy.nft),
// as the readers `check` uses give them on each pair.
#include <catch2/catch.hpp>

#include <netinet/in.h>

#include <map>

#include "fixtures.h"
#include "node/rules/kube_service_name.h"
#include "node/rules/service_pair.h"

using namespace svctrace;
using test::fixture;

namespace {
const std::vector<Cidr> kCidrs = {Cidr::parse("172.24.0.0/13"), Cidr::parse("fd00:10:96::/112")};

// "172.24.0.1:443 -> 10.0.0.8:6443" -> the pair's service name.
std::map<std::string, std::string> names(const std::vector<ServicePair>& pairs) {
  std::map<std::string, std::string> out;
  for (const auto& p : pairs)
    out[p.service_ip.str() + ":" + std::to_string(p.service_port) + " -> " + p.backend_ip.str() + ":" +
        std::to_string(p.backend_port)] = p.service;
  return out;
}

// Each input, and the name `read` gives it ("" for none).
using Cases = std::vector<std::pair<std::string, std::string>>;
void check_cases(const Cases& cases, std::string (*read)(std::string_view)) {
  for (const auto& [input, name] : cases) {
    INFO(input);
    CHECK(read(input) == name);
  }
}
}  // namespace

TEST_CASE("kube-proxy's comments name a service port", "[names]") {
  const Cases cases = {
      {"default/kubernetes:https cluster IP", "default/kubernetes:https"},
      {"default/kubernetes:https -> 10.0.0.8:6443", "default/kubernetes:https"},
      {"kube-system/kube-dns:dns", "kube-system/kube-dns:dns"},
      {"web/my.app external IP", "web/my.app"},  // a port with no name
      // Comments that are no service's.
      {"kubernetes service portals", ""},
      {"kubernetes service traffic requiring SNAT", ""},
      {"Default/Kubernetes:https", ""},
      {"a/b/c", ""},
      {"default/kubernetes:", ""},
      {"", ""},
  };
  check_cases(cases, kube_service_from_comment);
}

TEST_CASE("kube-proxy's nft chain names name a service port", "[names]") {
  const Cases cases = {
      {"service-NPX46M4P-default/kubernetes/tcp/https", "default/kubernetes:https"},
      {"endpoint-K3PWAY5L-default/kubernetes/tcp/https__10.0.0.8/6443", "default/kubernetes:https"},
      {"external-4AT6LBPK-web/frontend/tcp/http", "web/frontend:http"},
      {"endpoint-WQKQZGWP-default/kubernetes/tcp/https__fd00.0.0.1..8/6443", "default/kubernetes:https"},
      {"service-ABCDEFGH-web/plain/udp/", "web/plain"},
      {"services", ""},
      {"nat-output", ""},
      {"service-SHORT-web/x/tcp/http", ""},
      {"service-ABCDEFGH-web/x/icmp/http", ""},
      {"OUTPUT", ""},
  };
  check_cases(cases, kube_service_from_nft_chain);
}

TEST_CASE("iptables mode: each pair is named by kube-proxy's comments", "[names]") {
  auto pairs = service_pairs_from_iptables_save(fixture("kube-proxy-iptables-save.txt"), kCidrs);
  auto n = names(pairs);
  CHECK(n.at("172.24.0.1:443 -> 10.0.0.8:6443") == "default/kubernetes:https");
  CHECK(n.at("172.24.0.1:443 -> 10.0.0.9:6443") == "default/kubernetes:https");
  CHECK(n.at("172.24.0.10:53 -> 10.244.0.5:53") == "kube-system/kube-dns:dns");
  CHECK(n.at("172.24.0.20:80 -> 10.244.1.7:8080") == "web/frontend:http");
  CHECK(n.at("fd00:10:96::1:443 -> fd00:0:0:1::8:6443") == "default/kubernetes:https");
  CHECK(service_name(pairs, IPPROTO_TCP, *IpAddr::parse("172.24.0.1"), 443) == "default/kubernetes:https");
  CHECK(service_name(pairs, IPPROTO_UDP, *IpAddr::parse("172.24.0.10"), 53) == "kube-system/kube-dns:dns");
  CHECK(service_name(pairs, IPPROTO_TCP, *IpAddr::parse("172.24.0.1"), 80).empty());
  CHECK(service_name(pairs, IPPROTO_TCP, *IpAddr::parse("172.24.0.99"), 443).empty());
}

TEST_CASE("a plain DNAT rule of a person's stays unnamed", "[names]") {
  const std::string text = "*nat\n:OUTPUT ACCEPT [0:0]\n"
                           "-A OUTPUT -d 172.24.0.1/32 -p tcp -m comment --comment \"api shortcut\" --dport 443 "
                           "-j DNAT --to-destination 10.0.0.8:6443\nCOMMIT\n";
  auto pairs = service_pairs_from_iptables_save(text, kCidrs);
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0].service.empty());
}

TEST_CASE("nftables mode: each pair is named by kube-proxy's chains", "[names]") {
  auto pairs = service_pairs_from_nft_json(fixture("kube-proxy-nft.json"), kCidrs);
  auto n = names(pairs);
  CHECK(n.at("172.24.0.1:443 -> 10.0.0.8:6443") == "default/kubernetes:https");
  CHECK(n.at("172.24.0.10:53 -> 10.244.0.5:53") == "kube-system/kube-dns:dns");
  CHECK(n.at("172.24.0.20:80 -> 10.244.1.7:8080") == "web/frontend:http");
  CHECK(n.at("fd00:10:96::1:443 -> fd00:0:0:1::8:6443") == "default/kubernetes:https");
  CHECK(n.at("172.24.0.60:80 -> 10.0.0.97:80").empty());  // added by hand to iptables-nft's table
}

TEST_CASE("an nft rule's comment names a pair whose chains do not", "[names]") {
  const std::string text = R"({"nftables": [
    {"chain": {"family": "ip", "table": "t", "name": "out", "type": "nat", "hook": "output"}},
    {"rule": {"family": "ip", "table": "t", "chain": "out", "comment": "web/api:grpc",
              "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                                  "right": "172.24.0.5"}},
                       {"dnat": {"addr": "10.0.0.5", "port": 9000}}]}}]})";
  auto pairs = service_pairs_from_nft_json(text, kCidrs);
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0].service == "web/api:grpc");
}

TEST_CASE("merged pairs keep a name either source gave", "[names]") {
  ServicePair unnamed{IPPROTO_TCP, *IpAddr::parse("172.24.0.1"), 443, *IpAddr::parse("10.0.0.8"), 6443, "OUTPUT",
                      {{"iptables-save", "OUTPUT"}}};
  ServicePair named = unnamed;
  named.found_in = {{"nft", "ip kube-proxy endpoint"}};
  named.service = "default/kubernetes:https";
  auto merged = merge_service_pairs({{unnamed}, {named}});
  REQUIRE(merged.size() == 1);
  CHECK(merged[0].service == "default/kubernetes:https");
  CHECK(merged[0].found_in.size() == 2);
}
