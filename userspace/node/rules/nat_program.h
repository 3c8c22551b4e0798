// The node's NAT chains as one program to follow a packet through, whichever tool wrote them: the
// iptables-save and nft readers compile their rules into it (iptables.cpp, nft.cpp), and
// annotate_source_nat() follows each service pair's connections from this node: through the NAT
// chains on the output hook (the marks set on the way, up to the DNAT to the pair's backend), then
// through those on the postrouting hook (MASQUERADE, SNAT), which gives the pair's source_nat cases.
//
// The packet's destination, protocol and port are known (the service's, then the backend's), and so
// is its mark from the marks set on the way (starting at 0). Its source and egress device are not:
// they are the routing's answers, so a match on them splits the walk in two, one side assuming it
// holds and the other that it does not, and each case carries the conditions it assumed. A match
// svctrace does not evaluate (`-m statistic`, `-m addrtype`, `fib`, a set filled at run time) splits
// the walk with no condition: both sides are possible.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "node/rules/service_pair.h"

namespace svctrace {

// What the rules can know of the packet for certain: before the DNAT the service's address,
// protocol and port, after it the backend's.
struct PacketFields {
  IpAddr daddr;
  uint8_t proto = 0;
  uint16_t dport = 0;
};

enum class Truth : uint8_t { No, Yes, Maybe };
inline Truth negate(Truth t) { return t == Truth::Yes ? Truth::No : t == Truth::No ? Truth::Yes : Truth::Maybe; }

// Every change of the packet mark (iptables' --set-xmark, --set-mark, --or-mark, --and-mark,
// --xor-mark; nft's `mark set ...`) is mark = (mark & ~clear) ^ toggle.
struct MarkOp {
  uint32_t clear = 0, toggle = 0;
  uint32_t apply(uint32_t mark) const { return (mark & ~clear) ^ toggle; }
  // This, then `next`.
  MarkOp then(const MarkOp& next) const { return {clear | next.clear, (toggle & ~next.clear) ^ next.toggle}; }
};

// The steps of a rule, in order: matches (the rule goes on only where one holds) and statements.
namespace nat {
struct SourceIs {  // the source is open: the walk splits
  std::vector<Cidr> any_of;
  bool negated = false;
};
struct OutDeviceIs {  // the egress device is open: the walk splits
  std::vector<std::string> any_of;
  bool negated = false;
};
struct MarkIs {  // (mark & mask) == value
  uint32_t mask = ~0u, value = 0;
  bool negated = false;
};
struct PacketIs {  // on the known fields, or constant (`-i` of a packet this node sends: it has none)
  std::function<Truth(const PacketFields&)> test;
};
struct Unknown {};  // not evaluated: the walk splits with no condition
struct SetMark {
  MarkOp op;
};
struct Jump {
  size_t chain = 0;
  bool go_to = false;  // a chain reached by goto returns to the caller of the chain that went there
};
struct Vmap {  // a verdict map: the chains the lookup may give, and how surely
  std::function<std::vector<std::pair<Jump, Truth>>(const PacketFields&)> lookup;
};
struct Return {};
struct Stop {};        // accept, drop, reject, redirect: no further rule of this table's hook chain
struct Opaque {};      // a rule svctrace cannot read (an xt statement): what follows is unknown
struct Dnat {
  IpAddr addr;
  uint16_t port = 0;  // 0: the packet's own
};
struct Masquerade {};
struct Snat {
  IpAddr to;
};
}  // namespace nat

using NatStep = std::variant<nat::SourceIs, nat::OutDeviceIs, nat::MarkIs, nat::PacketIs, nat::Unknown, nat::SetMark,
                             nat::Jump, nat::Vmap, nat::Return, nat::Stop, nat::Opaque, nat::Dnat, nat::Masquerade,
                             nat::Snat>;

struct NatRule {
  std::vector<NatStep> steps;
  IpAddr only_to;  // set when the rule matches no destination but this one: skipped fast for the others
};

struct NatChain {
  NatChain(std::string chain_name, std::string table_name, uint8_t chain_family)
      : name(std::move(chain_name)), table(std::move(table_name)), family(chain_family) {}

  std::string name;   // as the pairs' chains are named: "KUBE-POSTROUTING", "ip kube-proxy masquerading"
  std::string table;  // the table it belongs to ("ip nat"), for telling iptables-nft's tables apart
  uint8_t family = 0;   // AF_INET, AF_INET6, or 0 for both (nft's inet; an iptables table without addresses)
  bool holds_xt = false;  // nft: a rule of iptables-nft's is in it
  std::vector<NatRule> rules;

  // The indexes of the rules a packet to `daddr` may match, in order: those of any destination and
  // those of `daddr` only (a chain such as KUBE-SERVICES holds one rule per service IP).
  std::vector<size_t> rules_for(const IpAddr& daddr) const;

 private:
  mutable bool indexed_ = false;  // built on first use
  mutable std::vector<size_t> any_;
  mutable std::map<IpAddr, std::vector<size_t>> by_daddr_;
};

enum class NatHook : uint8_t { Output, Postrouting };

// A base chain: where the kernel enters the program. Base chains of one hook run by priority.
struct NatBase {
  size_t chain = 0;
  NatHook hook = NatHook::Output;
  int priority = 0;
};

struct NatProgram {
  std::string rules;  // "iptables-save" or "nft"
  std::vector<NatChain> chains;
  std::vector<NatBase> bases;
};

// What a reader gives: the service pairs, and its rules compiled into a program.
struct RulesRead {
  std::vector<ServicePair> pairs;
  NatProgram program;
};
// As service_pairs_from_iptables_save and service_pairs_from_nft_json (service_pair.h), which return
// the pairs of these.
RulesRead read_iptables_save(std::string_view text, const std::vector<Cidr>& cidrs);
RulesRead read_nft_json(std::string_view text, const std::vector<Cidr>& cidrs);

// Fills each pair's source_nat from the programs (iptables-save's first). nft's view of the tables
// iptables-nft writes, whose rules it shows as opaque xt statements, is left out when iptables-save's
// program covers that family (it prints those very rules whole); it is kept, opaque, otherwise. A pair
// whose walk grows past svctrace's bounds keeps no case: no source NAT is promised for it.
void annotate_source_nat(std::vector<ServicePair>& pairs, const std::vector<const NatProgram*>& programs);

}  // namespace svctrace
