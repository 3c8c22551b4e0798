#include "node/rules/kube_service_name.h"

#include <algorithm>
#include <array>

namespace svctrace {

namespace {

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// A DNS label (a namespace, a port's name) or, with dots, a DNS subdomain (a Service's name): what the
// API server lets kube-proxy write, so that a comment of a person's ("kubernetes service portals") is
// not taken for one.
bool dns_name(std::string_view s, bool dots) {
  if (s.empty() || s.size() > 253 || !lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return lower_alnum(c) || c == '-' || (dots && c == '.'); });
}

// "namespace/name" and an optional port name, as kube-proxy prints them, or "".
std::string service_port(std::string_view ns, std::string_view name, std::string_view port) {
  if (!dns_name(ns, false) || !dns_name(name, true) || (!port.empty() && !dns_name(port, false))) return "";
  std::string out = std::string(ns) + "/" + std::string(name);
  if (!port.empty()) out += ":" + std::string(port);
  return out;
}

}  // namespace

std::string kube_service_from_comment(std::string_view comment) {
  std::string_view first = comment.substr(0, comment.find(' '));
  size_t slash = first.find('/');
  if (slash == std::string_view::npos) return "";
  std::string_view ns = first.substr(0, slash), rest = first.substr(slash + 1);
  size_t colon = rest.find(':');
  if (colon == std::string_view::npos) return service_port(ns, rest, "");
  if (colon + 1 == rest.size()) return "";
  return service_port(ns, rest.substr(0, colon), rest.substr(colon + 1));
}

std::string kube_service_from_nft_chain(std::string_view chain) {
  // "KIND-HASH-namespace/name/protocol/port[__endpoint]", HASH 8 characters of base32.
  constexpr std::array kinds = {"service-", "endpoint-", "external-", "firewall-"};
  auto kind = std::find_if(kinds.begin(), kinds.end(), [&](const char* k) { return chain.starts_with(k); });
  if (kind == kinds.end()) return "";
  chain.remove_prefix(std::string_view(*kind).size());
  if (chain.size() < 10 || chain[8] != '-') return "";
  chain.remove_prefix(9);
  chain = chain.substr(0, chain.find("__"));
  std::array<std::string_view, 4> parts;  // namespace, name, protocol, port
  for (size_t i = 0; i < parts.size(); i++) {
    size_t slash = chain.find('/');
    if ((slash == std::string_view::npos) != (i == parts.size() - 1)) return "";
    parts[i] = chain.substr(0, slash);
    chain.remove_prefix(slash == std::string_view::npos ? chain.size() : slash + 1);
  }
  if (parts[2] != "tcp" && parts[2] != "udp" && parts[2] != "sctp") return "";
  return service_port(parts[0], parts[1], parts[3]);
}

}  // namespace svctrace
