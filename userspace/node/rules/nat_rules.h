// The NAT rules of the current network namespace, read as the tools that manage them print them for
// machines: `iptables-save` / `ip6tables-save` and `nft -j list ruleset`; or the same output captured
// in files (`svctrace check --iptables-save FILE --nft-json FILE`). Both feed `svctrace check`, the
// report's config snapshot and the check that a printed fix breaks no other service.
#pragma once
#include <spdlog/common.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "node/rules/service_pair.h"

namespace svctrace {

struct NatRules {
  std::optional<std::string> iptables_save;  // iptables-save's then ip6tables-save's output; nullopt: not read
  std::optional<std::string> nft_json;       // nft -j list ruleset; nullopt: not read
  // The tools that are installed but failed ("`iptables-save -t nat` exit 4"): their rules are
  // unknown, which is not the same as there being none.
  std::vector<std::string> unreadable;
  std::optional<std::string> ipvsadm;  // ipvsadm -Ln --exact; nullopt: not read (no IPVS here)
};

// The rules files given (either may be empty), or, when neither is, the namespace's own: a tool that
// is not installed (not on PATH) is skipped with a line at `absent_level`, one that fails with a
// warning. IPVS's table is read only where IPVS is loaded (/proc/net/ip_vs: ipvsadm would load it);
// there, without ipvsadm, its virtual servers are unreadable. Throws RulesError for a file that cannot
// be read.
NatRules read_nat_rules(const std::string& iptables_save_file = "", const std::string& nft_json_file = "",
                        spdlog::level::level_enum absent_level = spdlog::level::debug);

// For the command line's validators: "" when the file holds that tool's output, otherwise why not, in
// one line that names the file.
std::string iptables_save_file_error(const std::string& path);
std::string nft_json_file_error(const std::string& path);

// The pairs of every source, each once (merge_service_pairs), iptables-save's first, IPVS's last. nft output that
// cannot be read is skipped with a warning.
std::vector<ServicePair> service_pairs(const NatRules& rules, const std::vector<Cidr>& cidrs);

// A pair as `check --json` prints it: "service" ({"proto", "ip", "port"}, and "name" when kube-proxy's
// rules name it), "backend", "chain" and "found_in" ([{"rules", "chain"}]); and where it was found, for the human line: "iptables-save OUTPUT, nft ip kube-proxy ...".
nlohmann::json service_pair_json(const ServicePair& p);
std::string found_in_text(const ServicePair& p);

// For the report's config: "nat_rules" (iptables-save's text, "" when not read), "nft_ruleset" (the
// text nft printed, or null; `jq '.config.nft_ruleset | fromjson'` reads it: kept as text, as a
// cluster's ruleset is tens of MB, and ten times that as a JSON tree) and "service_pairs" (as
// service_pair_json prints them).
nlohmann::json nat_rules_config(const NatRules& rules, const std::vector<Cidr>& cidrs);

}  // namespace svctrace
