// Service pairs from `nft -j list ruleset`, on dumps of real rulesets (tests/unit/data/*-nft.json,
// made by make-nft-fixtures.sh from the *.nft next to them), and how they merge with iptables-save's.
#include <catch2/catch.hpp>
#include <netinet/in.h>

#include <set>

#include "fixtures.h"
#include "node/rules/service_pair.h"

using namespace svctrace;
using test::fixture;

namespace {
const std::vector<Cidr> kCidrs = {Cidr::parse("172.24.0.0/13"), Cidr::parse("fd00:10:96::/112")};

// "tcp 172.24.0.1:443 -> 10.0.0.8:6443 @ ip kube-proxy endpoint-..." (the chain after the @).
std::string describe(const ServicePair& p) {
  const char* proto = p.proto == IPPROTO_TCP ? "tcp" : p.proto == IPPROTO_UDP ? "udp" : p.proto ? "?" : "any";
  return std::string(proto) + " " + p.service_ip.str() + ":" + std::to_string(p.service_port) + " -> " +
         p.backend_ip.str() + ":" + std::to_string(p.backend_port) + " @ " + p.chain;
}

std::set<std::string> described(const std::vector<ServicePair>& pairs) {
  std::set<std::string> out;
  for (const auto& p : pairs) out.insert(describe(p));
  return out;
}

std::string one_rule(const std::string& expr) {
  return R"({"nftables": [{"chain": {"family": "ip", "table": "t", "name": "out", "type": "nat", "hook": "output"}},
                          {"rule": {"family": "ip", "table": "t", "chain": "out", "expr": )" +
         expr + "}}]}";
}
}  // namespace

TEST_CASE("kube-proxy's nftables layout: service-ips map -> service chain -> endpoint chains", "[nft]") {
  auto pairs = service_pairs_from_nft_json(fixture("kube-proxy-nft.json"), kCidrs);
  const std::string kp = "ip kube-proxy ";
  CHECK(described(pairs) ==
        std::set<std::string>{
            "tcp 172.24.0.1:443 -> 10.0.0.8:6443 @ " + kp + "endpoint-K3PWAY5L-default/kubernetes/tcp/https__10.0.0.8/6443",
            "tcp 172.24.0.1:443 -> 10.0.0.9:6443 @ " + kp + "endpoint-Q7DZRMGE-default/kubernetes/tcp/https__10.0.0.9/6443",
            "udp 172.24.0.10:53 -> 10.244.0.5:53 @ " + kp + "endpoint-IT2ZTR26-kube-system/kube-dns/udp/dns__10.244.0.5/53",
            "tcp 172.24.0.20:80 -> 10.244.1.7:8080 @ " + kp + "endpoint-UEIP74TE-web/frontend/tcp/http__10.244.1.7/8080",
            "tcp fd00:10:96::1:443 -> fd00:0:0:1::8:6443 @ ip6 kube-proxy "
            "endpoint-WQKQZGWP-default/kubernetes/tcp/https__fd00.0.0.1..8/6443",
            // Added with nft to iptables-nft's own table: nft's to read.
            "tcp 172.24.0.60:80 -> 10.0.0.97:80 @ ip nat OUTPUT",
        });
  // Not there: the external IP 192.0.2.80 (outside the CIDRs), web/empty (no endpoints: rejected), and
  // iptables-nft's xt DNATs to 10.0.0.98 and 10.0.0.99, which are iptables-save's to read.
  for (const auto& p : pairs) {
    REQUIRE(p.found_in.size() == 1);
    CHECK(p.found_in[0] == RuleOrigin{"nft", p.chain});
  }
}

TEST_CASE("plain dnat rules: matches bind the address, protocol and port", "[nft]") {
  auto pairs = service_pairs_from_nft_json(fixture("plain-nft.json"), kCidrs);
  CHECK(described(pairs) == std::set<std::string>{
                                "tcp 172.24.0.1:443 -> 10.0.0.8:6443 @ ip lab output",
                                "any 172.24.0.11:0 -> 10.0.0.8:0 @ ip lab output",
                                "tcp 172.24.0.12:80 -> 10.0.0.8:80 @ ip lab output",
                                "tcp 172.24.0.13:80 -> 10.0.0.8:80 @ ip lab output",
                                "tcp 172.24.0.12:8080 -> 10.0.0.8:80 @ ip lab output",
                                "tcp 172.24.0.13:8080 -> 10.0.0.8:80 @ ip lab output",
                                "udp 172.24.0.14:53 -> 10.0.0.8:5353 @ ip lab output",
                                "tcp 172.24.0.17:443 -> 10.0.0.9:6443 @ ip lab svc",
                                "tcp 172.24.0.20:0 -> 10.0.0.8:0 @ ip lab output",
                                "tcp 172.24.0.21:0 -> 10.0.0.8:0 @ ip lab output",
                                "tcp 172.24.0.40:80 -> 10.0.0.8:8080 @ ip lab output",
                                "tcp 172.24.0.2:443 -> 10.0.0.8:6443 @ inet labi pre",
                                "tcp fd00:10:96::1:443 -> fd00:0:0:1::8:6443 @ inet labi pre",
                                "udp fd00:10:96::2:53 -> fd00::8:5353 @ ip6 lab6 output",
                                "any fd00:10:96::3:0 -> fd00::9:0 @ ip6 lab6 output",
                            });
  // Not there: a prefix or != on the service side, an address range, a port range or a map on the
  // backend side, an address outside the CIDRs, and the chain no rule jumps to (172.24.0.30).
}

TEST_CASE("IPv6 pairs keep their family, a backend of the other family is no pair", "[nft]") {
  auto pairs = service_pairs_from_nft_json(
      one_rule(R"([{"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "daddr"}}, "right": "fd00:10:96::7"}},
                   {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 443}},
                   {"dnat": {"addr": "10.0.0.8", "port": 6443}}])"),
      kCidrs);
  CHECK(pairs.empty());
  pairs = service_pairs_from_nft_json(fixture("plain-nft.json"), {Cidr::parse("fd00:10:96::/112")});
  REQUIRE(pairs.size() == 3);
  for (const auto& p : pairs) {
    CHECK(p.service_ip.family == AF_INET6);
    CHECK(p.backend_ip.family == AF_INET6);
  }
}

