#include "node/rules/nat_program.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace svctrace {

std::vector<size_t> NatChain::rules_for(const IpAddr& daddr) const {
  if (!indexed_) {
    for (size_t i = 0; i < rules.size(); i++)
      (rules[i].only_to.is_set() ? by_daddr_[rules[i].only_to] : any_).push_back(i);
    indexed_ = true;
  }
  auto it = by_daddr_.find(daddr);
  if (it == by_daddr_.end()) return any_;
  std::vector<size_t> out;
  std::merge(any_.begin(), any_.end(), it->second.begin(), it->second.end(), std::back_inserter(out));
  return out;
}

namespace {

// The kernel's own bound on nested jumps (NFT_JUMP_STACK_SIZE); iptables' is no deeper in practice.
constexpr int kMaxDepth = 16;
// Ways one walk may follow through a chain at once, ways it may end, and steps it may take in all: a
// real ruleset needs a few ways per source condition and a few ends per endpoint of a service; past
// them the pair keeps no case (no source NAT promised).
constexpr size_t kMaxPaths = 512;
constexpr size_t kMaxEnds = 1 << 16;
constexpr size_t kMaxSteps = 1'000'000;
struct TooComplex {};

bool subset(const Cidr& a, const Cidr& b) {
  return a.addr.family == b.addr.family && b.prefix_len <= a.prefix_len && b.contains(a.addr);
}
bool disjoint(const Cidr& a, const Cidr& b) { return !subset(a, b) && !subset(b, a); }

// `pos`, one prefix that the source is in, leaves it in none of `neg`'s.
bool excludes(const SourceMatch& pos, const SourceMatch& neg) {
  return !pos.negated && neg.negated && pos.any_of.size() == 1 &&
         std::any_of(neg.any_of.begin(), neg.any_of.end(), [&](const Cidr& n) { return subset(pos.any_of[0], n); });
}

// Whether the source can meet both conditions (false for the contradictions rules produce: in and not
// in the same prefixes, in a prefix inside one it is not in, in two prefixes that do not overlap).
bool compatible(const SourceMatch& a, const SourceMatch& b) {
  if (a.any_of == b.any_of) return a.negated == b.negated;
  if (excludes(a, b) || excludes(b, a)) return false;
  bool two_prefixes = !a.negated && !b.negated && a.any_of.size() == 1 && b.any_of.size() == 1;
  return !(two_prefixes && disjoint(a.any_of[0], b.any_of[0]));
}

bool wildcard(const std::string& name) { return !name.empty() && (name.back() == '+' || name.back() == '*'); }

bool compatible(const DeviceMatch& a, const DeviceMatch& b) {
  if (a.any_of == b.any_of) return a.negated == b.negated;
  bool two_names = !a.negated && !b.negated && a.any_of.size() == 1 && b.any_of.size() == 1 &&
                   !wildcard(a.any_of[0]) && !wildcard(b.any_of[0]);
  return !two_names;
}

// What a walk has assumed of the source and the egress device, and the mark it gave the packet.
struct Path {
  std::vector<SourceMatch> when;
  std::vector<DeviceMatch> out;
  uint32_t mark = 0;
  bool operator==(const Path&) const = default;
};

// `conditions` with `c` added, or nullopt when they contradict it.
template <typename Condition>
bool assume(std::vector<Condition>& conditions, const Condition& c) {
  for (const Condition& have : conditions) {
    if (have == c) return true;
    if (!compatible(have, c)) return false;
  }
  conditions.push_back(c);
  return true;
}

std::vector<Path> unique(std::vector<Path> paths) {
  std::vector<Path> out;
  for (Path& p : paths)
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(std::move(p));
  return out;
}

enum class EndKind : uint8_t { Returned, Stop, Opaque, Dnat, Masquerade, Snat };

// One way a chain (or a hook's chains) can end for the packet.
struct End {
  Path path;
  EndKind kind = EndKind::Returned;
  IpAddr addr;  // Dnat, Snat
  uint16_t port = 0;
  const NatProgram* program = nullptr;  // where it ended
  size_t chain = 0;
};

// A packet with known fields followed through one program's chains on one hook.
class Walk {
 public:
  Walk(const NatProgram& program, NatHook hook, const PacketFields& fields)
      : program_(program), hook_(hook), fields_(fields) {}

