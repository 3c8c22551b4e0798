// What both NAT rules fuzz targets check of the pairs a parser returns, beyond not crashing or
// tripping the sanitizers: each is a service IP of the CIDRs with a backend of the same family, found
// by the reader that returned it; merging a list with itself changes nothing; a refusal is one line.
// Then the source NAT followed through the reader's program (bounded however the rules multiply the
// ways through them): every case that rewrites the source names where, in that program.
#pragma once
#include <string_view>
#include <vector>

#include "node/rules/nat_program.h"
#include "node/rules/service_pair.h"

namespace fuzz {

// The CIDRs every input is read against: the lab's, one per family.
inline const std::vector<svctrace::Cidr>& cidrs() {
  static const std::vector<svctrace::Cidr> c = {svctrace::Cidr::parse("172.24.0.0/13"),
                                               svctrace::Cidr::parse("fd00:10:96::/112")};
  return c;
}

inline void check_pairs(const std::vector<svctrace::ServicePair>& pairs, std::string_view reader) {
  for (const auto& p : pairs) {
    bool in = false;
    for (const auto& c : cidrs()) in |= c.contains(p.service_ip);
    if (!in || p.backend_ip.family != p.service_ip.family) __builtin_trap();
    if (p.found_in.size() != 1 || p.found_in[0].rules != reader || p.found_in[0].chain != p.chain) __builtin_trap();
  }
  if (svctrace::merge_service_pairs({pairs, pairs}).size() != pairs.size()) __builtin_trap();
}

inline void check_source_nat(svctrace::RulesRead read) {
  svctrace::annotate_source_nat(read.pairs, {&read.program});
  for (const auto& p : read.pairs) {
    for (const auto& c : p.source_nat) {
      bool rewrites = c.action == svctrace::SnatAction::Masquerade || c.action == svctrace::SnatAction::Snat;
      if (rewrites && (c.rules != read.program.rules || c.chain.empty())) __builtin_trap();
    }
  }
}

inline void check_refusal(const svctrace::RulesError& e) {
  if (std::string_view(e.what()).find_first_of("\r\n") != std::string_view::npos) __builtin_trap();
}

}  // namespace fuzz
