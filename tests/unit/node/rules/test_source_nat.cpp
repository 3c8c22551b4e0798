// The source NAT each service pair's connections from the node get, followed through the NAT rules as
// kube-proxy writes them (tests/unit/data: its iptables mode dumped by iptables-save, its nftables
// mode by nft) and through hand-written rules: marks set on the way to the DNAT, then MASQUERADE and
// SNAT on the postrouting hook.
#include <catch2/catch.hpp>
#include <netinet/in.h>

#include <chrono>
#include <regex>

#include "fixtures.h"
#include "node/rules/nat_rules.h"
#include "node/rules/service_pair.h"

using namespace svctrace;
using test::fixture;

namespace {
const std::vector<Cidr> kCidrs = {Cidr::parse("172.24.0.0/13"), Cidr::parse("fd00:10:96::/112")};

NatRules iptables(std::string text) { return {std::move(text), std::nullopt, {}, std::nullopt}; }
NatRules nft(std::string json) { return {std::nullopt, std::move(json), {}, std::nullopt}; }

const ServicePair& find(const std::vector<ServicePair>& pairs, const char* service, const char* backend) {
  for (const auto& p : pairs)
    if (p.service_ip.str() == service && p.backend_ip.str() == backend) return p;
  FAIL("no pair " << service << " -> " << backend);
  throw;
}

// "masquerade iptables-save KUBE-POSTROUTING", "snat 10.0.0.12 ...", "none", or "unknown" when the
// cases that apply disagree.
std::string nat(const ServicePair& p, const char* source, const char* device) {
  auto c = source_nat_for(p.source_nat, *IpAddr::parse(source), device);
  if (!c) return "unknown";
  std::string out(name(c->action));
  if (c->to.is_set()) out += " " + c->to.str();
  if (!c->rules.empty()) out += " " + c->rules + " " + c->chain;
  return out;
}

// The node's NAT table: the lab's DNAT in OUTPUT plus `postrouting` (iptables-save lines).
std::vector<ServicePair> with_postrouting(const std::string& output, const std::string& postrouting) {
  return service_pairs(iptables("*nat\n-A OUTPUT -d 172.24.0.1/32 -p tcp -m tcp --dport 443 -j DNAT "
                                "--to-destination 10.0.0.8:6443\n" + output + postrouting + "COMMIT\n"),
                       kCidrs);
}

std::string nft_ruleset(const std::string& postrouting_rules) {
  return R"({"nftables": [
    {"chain": {"family": "ip", "table": "t", "name": "out", "type": "nat", "hook": "output", "prio": -100}},
    {"chain": {"family": "ip", "table": "t", "name": "post", "type": "nat", "hook": "postrouting", "prio": 100}},
    {"rule": {"family": "ip", "table": "t", "chain": "out", "expr": [
      {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "172.24.0.1"}},
      {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 443}},
      {"dnat": {"addr": "10.0.0.8", "port": 6443}}]}})" +
         postrouting_rules + "]}";
}

std::string nft_post_rule(const std::string& expr) {
  return R"(, {"rule": {"family": "ip", "table": "t", "chain": "post", "expr": )" + expr + "}}";
}
}  // namespace

TEST_CASE("kube-proxy's iptables mode: traffic from outside the pod CIDR is masqueraded", "[source-nat]") {
  auto pairs = service_pairs(iptables(fixture("kube-proxy-iptables-save.txt")), kCidrs);
  const ServicePair& api = find(pairs, "172.24.0.1", "10.0.0.8");
  // The node's own source: marked in KUBE-SVC (! -s 10.244.0.0/16), masqueraded in KUBE-POSTROUTING.
  CHECK(nat(api, "10.141.13.182", "enslf0") == "masquerade iptables-save KUBE-POSTROUTING");
  // A pod's: the pod-CIDR exception leaves it alone; the endpoint's own (hairpin) is marked in KUBE-SEP.
  CHECK(nat(api, "10.244.3.4", "enslf0") == "none");
  CHECK(nat(api, "10.0.0.8", "enslf0") == "masquerade iptables-save KUBE-POSTROUTING");
  CHECK(rewritten_only_text(api.source_nat) ==
        "iptables-save KUBE-POSTROUTING masquerades it only when source not in 10.244.0.0/16, or when source 10.0.0.8");
  // The other endpoint of the statistic split, and a pod endpoint whose own address is in the pod CIDR.
  CHECK(nat(find(pairs, "172.24.0.1", "10.0.0.9"), "10.141.13.182", "enslf0") ==
        "masquerade iptables-save KUBE-POSTROUTING");
  const ServicePair& dns = find(pairs, "172.24.0.10", "10.244.0.5");
  CHECK(nat(dns, "10.244.0.5", "cni0") == "masquerade iptables-save KUBE-POSTROUTING");
  CHECK(nat(dns, "10.244.0.6", "cni0") == "none");
  // ip6tables-save's tables, after iptables-save's in the same text, are IPv6's own.
  const ServicePair& api6 = find(pairs, "fd00:10:96::1", "fd00:0:0:1::8");
  CHECK(nat(api6, "fd00:141::182", "enslf0") == "masquerade iptables-save KUBE-POSTROUTING");
  CHECK(nat(api6, "fd00:10:244::5", "enslf0") == "none");

  // iptables-legacy prints the same text, but for its header.
  std::string legacy = std::regex_replace(fixture("kube-proxy-iptables-save.txt"), std::regex(" \\(nf_tables\\)"), "");
  auto legacy_pairs = service_pairs(iptables(legacy), kCidrs);
  CHECK(find(legacy_pairs, "172.24.0.1", "10.0.0.8").source_nat == api.source_nat);
}