TEST_CASE("a rule with an xt statement is iptables-save's to read, even with a dnat nft can show", "[nft]") {
  const std::string rule = R"([{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "172.24.0.1"}},
                               {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 443}},
                               XT {"dnat": {"addr": "10.0.0.8", "port": 6443}}])";
  std::string with_xt = rule, without = rule;
  with_xt.replace(with_xt.find("XT"), 2, R"({"xt": {"type": "match", "name": "statistic"}},)");
  without.replace(without.find("XT"), 2, "");
  CHECK(service_pairs_from_nft_json(one_rule(with_xt), kCidrs).empty());
  CHECK(service_pairs_from_nft_json(one_rule(without), kCidrs).size() == 1);
}

TEST_CASE("walks end: a chain that jumps to itself, and a filter chain is no root", "[nft]") {
  auto pairs = service_pairs_from_nft_json(
      one_rule(R"([{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "172.24.0.1"}},
                   {"jump": {"target": "out"}}, {"dnat": {"addr": "10.0.0.8"}}])"),
      kCidrs);
  CHECK(pairs.size() == 1);
  std::string filter = one_rule(R"([{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "172.24.0.1"}},
                                    {"dnat": {"addr": "10.0.0.8"}}])");
  filter.replace(filter.find("\"nat\""), 5, "\"filter\"");
  CHECK(service_pairs_from_nft_json(filter, kCidrs).empty());
}

