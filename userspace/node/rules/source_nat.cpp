#include "node/rules/source_nat.h"

#include <fmt/format.h>

#include <algorithm>

namespace svctrace {

bool SourceMatch::matches(const IpAddr& source) const {
  bool in = std::any_of(any_of.begin(), any_of.end(), [&](const Cidr& c) { return c.contains(source); });
  return in != negated;
}

bool DeviceMatch::matches(const std::string& device) const {
  bool named = std::any_of(any_of.begin(), any_of.end(), [&](const std::string& n) {
    bool prefix = !n.empty() && (n.back() == '+' || n.back() == '*');
    return prefix ? device.starts_with(std::string_view(n).substr(0, n.size() - 1)) : device == n;
  });
  return named != negated;
}

std::string_view name(SnatAction a) {
  switch (a) {
    case SnatAction::None: return "none";
    case SnatAction::Masquerade: return "masquerade";
    case SnatAction::Snat: return "snat";
    case SnatAction::Unknown: return "unknown";
  }
  return "";
}

bool SourceNatCase::applies(const IpAddr& source, const std::string& device) const {
  return std::all_of(when.begin(), when.end(), [&](const SourceMatch& m) { return m.matches(source); }) &&
         std::all_of(out.begin(), out.end(), [&](const DeviceMatch& m) { return m.matches(device); });
}

std::optional<SourceNatCase> source_nat_for(const std::vector<SourceNatCase>& cases, const IpAddr& source,
                                            const std::string& device) {
  std::optional<SourceNatCase> found;
  for (const SourceNatCase& c : cases) {
    if (!c.applies(source, device)) continue;
    if (!found) found = c;
    else if (found->action != c.action || found->to != c.to) return std::nullopt;
  }
  return found;
}

namespace {

// "10.0.0.8" for a host, else the prefix.
std::string prefix_text(const Cidr& c) { return c.prefix_len == c.addr.size() * 8 ? c.addr.str() : c.str(); }

std::string source_text(const SourceMatch& m) {
  std::vector<std::string> prefixes;
  for (const Cidr& c : m.any_of) prefixes.push_back(prefix_text(c));
  std::string list = prefixes.size() == 1 ? prefixes[0] : fmt::format("{{{}}}", fmt::join(prefixes, ", "));
  bool host = m.any_of.size() == 1 && m.any_of[0].prefix_len == m.any_of[0].addr.size() * 8;
  if (host) return fmt::format("source {}{}", m.negated ? "not " : "", list);
  return fmt::format("source {}in {}", m.negated ? "not " : "", list);
}

std::string device_text(const DeviceMatch& m) {
  std::string list = m.any_of.size() == 1 ? m.any_of[0] : fmt::format("{{{}}}", fmt::join(m.any_of, ", "));
  return fmt::format("out {}{}", m.negated ? "not " : "", list);
}

std::string rewrite_text(const SourceNatCase& c) {
  switch (c.action) {
    case SnatAction::Masquerade: return "masquerades";
    case SnatAction::Snat: return "SNATs to " + c.to.str();
    case SnatAction::None: case SnatAction::Unknown: return "";
  }
  return "";
}

}  // namespace

std::string conditions_text(const SourceNatCase& c) {
  std::vector<std::string> parts;
  for (const SourceMatch& m : c.when) parts.push_back(source_text(m));
  for (const DeviceMatch& m : c.out) parts.push_back(device_text(m));
  return fmt::format("{}", fmt::join(parts, ", "));
}

namespace {

bool rewrites(const SourceNatCase& c) { return c.action == SnatAction::Masquerade || c.action == SnatAction::Snat; }

// The cases that rewrite the source, as one line says them: a "source not H" that another case's
// "source H" alone covers goes without saying ("not in P and not H, or H" is "not in P, or H"), and
// the cases with exceptions come first.
std::vector<SourceNatCase> rewriting(const std::vector<SourceNatCase>& cases) {
  std::vector<SourceNatCase> out;
  std::copy_if(cases.begin(), cases.end(), std::back_inserter(out), rewrites);
  auto covered = [&](const SourceNatCase& c, const SourceMatch& m) {
    return m.negated && std::any_of(out.begin(), out.end(), [&](const SourceNatCase& o) {
             return o.action == c.action && o.to == c.to && o.out.empty() &&
                    o.when == std::vector<SourceMatch>{SourceMatch{m.any_of, false}};
           });
  };
  std::vector<SourceNatCase> said = out;
  for (SourceNatCase& c : said) std::erase_if(c.when, [&](const SourceMatch& m) { return covered(c, m); });
  std::stable_partition(said.begin(), said.end(), [](const SourceNatCase& c) {
    return std::any_of(c.when.begin(), c.when.end(), [](const SourceMatch& m) { return m.negated; });
  });
  return said;
}

}  // namespace

std::string rewritten_only_text(const std::vector<SourceNatCase>& cases) {
  std::string out;
  std::string first;  // "iptables-save KUBE-POSTROUTING masquerades"
  for (const SourceNatCase& c : rewriting(cases)) {
    std::string what = fmt::format("{} {} {}", c.rules, c.chain, rewrite_text(c));
    std::string when = c.when.empty() && c.out.empty() ? "matches svctrace does not evaluate hold" : conditions_text(c);
    if (out.empty()) out = fmt::format("{} it only when {}", what, when);
    else out += fmt::format(", or{} when {}", what == first ? "" : " (" + what + ")", when);
    if (first.empty()) first = what;
  }
  return out;
}

}  // namespace svctrace
