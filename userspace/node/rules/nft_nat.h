// nft's ruleset compiled into the NAT program (nat_program.h), item by item as nft.cpp streams them:
// every chain of the ip, ip6 and inet tables, the NAT base chains on the output and postrouting hooks,
// and each rule's matches and statements as steps. kube-proxy's nftables mode marks service traffic
// from outside the pod CIDR (`ip daddr 172.24.0.1 tcp dport 443 ip saddr != 10.244.0.0/16 jump
// mark-for-masquerade`, whose rule is `mark set mark or 0x4000`) and masquerades marked packets in its
// `masquerading` chain (`mark and 0x4000 == 0 return`, `mark set mark xor 0x4000`, `masquerade
// fully-random`) on the postrouting hook: the program follows exactly these.
//
// A rule holding an xt statement (iptables-nft's) is opaque: it may or may not match, and what it
// does is unknown.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "node/rules/nat_program.h"
#include "node/rules/nft_expr.h"

namespace svctrace::nft {

// The elements of a named set or verdict map, and for a map the chain each sends to.
struct SetData {
  std::vector<Elem> elems;
  std::vector<std::optional<nat::Jump>> verdicts;  // maps only, per element
};
using TableItemId = std::tuple<std::string, std::string, std::string>;  // family, table, name
using Sets = std::map<TableItemId, SetData>;

class NatBuilder {
 public:
  // One item of the "nftables" array.
  void add(const json& item);
  NatProgram finish() { return std::move(program_); }

 private:
  size_t chain(const std::string& family, const std::string& table, const std::string& name);
  std::optional<nat::Jump> verdict(const std::string& family, const std::string& table, const json& v);
  void add_chain(const json& c);
  void add_rule(const json& r);
  void add_set(const json& s);
  NatStep match(const std::string& family, const std::string& table, const json& m, NatRule& rule) const;
  std::optional<NatStep> statement(const std::string& family, const std::string& table, const json& s);
  NatStep vmap(const std::string& family, const std::string& table, const json& v);

  NatProgram program_{"nft", {}, {}};
  std::map<TableItemId, size_t> chains_;
  // Shared with the steps that look elements up, which outlive the builder; complete once the whole
  // ruleset is read, before any lookup.
  std::shared_ptr<Sets> sets_ = std::make_shared<Sets>();
};

}  // namespace svctrace::nft