  // Every way chain `c` can end for a packet that enters it on `path`.
  std::vector<End> chain(size_t c, const Path& path, int depth) {
    if (depth > kMaxDepth) throw TooComplex{};
    const NatChain& chain = program_.chains[c];
    Ctx ctx{c, depth, {}, {}};
    std::vector<Path> active{path};
    for (size_t i : chain.rules_for(fields_.daddr)) {
      for (const Path& at : active) rule(ctx, chain.rules[i], 0, at);
      active = unique(std::move(ctx.next));
      ctx.next.clear();
      if (active.size() > kMaxPaths || ctx.ends.size() > kMaxEnds) throw TooComplex{};
      if (active.empty()) break;
    }
    for (Path& at : active) ctx.ends.push_back(end(c, std::move(at), EndKind::Returned));
    return std::move(ctx.ends);
  }

 private:
  struct Ctx {
    size_t chain;
    int depth;
    std::vector<End> ends;   // where the chain ends
    std::vector<Path> next;  // what goes on to the chain's next rule
  };

  End end(size_t chain, Path path, EndKind kind, IpAddr addr = {}, uint16_t port = 0) const {
    return {std::move(path), kind, addr, port, &program_, chain};
  }

  // The rule's steps from `i` on, for a packet on `at`.
  void rule(Ctx& ctx, const NatRule& r, size_t i, const Path& at) {
    if (++steps_ > kMaxSteps) throw TooComplex{};
    if (i == r.steps.size()) {
      ctx.next.push_back(at);
      return;
    }
    auto go_on = [&](const Path& p) { rule(ctx, r, i + 1, p); };
    if (!split(r.steps[i], at, go_on, ctx.next)) act(ctx, r.steps[i], at, go_on);
  }

  // A match: calls `yes` for each way it holds, adds each way it does not to `no`. false for a
  // statement.
  template <typename Yes>
  bool split(const NatStep& s, const Path& at, Yes&& yes, std::vector<Path>& no) const {
    auto branch = [&](Truth t) {
      if (t != Truth::No) yes(at);
      if (t != Truth::Yes) no.push_back(at);
    };
    if (const auto* m = std::get_if<nat::SourceIs>(&s)) {
      assumed(at, &Path::when, SourceMatch{m->any_of, m->negated}, yes);
      assumed(at, &Path::when, SourceMatch{m->any_of, !m->negated}, [&](const Path& p) { no.push_back(p); });
    } else if (const auto* d = std::get_if<nat::OutDeviceIs>(&s); d && hook_ == NatHook::Output) {
      branch(Truth::Maybe);  // on the output hook, the device of the route to the service, not the backend
    } else if (d) {
      assumed(at, &Path::out, DeviceMatch{d->any_of, d->negated}, yes);
      assumed(at, &Path::out, DeviceMatch{d->any_of, !d->negated}, [&](const Path& p) { no.push_back(p); });
    } else if (const auto* k = std::get_if<nat::MarkIs>(&s)) {
      branch(((at.mark & k->mask) == k->value) != k->negated ? Truth::Yes : Truth::No);
    } else if (const auto* t = std::get_if<nat::PacketIs>(&s)) {
      branch(t->test(fields_));
    } else if (std::holds_alternative<nat::Unknown>(s)) {
      branch(Truth::Maybe);
    } else {
      return false;
    }
    return true;
  }

  // Calls `then` with `at` plus condition c, unless they contradict.
  template <typename Condition, typename Then>
  static void assumed(const Path& at, std::vector<Condition> Path::*field, const Condition& c, Then&& then) {
    Path p = at;
    if (assume(p.*field, c)) then(p);
  }

  // A statement: where it ends the chain, or `go_on` with the packet after it.
  template <typename GoOn>
  void act(Ctx& ctx, const NatStep& s, const Path& at, GoOn&& go_on) {
    if (const auto* m = std::get_if<nat::SetMark>(&s)) {
      Path p = at;
      p.mark = m->op.apply(p.mark);
      go_on(p);
    } else if (const auto* j = std::get_if<nat::Jump>(&s)) {
      follow(ctx, *j, at, go_on);
    } else if (const auto* v = std::get_if<nat::Vmap>(&s)) {
      bool hit = false;
      for (const auto& [jump, truth] : v->lookup(fields_)) {
        follow(ctx, jump, at, go_on);
        hit |= truth == Truth::Yes;
      }
      if (!hit) ctx.next.push_back(at);  // a lookup that misses ends the rule, not the chain
    } else if (std::holds_alternative<nat::Return>(s)) {
      ctx.ends.push_back(end(ctx.chain, at, EndKind::Returned));
    } else {
      ctx.ends.push_back(terminal(ctx.chain, s, at));
    }
  }