TEST_CASE("a pod CIDR that holds the node's address leaves its traffic unmasqueraded", "[source-nat]") {
  std::string text = std::regex_replace(fixture("kube-proxy-iptables-save.txt"), std::regex("10\\.244\\.0\\.0/16"),
                                        "10.0.0.0/8");
  auto pairs = service_pairs(iptables(text), kCidrs);
  const ServicePair& api = find(pairs, "172.24.0.1", "10.0.0.8");
  CHECK(nat(api, "10.141.13.182", "enslf0") == "none");
  CHECK(nat(api, "192.168.1.5", "enslf0") == "masquerade iptables-save KUBE-POSTROUTING");
}

TEST_CASE("kube-proxy's nftables mode: its masquerading chain masquerades what is marked", "[source-nat]") {
  auto pairs = service_pairs(nft(fixture("kube-proxy-nft.json")), kCidrs);
  const ServicePair& api = find(pairs, "172.24.0.1", "10.0.0.9");
  CHECK(nat(api, "10.141.13.182", "enslf0") == "masquerade nft ip kube-proxy masquerading");
  CHECK(nat(api, "10.244.3.4", "enslf0") == "none");
  CHECK(nat(api, "10.0.0.9", "enslf0") == "masquerade nft ip kube-proxy masquerading");
  // The endpoint kube-proxy's affinity set may send to: the set is filled at run time, and the mark
  // is set before it is consulted, so the outcome does not depend on it.
  CHECK(nat(find(pairs, "172.24.0.1", "10.0.0.8"), "10.141.13.182", "enslf0") ==
        "masquerade nft ip kube-proxy masquerading");
  CHECK(nat(find(pairs, "fd00:10:96::1", "fd00:0:0:1::8"), "fd00:141::182", "enslf0") ==
        "masquerade nft ip6 kube-proxy masquerading");

  std::string narrow = std::regex_replace(fixture("kube-proxy-nft.json"),
                                          std::regex(R"re("addr": "10\.244\.0\.0",(\s*)"len": 16)re"),
                                          R"re("addr": "10.0.0.0",$1"len": 8)re");
  CHECK(nat(find(service_pairs(nft(narrow), kCidrs), "172.24.0.1", "10.0.0.9"), "10.141.13.182", "enslf0") ==
        "none");
}

