// The source NAT a service pair's connections from this node get: what the node's NAT rules do to the
// source address after the DNAT, found by following the packet through them (nat_program.h) and kept
// with the pair as cases, each saying for which sources and egress devices the source is rewritten
// (MASQUERADE, SNAT) or left alone. kube-proxy marks service traffic from outside the pod CIDR
// (`! -s 10.244.0.0/16 -j KUBE-MARK-MASQ`, mark 0x4000) and masquerades marked packets in
// KUBE-POSTROUTING: its cases say "masquerade when the source is not in 10.244.0.0/16, else none".
// The source and the egress device are left open because they are the routing's answers, which
// `check` and the diagnosis ask for themselves.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "correlate/address.h"

namespace svctrace {

// A condition on the packet's source address: in one of the prefixes, or (negated) in none of them.
struct SourceMatch {
  std::vector<Cidr> any_of;
  bool negated = false;
  bool matches(const IpAddr& source) const;
  bool operator==(const SourceMatch&) const = default;
};

// A condition on the device the packet leaves by: one of the names (a trailing `+`, as iptables
// writes it, or `*`, as nft does, is a prefix), or (negated) none of them.
struct DeviceMatch {
  std::vector<std::string> any_of;
  bool negated = false;
  bool matches(const std::string& device) const;
  bool operator==(const DeviceMatch&) const = default;
};

enum class SnatAction : uint8_t {
  None,        // the source is left as connect() chose it
  Masquerade,  // rewritten to the egress device's address
  Snat,        // rewritten to `to`
  Unknown,     // decided by rules svctrace cannot read (iptables-nft's, seen only through nft)
};
// "none", "masquerade", "snat", "unknown".
std::string_view name(SnatAction a);

struct SourceNatCase {
  std::vector<SourceMatch> when;  // all hold
  std::vector<DeviceMatch> out;   // all hold
  SnatAction action = SnatAction::None;
  IpAddr to;           // Snat: the address (the first of a range)
  std::string rules;   // where the rewrite is: "iptables-save" or "nft", and the chain; "" for None
  std::string chain;
  bool applies(const IpAddr& source, const std::string& device) const;
  bool operator==(const SourceNatCase&) const = default;
};

// The case of `cases` that applies to a connection from `source` leaving by `device`; nullopt when
// none does (no source NAT), or when the cases that do disagree (the rules hold matches svctrace does
// not evaluate, such as `-m statistic` or `-m addrtype`, between the source and the rewrite; it then
// promises none).
std::optional<SourceNatCase> source_nat_for(const std::vector<SourceNatCase>& cases, const IpAddr& source,
                                            const std::string& device);

// "source not in 10.244.0.0/16, out enslf0"; "" for a case with no condition.
std::string conditions_text(const SourceNatCase& c);

// For a pair whose connections from `source` are not rewritten although other sources' are: "iptables-save
// KUBE-POSTROUTING masquerades it only when source not in 10.0.0.0/8, or when source 10.0.0.8"; "" when
// no case rewrites the source.
std::string rewritten_only_text(const std::vector<SourceNatCase>& cases);

}  // namespace svctrace
