#include "node/rules/service_pair.h"

#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "node/rules/kube_service_name.h"
#include "node/rules/nat_program.h"

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
  std::string service;  // kube-proxy's name for the service, from the rule's comment
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
    else if (opt == "--comment") r.service = kube_service_from_comment(w[++i]);
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

// --- the rules compiled for following a packet (nat_program.h) ------------------------------------

// "0x4000", "16384".
std::optional<uint32_t> number(std::string_view s) {
  int base = 10;
  if (s.starts_with("0x") || s.starts_with("0X")) {
    s.remove_prefix(2);
    base = 16;
  }
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// "0x4000/0x4000" -> {0x4000, 0x4000}; without "/MASK", the mask is all ones.
std::optional<std::pair<uint32_t, uint32_t>> value_mask(std::string_view s) {
  auto slash = s.find('/');
  auto value = number(s.substr(0, slash));
  auto mask = slash == std::string_view::npos ? std::optional<uint32_t>(~0u) : number(s.substr(slash + 1));
  if (!value || !mask) return std::nullopt;
  return std::pair{*value, *mask};
}

// "10.244.0.0/16", "10.0.0.8" (a host).
std::optional<Cidr> prefix(std::string_view s) {
  try {
    return Cidr::parse(s);
  } catch (const CidrError&) {
    return std::nullopt;
  }
}

// "443", "30000:32767" (a range, inclusive).
std::optional<std::pair<uint16_t, uint16_t>> port_range(std::string_view s) {
  auto colon = s.find(':');
  auto low = port(s.substr(0, colon));
  auto high = colon == std::string_view::npos ? low : port(s.substr(colon + 1));
  if (!low || !high) return std::nullopt;
  return std::pair{*low, *high};
}

// The first address of --to-source's "10.0.0.12", "10.0.0.1-10.0.0.5:1024-65535", "[fd00::1]:80".
std::optional<IpAddr> first_address(std::string_view s) {
  if (s.starts_with("[")) s = s.substr(1, s.find(']') - 1);
  else if (std::count(s.begin(), s.end(), ':') == 1) s = s.substr(0, s.find(':'));
  return IpAddr::parse(s.substr(0, s.find('-')));
}

NatStep packet_is(std::function<Truth(const PacketFields&)> test, bool negated) {
  if (!negated) return nat::PacketIs{std::move(test)};
  return nat::PacketIs{[test = std::move(test)](const PacketFields& f) { return negate(test(f)); }};
}

Truth truth(bool b) { return b ? Truth::Yes : Truth::No; }

// One rule's matches (the words before -j), compiled: `-s`, `-o` and `--mark` for the walk to follow,
// `-d`, `-p`, `--dport(s)` on the packet's known fields, `-i` (a packet this node sends has no input
// device), and every other match as one svctrace does not evaluate.
class MatchCompiler {
 public:
  explicit MatchCompiler(NatRule& rule) : rule_(rule) {}

  // The match option w[i], negated or not; returns how many words after it it took.
  size_t add(const std::vector<std::string>& w, size_t i, bool negated) {
    const std::string& o = w[i];
    const std::string arg = i + 1 < w.size() ? w[i + 1] : "";
    if (o == "-s" || o == "--source" || o == "--src") return source(arg, negated);
    if (o == "-d" || o == "--destination" || o == "--dst") return destination(arg, negated);
    if (o == "-p" || o == "--protocol") return protocol(arg, negated);
    if (o == "--dport" || o == "--destination-port" || o == "--dports" || o == "--destination-ports")
      return dports(arg, negated);
    if (o == "-o" || o == "--out-interface") return push(nat::OutDeviceIs{{arg}, negated});
    if (o == "-i" || o == "--in-interface") return push(nat::PacketIs{[t = truth(negated)](auto&) { return t; }});
    if (o == "--mark") return mark(arg, negated);
    if (o == "-m" || o == "--match" || o == "--comment") return 1;  // a module does nothing but by its options
    // Any other option of a match, and its arguments (the words up to the next option).
    steps().push_back(nat::Unknown{});
    size_t n = 0;
    while (i + n + 1 < w.size() && w[i + n + 1] != "!" && !w[i + n + 1].starts_with("-")) n++;
    return n;
  }

  uint8_t family() const { return family_; }

 private:
  std::vector<NatStep>& steps() { return rule_.steps; }
  size_t push(NatStep s) {
    steps().push_back(std::move(s));
    return 1;
  }
  size_t unknown() { return push(nat::Unknown{}); }
  void saw(const IpAddr& ip) {
    if (!family_) family_ = ip.family;
  }

  size_t source(const std::string& arg, bool negated) {
    auto c = prefix(arg);
    if (!c) return unknown();
    saw(c->addr);
    return push(nat::SourceIs{{*c}, negated});
  }
  size_t destination(const std::string& arg, bool negated) {
    auto c = prefix(arg);
    if (!c) return unknown();
    saw(c->addr);
    if (!negated && c->prefix_len == c->addr.size() * 8) rule_.only_to = c->addr;
    return push(packet_is([c = *c](const PacketFields& f) { return truth(c.contains(f.daddr)); }, negated));
  }
  size_t protocol(const std::string& arg, bool negated) {
    if (arg == "all" || arg == "0") return 1;
    uint8_t p = proto_number(arg);
    if (!p) return unknown();
    return push(packet_is([p](const PacketFields& f) { return truth(f.proto == p); }, negated));
  }
  // "443", "80,443", "30000:32767".
  size_t dports(const std::string& arg, bool negated) {
    std::vector<std::pair<uint16_t, uint16_t>> ranges;
    for (size_t start = 0; start <= arg.size();) {
      size_t comma = std::min(arg.find(',', start), arg.size());
      auto r = port_range(std::string_view(arg).substr(start, comma - start));
      if (!r) return unknown();
      ranges.push_back(*r);
      start = comma + 1;
    }
    return push(packet_is([ranges](const PacketFields& f) {
      return truth(std::any_of(ranges.begin(), ranges.end(), [&](auto& r) { return f.dport >= r.first && f.dport <= r.second; }));
    }, negated));
  }
  size_t mark(const std::string& arg, bool negated) {
    auto vm = value_mask(arg);
    if (!vm) return unknown();
    return push(nat::MarkIs{vm->second, vm->first, negated});
  }

  NatRule& rule_;
  uint8_t family_ = 0;
};

// MARK's options: --set-xmark V/M, --set-mark V[/M], --or-mark V, --and-mark V, --xor-mark V.
std::optional<MarkOp> mark_op(const std::string& option, const std::string& arg) {
  auto vm = value_mask(arg);
  if (!vm) return std::nullopt;
  auto [v, m] = *vm;
  if (option == "--set-xmark") return MarkOp{m, v};
  if (option == "--set-mark") return MarkOp{m | v, v};
  if (option == "--or-mark") return MarkOp{v, v};
  if (option == "--and-mark") return MarkOp{~v, 0};
  if (option == "--xor-mark") return MarkOp{0, v};
  return std::nullopt;
}

// The value of `option` among a target's words, or "".
std::string option(const std::vector<std::string>& args, std::string_view option) {
  for (size_t i = 0; i + 1 < args.size(); i++)
    if (args[i] == option) return args[i + 1];
  return {};
}

// What a built-in target does, as steps (none for those that change nothing the walk follows: LOG,
// CONNMARK, ...).
std::vector<NatStep> builtin_target(const std::string& target, const std::vector<std::string>& args) {
  if (target == "DNAT") {
    auto to = parse_target(option(args, "--to-destination"));
    return {to ? NatStep(nat::Dnat{to->first, to->second}) : NatStep(nat::Stop{})};
  }
  if (target == "SNAT") {
    auto to = first_address(option(args, "--to-source"));
    return {to ? NatStep(nat::Snat{*to}) : NatStep(nat::Opaque{})};
  }
  if (target == "MASQUERADE") return {nat::Masquerade{}};
  if (target == "NETMAP") return {nat::Opaque{}};
  if (target == "RETURN") return {nat::Return{}};
  if (target == "ACCEPT" || target == "DROP" || target == "REJECT" || target == "REDIRECT") return {nat::Stop{}};
  if (target == "MARK") {
    for (size_t i = 0; i + 1 < args.size(); i++)
      if (auto op = mark_op(args[i], args[i + 1])) return {nat::SetMark{*op}};
    return {nat::Opaque{}};
  }
  return {};
}

// One *nat table of iptables-save's, compiled into the program: chains as they are declared, each
// rule's matches at once, and its target once the table's chains are all known.
class TableReader {
 public:
  TableReader(NatProgram& program, uint8_t family, std::string table)
      : program_(program), family_(family), table_(std::move(table)) {}

  void chain(const std::string& name) {
    if (index_.try_emplace(name, program_.chains.size()).second)
      program_.chains.emplace_back(name, table_, 0);
  }

  // A rule's words ("-A", chain, options..., "-j", target, target options...).
  void rule(const std::vector<std::string>& w) {
    chain(w[1]);
    NatChain& c = program_.chains[index_[w[1]]];
    c.rules.emplace_back();
    MatchCompiler matches(c.rules.back());
    bool negated = false;
    for (size_t i = 2; i < w.size(); i++) {
      if (w[i] == "!") {
        negated = true;
        continue;
      }
      if (w[i] == "-j" || w[i] == "--jump" || w[i] == "-g" || w[i] == "--goto") {
        if (i + 1 < w.size())
          targets_.push_back({index_[w[1]], c.rules.size() - 1, w[i + 1], w[i] == "-g" || w[i] == "--goto",
                              std::vector<std::string>(w.begin() + static_cast<long>(i) + 2, w.end())});
        break;
      }
      i += matches.add(w, i, negated);
      negated = false;
    }
    if (!family_) family_ = matches.family();
  }

  // The table is complete: targets point at its chains, OUTPUT and POSTROUTING enter it.
  void finish() {
    for (const Target& t : targets_) {
      auto& steps = program_.chains[t.chain].rules[t.rule].steps;
      auto it = index_.find(t.name);
      if (it != index_.end()) steps.push_back(nat::Jump{it->second, t.go_to});
      else for (NatStep& s : builtin_target(t.name, t.args)) steps.push_back(std::move(s));
    }
    for (const auto& [name, i] : index_) {
      program_.chains[i].family = family_;
      if (name == "OUTPUT") program_.bases.push_back({i, NatHook::Output, -100});
      if (name == "POSTROUTING") program_.bases.push_back({i, NatHook::Postrouting, 100});
    }
  }

 private:
  struct Target {
    size_t chain, rule;
    std::string name;
    bool go_to;
    std::vector<std::string> args;
  };
  NatProgram& program_;
  uint8_t family_;  // the header's ("# Generated by ip6tables-save"), else that of the first address
  std::string table_;
  std::map<std::string, size_t> index_;
  std::vector<Target> targets_;
};

// --- iptables-save's text -------------------------------------------------------------------------

// Every *nat table of iptables-save's output (iptables-save's and ip6tables-save's, one after the
// other when read from the node), read once for both uses.
class NatTablesReader {
 public:
  // The rules of every *nat table by chain, tables merged, as the pair walk reads them.
  std::map<std::string, std::vector<Rule>> chains;
  NatProgram program{"iptables-save", {}, {}};

  void line(std::string_view line) {
    // "# Generated by ip6tables-save v1.8.9 (nf_tables) on ...": the tables that follow are IPv6.
    if (line.starts_with("# Generated by ip6tables-save")) family_ = AF_INET6;
    else if (line.starts_with("# Generated by iptables-save")) family_ = AF_INET;
    if (line.empty() || line[0] == '#') return;
    if (line[0] == '*') {
      end_table();
      in_nat_ = line == "*nat";
      if (in_nat_) table_.emplace(program, family_, fmt::format("nat #{}", ++tables_));
    } else if (line == "COMMIT") {
      end_table();
    } else if (in_nat_ && line[0] == ':' && table_) {
      table_->chain(std::string(line.substr(1, line.find(' ') - 1)));
    } else if (in_nat_) {
      rule(line);
    }
  }

  void end_table() {
    if (table_) table_->finish();
    table_.reset();
  }

 private:
  void rule(std::string_view line) {
    auto w = words(line);
    auto r = parse_rule(w);
    if (!r) return;
    chains[r->chain].push_back(*r);
    if (table_) table_->rule(w);
  }

  uint8_t family_ = 0;
  bool in_nat_ = false;  // the pair walk reads a *nat table's lines up to the next table, COMMIT or not
  std::optional<TableReader> table_;
  int tables_ = 0;
};

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

  void follow(const ServicePair& from, const Rule& r, int depth) {
    // The name kube-proxy gave the rule nearest the DNAT (its KUBE-SEP-*'s, else its KUBE-SVC-*'s).
    ServicePair base = from;
    if (!r.service.empty()) base.service = r.service;
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

RulesRead read_iptables_save(std::string_view text, const std::vector<Cidr>& cidrs) {
  NatTablesReader tables;
  for_each_line(text, [&](std::string_view line) { tables.line(line); });
  tables.end_table();
  return {PairFinder(tables.chains, cidrs).pairs(), std::move(tables.program)};
}

std::vector<ServicePair> service_pairs_from_iptables_save(std::string_view text, const std::vector<Cidr>& cidrs) {
  return read_iptables_save(text, cidrs).pairs;
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

std::string service_name(const std::vector<ServicePair>& pairs, uint8_t proto, const IpAddr& service_ip,
                         uint16_t service_port) {
  for (const ServicePair& p : pairs)
    if (!p.service.empty() && p.service_ip == service_ip && (!p.proto || p.proto == proto) &&
        (!p.service_port || p.service_port == service_port))
      return p.service;
  return "";
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
      ServicePair& kept = out[it->second];
      for (const RuleOrigin& o : p.found_in)
        if (std::find(kept.found_in.begin(), kept.found_in.end(), o) == kept.found_in.end()) kept.found_in.push_back(o);
      if (kept.service.empty()) kept.service = p.service;
    }
  }
  return out;
}

}  // namespace svctrace