  End terminal(size_t chain, const NatStep& s, const Path& at) const {
    if (const auto* d = std::get_if<nat::Dnat>(&s)) return end(chain, at, EndKind::Dnat, d->addr, d->port);
    if (const auto* n = std::get_if<nat::Snat>(&s)) return end(chain, at, EndKind::Snat, n->to);
    if (std::holds_alternative<nat::Masquerade>(s)) return end(chain, at, EndKind::Masquerade);
    if (std::holds_alternative<nat::Opaque>(s)) return end(chain, at, EndKind::Opaque);
    return end(chain, at, EndKind::Stop);
  }

  // Into another chain: what it ends in ends here too, except a return, which goes on after the
  // jump (or, for a goto, returns from here).
  template <typename GoOn>
  void follow(Ctx& ctx, const nat::Jump& j, const Path& at, GoOn&& go_on) {
    for (End& e : chain(j.chain, at, ctx.depth + 1)) {
      if (e.kind != EndKind::Returned) ctx.ends.push_back(std::move(e));
      else if (j.go_to) ctx.ends.push_back(end(ctx.chain, std::move(e.path), EndKind::Returned));
      else go_on(e.path);
    }
  }

  const NatProgram& program_;
  NatHook hook_;
  PacketFields fields_;
  size_t steps_ = 0;
};

// A condition that another of `all` implies says nothing more: "in 10.0.0.8/32" makes "not in
// 10.244.0.0/16" and "in 10.0.0.0/8" go without saying.
bool implied(const SourceMatch& c, const std::vector<SourceMatch>& all) {
  return std::any_of(all.begin(), all.end(), [&](const SourceMatch& other) {
    if (other == c || other.negated || other.any_of.size() != 1) return false;
    const Cidr& in = other.any_of[0];
    auto holds = [&](const Cidr& x) { return c.negated ? disjoint(in, x) : subset(in, x); };
    return c.negated ? std::all_of(c.any_of.begin(), c.any_of.end(), holds)
                     : std::any_of(c.any_of.begin(), c.any_of.end(), holds);
  });
}

std::vector<SourceMatch> simplified(const std::vector<SourceMatch>& when) {
  std::vector<SourceMatch> out;
  for (const SourceMatch& c : when)
    if (!implied(c, when)) out.push_back(c);
  return out;
}

SourceNatCase to_case(const Path& path, const End& e) {
  SourceNatCase c;
  c.when = simplified(path.when);
  c.out = path.out;
  switch (e.kind) {
    case EndKind::Masquerade: c.action = SnatAction::Masquerade; break;
    case EndKind::Snat: c.action = SnatAction::Snat; c.to = e.addr; break;
    case EndKind::Opaque: c.action = SnatAction::Unknown; break;
    case EndKind::Returned: case EndKind::Stop: case EndKind::Dnat: return c;
  }
  c.rules = e.program->rules;
  c.chain = e.program->chains[e.chain].name;
  return c;
}

// Follows service pairs' connections from this node through the programs' hooks.
class SourceNatFinder {
 public:
  explicit SourceNatFinder(const std::vector<const NatProgram*>& programs) : programs_(programs) {
    std::set<uint8_t> iptables_families;
    for (const NatProgram* p : programs_)
      if (p->rules == "iptables-save")
        for (const NatChain& c : p->chains) iptables_families.insert(c.family);
    for (const NatProgram* p : programs_)
      for (const NatChain& c : p->chains)
        if (c.holds_xt && (iptables_families.count(c.family) || iptables_families.count(0)))
          read_by_iptables_save_.insert({p, c.table});
  }

  std::vector<SourceNatCase> cases(const ServicePair& pair) {
    if (!pair.backend_ip.is_set()) return {};  // no endpoint: no connection leaves
    try {
      std::vector<SourceNatCase> out;
      for (const End& dnat : dnats(pair)) {
        PacketFields backend{pair.backend_ip, pair.proto, effective_port(pair.backend_port, pair.service_port)};
        for (const End& e : hook(NatHook::Postrouting, backend, dnat.path.mark)) {
          Path both = dnat.path;
          bool fits = std::all_of(e.path.when.begin(), e.path.when.end(), [&](auto& c) { return assume(both.when, c); }) &&
                      std::all_of(e.path.out.begin(), e.path.out.end(), [&](auto& c) { return assume(both.out, c); });
          SourceNatCase c = to_case(both, e);
          if (fits && std::find(out.begin(), out.end(), c) == out.end()) out.push_back(std::move(c));
        }
      }
      return out;
    } catch (const TooComplex&) {
      return {};
    }
  }

