#include "node/rules/service_pair.h"

#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <tuple>

namespace svctrace {

namespace {

// Calls `fn` with each line of `text`, without its "\n" or "\r\n".
template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string_view line = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(line);
  }
}

// Splits one rule line into words, keeping "quoted strings" (comments) as one word.
std::vector<std::string> words(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false, has = false;
  for (size_t i = 0; i < line.size(); i++) {
    char c = line[i];
    if (c == '\\' && quoted && i + 1 < line.size()) {
      cur += line[++i];
    } else if (c == '"') {
      quoted = !quoted;
      has = true;
    } else if (c == ' ' && !quoted) {
      if (has) out.push_back(cur);
      cur.clear();
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push_back(cur);
  return out;
}

// What the pair walk reads of a rule.
struct Rule {
  std::string chain, dst, proto, dport, jump, to_destination;
};

std::optional<Rule> parse_rule(const std::vector<std::string>& w) {
  if (w.size() < 2 || w[0] != "-A") return std::nullopt;
  Rule r;
  r.chain = w[1];
  for (size_t i = 2; i + 1 < w.size(); i++) {
    const std::string& opt = w[i];
    if (opt == "-d" || opt == "--destination") r.dst = w[++i];
    else if (opt == "-p" || opt == "--protocol") r.proto = w[++i];
    else if (opt == "--dport" || opt == "--destination-port") r.dport = w[++i];
    else if (opt == "-j" || opt == "--jump" || opt == "-g" || opt == "--goto") r.jump = w[++i];
    else if (opt == "--to-destination") r.to_destination = w[++i];
  }
  return r;
}

std::optional<uint16_t> port(std::string_view s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

// "10.0.0.8:6443", "10.0.0.8", "[fd00::8]:6443", "fd00::8"; ranges ("a-b") are not followed.
std::optional<std::pair<IpAddr, uint16_t>> parse_target(std::string_view s) {
  std::string_view addr = s, port_text;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    addr = s.substr(1, close - 1);
    if (close + 1 < s.size() && s[close + 1] == ':') port_text = s.substr(close + 2);
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    addr = s.substr(0, s.find(':'));
    port_text = s.substr(s.find(':') + 1);
  }
  auto ip = IpAddr::parse(addr);
  if (!ip) return std::nullopt;
  uint16_t p = 0;
  if (!port_text.empty()) {
    auto v = port(port_text);
    if (!v) return std::nullopt;
    p = *v;
  }
  return std::pair{*ip, p};
}

// The address of a "-d" match if it names one host ("172.24.0.1/32", "172.24.0.1", "fd00::1/128").
std::optional<IpAddr> host(std::string_view d) {
  auto slash = d.find('/');
  auto ip = IpAddr::parse(d.substr(0, slash));
  if (!ip) return std::nullopt;
  if (slash != std::string_view::npos && port(d.substr(slash + 1)) != ip->size() * 8) return std::nullopt;
  return ip;
}

uint8_t proto_number(const std::string& p) {
  return p == "tcp" ? IPPROTO_TCP : p == "udp" ? IPPROTO_UDP : p == "sctp" ? IPPROTO_SCTP : 0;
}

// --- iptables-save's text -------------------------------------------------------------------------

// The rules of every *nat table of iptables-save's output (iptables-save's and ip6tables-save's, one
// after the other when read from the node), by chain, tables merged: the pair walk's view. A *nat
// table's lines are read up to the next table, COMMIT or not.
std::map<std::string, std::vector<Rule>> nat_chains(std::string_view text) {
  std::map<std::string, std::vector<Rule>> chains;
  bool in_nat = false;
  for_each_line(text, [&](std::string_view line) {
    if (line.empty() || line[0] == '#') return;
    if (line[0] == '*') {
      in_nat = line == "*nat";
    } else if (auto r = in_nat ? parse_rule(words(line)) : std::nullopt) {
      chains[r->chain].push_back(*r);
    }
  });
  return chains;
}

// From each rule on a service IP, through the jumps (KUBE-SVC-*, KUBE-SEP-*), to every DNAT reachable.
class PairFinder {
 public:
  PairFinder(const std::map<std::string, std::vector<Rule>>& chains, const std::vector<Cidr>& cidrs)
      : chains_(chains), cidrs_(cidrs) {}

  std::vector<ServicePair> pairs() {
    for (const auto& [chain, rules] : chains_)
      for (const Rule& r : rules) from(r);
    return std::move(out_);
  }

 private:
  // A rule on a service IP of the CIDRs starts a walk.
  void from(const Rule& r) {
    auto svc = host(r.dst);
    if (!svc || std::none_of(cidrs_.begin(), cidrs_.end(), [&](const Cidr& c) { return c.contains(*svc); })) return;
    ServicePair base;
    base.service_ip = *svc;
    base.proto = proto_number(r.proto);
    base.service_port = port(r.dport).value_or(0);
    follow(base, r, 0);
  }

  void follow(const ServicePair& base, const Rule& r, int depth) {
    if (r.jump == "DNAT") {
      add_dnat(base, r);
      return;
    }
    auto it = chains_.find(r.jump);
    if (it == chains_.end() || depth > 8) return;
    // A chain reached again for the same service leads to the same DNATs; without this, chains that
    // jump on in several rules multiply the paths (found by fuzz/fuzz_iptables_save.cpp: a chain
    // with a few rules jumping to itself took minutes).
    auto [seen, added] = walked_.try_emplace({r.jump, base.proto, base.service_ip, base.service_port}, depth);
    if (!added) {
      if (seen->second <= depth) return;
      seen->second = depth;
    }
    for (const Rule& next : it->second) follow(base, next, depth + 1);
  }

  void add_dnat(const ServicePair& base, const Rule& r) {
    auto target = parse_target(r.to_destination);
    if (!target || target->first.family != base.service_ip.family) return;
    ServicePair p = base;
    p.backend_ip = target->first;
    p.backend_port = target->second;
    p.chain = r.chain;
    p.found_in = {{"iptables-save", r.chain}};
    if (seen_.insert(pair_key(p)).second) out_.push_back(p);
  }

  const std::map<std::string, std::vector<Rule>>& chains_;
  const std::vector<Cidr>& cidrs_;
  std::vector<ServicePair> out_;
  std::set<PairKey> seen_;
  std::map<std::tuple<std::string, uint8_t, IpAddr, uint16_t>, int> walked_;  // chain and service -> depth
};

}  // namespace

std::vector<ServicePair> service_pairs_from_iptables_save(std::string_view text, const std::vector<Cidr>& cidrs) {
  return PairFinder(nat_chains(text), cidrs).pairs();
}

void validate_iptables_save(std::string_view text) {
  size_t number = 0;
  for_each_line(text, [&](std::string_view line) {
    number++;
    if (line.empty() || line[0] == '#' || line[0] == '*' || line[0] == ':' || line.starts_with("-A ") ||
        line == "COMMIT")
      return;
    std::string shown;
    for (char c : line.substr(0, 40)) shown += (c >= 0x20 && c < 0x7f) ? c : '?';
    throw RulesError(fmt::format("not iptables-save output: line {} is `{}{}`", number, shown,
                                 line.size() > 40 ? "..." : ""));
  });
}
PairKey pair_key(const ServicePair& p) {
  return {p.proto, p.service_ip, p.service_port, p.backend_ip, p.backend_port ? p.backend_port : p.service_port};
}

std::vector<ServicePair> merge_service_pairs(const std::vector<std::vector<ServicePair>>& sources) {
  std::vector<ServicePair> out;
  std::map<PairKey, size_t> index;
  for (const auto& pairs : sources) {
    for (const ServicePair& p : pairs) {
      auto [it, added] = index.try_emplace(pair_key(p), out.size());
      if (added) {
        out.push_back(p);
        continue;
      }
      auto& found = out[it->second].found_in;
      for (const RuleOrigin& o : p.found_in)
        if (std::find(found.begin(), found.end(), o) == found.end()) found.push_back(o);
    }
  }
  return out;
}

}  // namespace svctrace
