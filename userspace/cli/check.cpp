// `svctrace check`: without traffic, each service IP -> endpoint pair of the NAT rules checked
// against the namespace's routing.
#include <fmt/format.h>
#include <linux/capability.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "diagnose/check.h"
#include "diagnose/safe_fix.h"
#include "node/caps.h"
#include "node/netlink.h"
#include "node/rules/nat_rules.h"
#include "node/rules/service_pair.h"

namespace svctrace::cli {

namespace {

// Rules that exist but could not be read are not a node that passes: check fails, naming what failed
// and, when that is the cause, the capability svctrace lacks.
void require_readable(const NatRules& rules) {
  if (rules.unreadable.empty()) return;
  std::string why = fmt::format("{}", fmt::join(rules.unreadable, ", "));
  if (!has_capability(effective_capabilities(), CAP_NET_ADMIN)) why += "; reading them needs CAP_NET_ADMIN (run as root)";
  throw Failure(kExitRuntime, "check: the NAT rules could not be read, so nothing was checked: " + why);
}

// Returns true when every pair would work.
bool check_pairs(const Options& o, RoutingView& routing, Output& out) {
  NatRules rules = read_nat_rules(o.rules_file, o.nft_file, spdlog::level::info);
  require_readable(rules);
  auto pairs = service_pairs(rules, o.cidrs);
  if (pairs.empty()) spdlog::warn("no DNAT rule on an address of the CIDRs was found: nothing to check");
  bool all_ok = true;
  for (const auto& p : pairs) {
    CheckResult r = check_pair(p, routing, o.cidrs);
    if (r.diagnosis.fix_route) prove_fix_safe(r.diagnosis, pairs, routing);
    all_ok &= r.ok();
    out.check(p, r);
    out.flush();
  }
  return all_ok;
}

}  // namespace

int run_check(const Options& o, Output& out) {
  try {
    NetlinkRouting routing;
    const bool all_ok = check_pairs(o, routing, out);
    warn_if_stdout_lost(out);
    return all_ok ? kExitOk : kExitDiagnosed;
  } catch (const Failure&) {
    throw;
  } catch (const std::exception& e) {
    throw Failure(kExitRuntime, std::string("check: ") + e.what());
  }
}

}  // namespace svctrace::cli