TEST_CASE("what is not nft's JSON is one clear line, odd shapes inside are skipped", "[nft]") {
  std::string truncated = fixture("kube-proxy-nft.json");
  truncated.resize(truncated.size() / 2);
  for (const std::string& bad : {std::string("garbage"), std::string(""), truncated, std::string("[1, 2]"),
                                 std::string(R"({"nftables": {}})"), std::string("*nat\n-A OUTPUT -j DNAT\nCOMMIT\n")}) {
    INFO(bad.substr(0, 40));
    try {
      service_pairs_from_nft_json(bad, kCidrs);
      FAIL("no error");
    } catch (const RulesError& e) {
      std::string what = e.what();
      CHECK(what.find('\n') == std::string::npos);
      CHECK((what.starts_with("not JSON (parse error at byte ") || what.starts_with("not `nft -j list ruleset` output")));
    }
  }
  CHECK(service_pairs_from_nft_json(R"({"nftables": []})", kCidrs).empty());
  CHECK(service_pairs_from_nft_json(
            R"({"nftables": [5, "x", {"chain": []}, {"rule": {"family": 1, "chain": "out", "expr": "x"}},
                             {"chain": {"family": "ip", "table": "t", "name": "out", "type": "nat", "hook": "output"}},
                             {"rule": {"family": "ip", "table": "t", "chain": "out", "expr": [
                               7, {"match": []}, {"match": {"left": {"payload": 1}, "right": {"set": 3}}},
                               {"vmap": {"key": 1, "data": {"set": [1, [2], [3, 4]]}}},
                               {"dnat": {"addr": ["10.0.0.8"], "port": -1}}]}}]})",
            kCidrs)
            .empty());
}

TEST_CASE("pairs found by both readers are merged, each reader named", "[nft]") {
  const char* save = "*nat\n-A OUTPUT -d 172.24.0.1/32 -p tcp -m tcp --dport 443 -j DNAT --to-destination 10.0.0.8:6443\n"
                     "-A OUTPUT -d 172.24.0.2/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.0.8\nCOMMIT\n";
  auto from_save = service_pairs_from_iptables_save(save, kCidrs);
  REQUIRE(from_save.size() == 2);
  CHECK(from_save[0].found_in == std::vector<RuleOrigin>{{"iptables-save", "OUTPUT"}});
  auto from_nft = service_pairs_from_nft_json(fixture("kube-proxy-nft.json"), kCidrs);
  // The same pair written by the other with the port spelled out is the same pair.
  auto from_nft_too = service_pairs_from_nft_json(
      one_rule(R"([{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "172.24.0.2"}},
                   {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}},
                   {"dnat": {"addr": "10.0.0.8", "port": 80}}])"),
      kCidrs);
  auto merged = merge_service_pairs({from_save, from_nft, from_nft_too});
  CHECK(merged.size() == from_save.size() + from_nft.size() - 1);
  CHECK(merged[0].chain == "OUTPUT");
  CHECK(merged[0].found_in ==
        std::vector<RuleOrigin>{{"iptables-save", "OUTPUT"},
                                {"nft", "ip kube-proxy endpoint-K3PWAY5L-default/kubernetes/tcp/https__10.0.0.8/6443"}});
  CHECK(merged[1].found_in == std::vector<RuleOrigin>{{"iptables-save", "OUTPUT"}, {"nft", "ip t out"}});
}

TEST_CASE("a rules file given as iptables-save output must read as one", "[rules]") {
  CHECK_NOTHROW(validate_iptables_save(""));
  CHECK_NOTHROW(validate_iptables_save("# Generated by iptables-save v1.8.9\n*nat\n:OUTPUT ACCEPT [0:0]\n"
                                       "-A OUTPUT -d 172.24.0.1/32 -j DNAT --to-destination 10.0.0.8\nCOMMIT\n"));
  try {
    validate_iptables_save("*nat\n" + fixture("plain-nft.json"));
    FAIL("no error");
  } catch (const RulesError& e) {
    CHECK(std::string(e.what()) == "not iptables-save output: line 2 is `{`");
  }
  CHECK_THROWS_WITH(validate_iptables_save("-A OUTPUT\n\x01garbage that goes on and on and on and on and on\n"),
                    "not iptables-save output: line 2 is `?garbage that goes on and on and on and ...`");
}