TEST_CASE("hand-written MASQUERADE, SNAT and marks", "[source-nat]") {
  auto by_device = with_postrouting("", "-A POSTROUTING -o enslf0 -j MASQUERADE\n");
  CHECK(nat(by_device[0], "10.141.13.182", "enslf0") == "masquerade iptables-save POSTROUTING");
  CHECK(nat(by_device[0], "10.141.13.182", "enslf1") == "none");
  auto wildcard = with_postrouting("", "-A POSTROUTING ! -o docker+ -j MASQUERADE\n");
  CHECK(nat(wildcard[0], "10.141.13.182", "docker0") == "none");
  CHECK(nat(wildcard[0], "10.141.13.182", "enslf0") == "masquerade iptables-save POSTROUTING");

  auto snat = with_postrouting("", "-A POSTROUTING -s 10.141.13.0/24 -j SNAT --to-source 10.0.0.12:1024-65535\n");
  CHECK(nat(snat[0], "10.141.13.182", "enslf0") == "snat 10.0.0.12 iptables-save POSTROUTING");
  CHECK(nat(snat[0], "10.0.0.12", "enslf0") == "none");

  // A mark set on the way to the DNAT (generic MARK --set-xmark), matched after it; RETURN, and a goto
  // whose chain returns to POSTROUTING's caller (the hook: no SNAT after it).
  auto marked = service_pairs(
      iptables("*nat\n-A OUTPUT -p tcp -j MARK --set-xmark 0x20/0xff\n"
               "-A OUTPUT -d 172.24.0.1/32 -p tcp --dport 443 -j DNAT --to-destination 10.0.0.8:6443\n"
               "-A POSTROUTING -g MASQ-IF-MARKED\n-A MASQ-IF-MARKED -m mark ! --mark 0x20/0x20 -j RETURN\n"
               "-A MASQ-IF-MARKED -j MASQUERADE\n-A POSTROUTING -j SNAT --to-source 192.0.2.1\nCOMMIT\n"),
      kCidrs);
  CHECK(nat(marked[0], "10.141.13.182", "enslf0") == "masquerade iptables-save MASQ-IF-MARKED");
  auto unmarked = with_postrouting("", "-A POSTROUTING -g MASQ-IF-MARKED\n-A MASQ-IF-MARKED -m mark ! --mark 0x20/0x20 "
                                       "-j RETURN\n-A MASQ-IF-MARKED -j MASQUERADE\n-A POSTROUTING -j SNAT --to-source "
                                       "192.0.2.1\n");
  CHECK(nat(unmarked[0], "10.141.13.182", "enslf0") == "none");

  // A match svctrace does not evaluate between the source and the rewrite: it promises none.
  auto addrtype = with_postrouting("", "-A POSTROUTING -m addrtype ! --dst-type LOCAL -j MASQUERADE\n");
  CHECK(nat(addrtype[0], "10.141.13.182", "enslf0") == "unknown");
}

TEST_CASE("nft's masquerade and snat, by device, source and mark", "[source-nat]") {
  auto rule = [](const std::string& expr) { return service_pairs(nft(nft_ruleset(nft_post_rule(expr))), kCidrs); };
  auto by_device = rule(R"([{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "enslf0"}},
                            {"masquerade": {"flags": "fully-random"}}])");
  CHECK(nat(by_device[0], "10.141.13.182", "enslf0") == "masquerade nft ip t post");
  CHECK(nat(by_device[0], "10.141.13.182", "enslf1") == "none");
  auto snat = rule(R"([{"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                                  "right": {"set": ["10.1.2.3", {"prefix": {"addr": "10.244.0.0", "len": 16}}]}}},
                       {"snat": {"addr": {"range": ["10.0.0.12", "10.0.0.14"]}}}])");
  CHECK(nat(snat[0], "10.141.13.182", "enslf0") == "snat 10.0.0.12 nft ip t post");
  CHECK(nat(snat[0], "10.244.9.9", "enslf0") == "none");
  auto unmarked = rule(R"([{"match": {"op": "==", "left": {"meta": {"key": "mark"}}, "right": 16384}},
                           {"masquerade": null}])");
  CHECK(nat(unmarked[0], "10.141.13.182", "enslf0") == "none");
}

TEST_CASE("iptables-nft's rules, opaque to nft, are read from iptables-save", "[source-nat]") {
  // What nft shows of iptables-nft's KUBE-POSTROUTING: its MASQUERADE as an xt statement.
  std::string xt = nft_ruleset(
      R"(, {"chain": {"family": "ip", "table": "nat", "name": "POSTROUTING", "type": "nat", "hook": "postrouting", "prio": 100}},
           {"rule": {"family": "ip", "table": "nat", "chain": "POSTROUTING", "expr": [{"xt": {"type": "target", "name": "MASQUERADE"}}]}})");
  CHECK(nat(service_pairs(nft(xt), kCidrs)[0], "10.141.13.182", "enslf0") == "unknown");
  NatRules both{"*nat\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n", xt, {}, std::nullopt};
  auto pairs = service_pairs(both, kCidrs);
  REQUIRE(pairs.size() == 1);
  CHECK(nat(pairs[0], "10.141.13.182", "enslf0") == "masquerade iptables-save POSTROUTING");
}

TEST_CASE("rules that multiply the ways through them are bounded: no source NAT promised", "[source-nat]") {
  std::string rules = "*nat\n";
  for (int i = 0; i < 24; i++)
    rules += "-A OUTPUT -m statistic --mode random --probability 0.5 -j MARK --set-xmark " +
             std::to_string(1 << i) + "/" + std::to_string(1 << i) + "\n";
  rules += "-A OUTPUT -d 172.24.0.1/32 -p tcp --dport 443 -j DNAT --to-destination 10.0.0.8:6443\n"
           "-A POSTROUTING -j MASQUERADE\nCOMMIT\n";
  auto start = std::chrono::steady_clock::now();
  auto pairs = service_pairs(iptables(rules), kCidrs);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0].source_nat.empty());
}