 private:
  static uint16_t effective_port(uint16_t port, uint16_t otherwise) { return port ? port : otherwise; }

  // The ways the output hook DNATs the pair's service to its backend, or leaves it to IPVS.
  std::vector<End> dnats(const ServicePair& pair) {
    PacketFields service{pair.service_ip, pair.proto, pair.service_port};
    std::vector<End> out;
    for (const End& e : hook(NatHook::Output, service, 0)) {
      // IPVS translates what the output hook's rules let through untranslated.
      bool to_backend = pair.by_ipvs ? e.kind == EndKind::Returned || e.kind == EndKind::Stop
                                     : e.kind == EndKind::Dnat && e.addr == pair.backend_ip &&
                                           effective_port(e.port, pair.service_port) ==
                                               effective_port(pair.backend_port, pair.service_port);
      if (to_backend) out.push_back(e);
    }
    return out;
  }

  // Every way a packet goes through the hook's base chains, from no assumption and `mark`; remembered
  // per packet, as is a walk past the bounds.
  const std::vector<End>& hook(NatHook hook, const PacketFields& f, uint32_t mark) {
    auto key = std::tuple{hook, f.daddr, f.proto, f.dport, mark};
    auto found = walked_.find(key);
    if (found != walked_.end()) return found->second;
    if (too_complex_.count(key)) throw TooComplex{};
    try {
      return walked_.emplace(key, through(hook, f, mark)).first->second;
    } catch (const TooComplex&) {
      too_complex_.insert(key);  // every pair of that service or backend: none promised, at no further cost
      throw;
    }
  }

  // The hook's base chains by priority, each in turn until one ends in a NAT.
  std::vector<End> through(NatHook hook, const PacketFields& f, uint32_t mark) const {
    std::vector<End> done;
    std::vector<Path> going{Path{{}, {}, mark}};
    for (const auto& [program, chain] : bases(hook, f.daddr.family)) {
      Walk walk(*program, hook, f);
      std::vector<Path> next;
      for (const Path& p : going)
        for (End& e : walk.chain(chain, p, 0))
          (e.kind == EndKind::Returned || e.kind == EndKind::Stop ? next.push_back(std::move(e.path))
                                                                   : done.push_back(std::move(e)));
      going = unique(std::move(next));
    }
    for (Path& p : going) done.push_back({std::move(p), EndKind::Returned, {}, 0, nullptr, 0});
    return done;
  }

  // The base chains of `hook` that see a packet of `family`, by priority (iptables-save's first
  // among equals).
  std::vector<std::pair<const NatProgram*, size_t>> bases(NatHook hook, uint8_t family) const {
    std::vector<std::tuple<int, size_t, const NatProgram*, size_t>> sorted;
    for (size_t i = 0; i < programs_.size(); i++) {
      const NatProgram* p = programs_[i];
      for (const NatBase& b : p->bases) {
        const NatChain& c = p->chains[b.chain];
        if (b.hook != hook || (c.family && c.family != family) || read_by_iptables_save_.count({p, c.table})) continue;
        sorted.emplace_back(b.priority, i, p, b.chain);
      }
    }
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
    });
    std::vector<std::pair<const NatProgram*, size_t>> out;
    for (const auto& [priority, index, program, chain] : sorted) out.emplace_back(program, chain);
    return out;
  }

  const std::vector<const NatProgram*>& programs_;
  std::set<std::pair<const NatProgram*, std::string>> read_by_iptables_save_;
  using HookKey = std::tuple<NatHook, IpAddr, uint8_t, uint16_t, uint32_t>;
  std::map<HookKey, std::vector<End>> walked_;
  std::set<HookKey> too_complex_;
};

}  // namespace

void annotate_source_nat(std::vector<ServicePair>& pairs, const std::vector<const NatProgram*>& programs) {
  SourceNatFinder finder(programs);
  for (ServicePair& p : pairs) p.source_nat = finder.cases(p);
}

}  // namespace svctrace
