#include "node/rules/nft_nat.h"

#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>

namespace svctrace::nft {

namespace {

uint8_t family_number(const std::string& family) {
  return family == "ip" ? AF_INET : family == "ip6" ? AF_INET6 : 0;
}

// A match's values, or a verdict map's elements, looked up for a packet with known fields: which
// elements it may match, and how surely. A named set is found on the first lookup (the rule may come
// before the set in nft's output); exact elements are indexed then, for kube-proxy's service-ips map
// holds one per service.
class Elements {
 public:
  Elements(std::vector<Key> keys, SetData inline_elems, std::shared_ptr<const Sets> sets, TableItemId named)
      : keys_(std::move(keys)), inline_(std::move(inline_elems)), sets_(std::move(sets)), named_(std::move(named)) {}

  // Each element that may match f: its index and Yes or Maybe. nullopt for a named set the ruleset
  // does not hold.
  std::optional<std::vector<std::pair<size_t, Truth>>> find(const PacketFields& f) const {
    const SetData* data = resolve();
    if (!data) return std::nullopt;
    Binding packet{f.daddr, f.proto, f.dport};
    std::vector<std::pair<size_t, Truth>> out;
    auto exact = exact_.find(restricted(packet));
    if (exact != exact_.end())
      for (size_t i : exact->second) out.emplace_back(i, Truth::Yes);
    for (size_t i : inexact_)
      if (Truth t = truth(data->elems[i], packet); t != Truth::No) out.emplace_back(i, t);
    std::sort(out.begin(), out.end());
    return out;
  }

  // Whether f matches one of the values: Yes, No, or Maybe.
  Truth any(const PacketFields& f) const {
    auto found = find(f);
    if (!found) return Truth::Maybe;
    Truth t = Truth::No;
    for (const auto& [i, truth] : *found) t = truth == Truth::Yes ? Truth::Yes : t == Truth::Yes ? t : Truth::Maybe;
    return t;
  }

  std::optional<nat::Jump> verdict(size_t i) const {
    const SetData* data = resolve();
    return data && i < data->verdicts.size() ? data->verdicts[i] : std::nullopt;
  }

 private:
  using IndexKey = std::tuple<IpAddr, uint8_t, uint16_t>;

  const SetData* resolve() const {
    if (!resolved_) {
      resolved_ = true;
      if (std::get<2>(named_).empty()) data_ = &inline_;
      else if (auto it = sets_->find(named_); it != sets_->end()) data_ = &it->second;
      if (data_) index();
    }
    return data_;
  }

  // An element whose every part is one value of a field the key looks at.
  bool exact(const Elem& e) const {
    if (e.size() != keys_.size()) return false;
    for (size_t i = 0; i < e.size(); i++)
      if (keys_[i].field == Field::Other || e[i].kind == Atom::Kind::Any) return false;
    return true;
  }

  // The packet's fields that the key looks at, the others unset: the index key of the exact elements
  // it matches.
  IndexKey restricted(const Binding& b) const {
    IndexKey k;
    for (const Key& key : keys_) {
      if (key.field == Field::Daddr) std::get<0>(k) = b.daddr;
      if (key.field == Field::Proto || (key.field == Field::Dport && key.proto)) std::get<1>(k) = b.proto;
      if (key.field == Field::Dport) std::get<2>(k) = b.dport;
    }
    return k;
  }

  Truth truth(const Elem& e, const Binding& packet) const {
    std::optional<Binding> b = bind_all(keys_, e);
    if (!b || !merge(packet, *b)) return Truth::No;
    return exact(e) ? Truth::Yes : Truth::Maybe;
  }

  void index() const {
    for (size_t i = 0; i < data_->elems.size(); i++) {
      const Elem& e = data_->elems[i];
      std::optional<Binding> b = exact(e) ? bind_all(keys_, e) : std::nullopt;
      if (b) exact_[IndexKey{b->daddr, b->proto, b->dport}].push_back(i);
      else if (!exact(e)) inexact_.push_back(i);
    }
  }

  std::vector<Key> keys_;
  SetData inline_;
  std::shared_ptr<const Sets> sets_;
  TableItemId named_;  // (family, table, "") for the rule's own values
  mutable bool resolved_ = false;
  mutable const SetData* data_ = nullptr;
  mutable std::map<IndexKey, std::vector<size_t>> exact_;
  mutable std::vector<size_t> inexact_;
};

// A mark statement's value as a change of the mark: `mark or 0x4000`, `mark xor 0x4000`, `0x10`,
// `mark and 0xff or 0x100`; nullopt for one made of anything else (the ct mark, ...).
std::optional<MarkOp> mark_value(const json& v) {
  if (auto n = number(&v); n && *n <= ~0u) return MarkOp{~0u, static_cast<uint32_t>(*n)};
  if (const json* meta = member(v, "meta")) {
    if (text(member(*meta, "key")) == "mark") return MarkOp{};
    return std::nullopt;
  }
  for (const char* op : {"|", "&", "^"}) {
    const json* args = member(v, op);
    if (!args || !args->is_array() || args->size() != 2) continue;
    auto inner = mark_value((*args)[0]);
    auto n = number(&(*args)[1]);
    if (!inner || !n || *n > ~0u) return std::nullopt;
    auto x = static_cast<uint32_t>(*n);
    MarkOp next = *op == '|' ? MarkOp{x, x} : *op == '&' ? MarkOp{~x, 0} : MarkOp{0, x};
    return inner->then(next);
  }
  return std::nullopt;
}

bool is_meta(const json& left, std::initializer_list<const char*> keys) {
  const json* meta = member(left, "meta");
  std::string key = text(meta ? member(*meta, "key") : nullptr);
  return std::any_of(keys.begin(), keys.end(), [&](const char* k) { return key == k; });
}

// `meta mark 0x4000` or `mark and 0x4000 == 0`: the mask, or nullopt for another left side.
std::optional<uint32_t> mark_mask(const json& left) {
  if (is_meta(left, {"mark"})) return ~0u;
  const json* args = member(left, "&");
  if (!args || !args->is_array() || args->size() != 2 || !is_meta((*args)[0], {"mark"})) return std::nullopt;
  auto n = number(&(*args)[1]);
  return n && *n <= ~0u ? std::optional<uint32_t>(static_cast<uint32_t>(*n)) : std::nullopt;
}

bool is_saddr(const json& left) {
  const json* payload = member(left, "payload");
  std::string protocol = text(payload ? member(*payload, "protocol") : nullptr);
  return (protocol == "ip" || protocol == "ip6") && text(member(*payload, "field")) == "saddr";
}

// The values of a match's right side: one, or an anonymous set's.
std::vector<const json*> values(const json& right) {
  std::vector<const json*> out;
  const json* list = member(right, "set");
  if (list && list->is_array()) {
    for (const json& v : *list) out.push_back(&v);
  } else {
    out.push_back(&right);
  }
  return out;
}

// `ip saddr 10.0.0.8`, `ip saddr != 10.244.0.0/16`, `ip saddr { ... }`; nullopt for ranges, named
// sets (kube-proxy's are filled at run time) and anything else.
std::optional<std::vector<Cidr>> prefixes(const json& right) {
  std::vector<Cidr> out;
  for (const json* v : values(right)) {
    std::string prefix = v->is_string() ? v->get<std::string>() : "";
    if (const json* p = member(*v, "prefix"); p && number(member(*p, "len")))
      prefix = fmt::format("{}/{}", text(member(*p, "addr")), *number(member(*p, "len")));
    try {
      out.push_back(Cidr::parse(prefix));
    } catch (const CidrError&) {
      return std::nullopt;
    }
  }
  return out;
}

std::optional<std::vector<std::string>> devices(const json& right) {
  std::vector<std::string> out;
  for (const json* v : values(right)) {
    if (!v->is_string()) return std::nullopt;
    out.push_back(v->get<std::string>());
  }
  return out;
}

// The first address of a `snat to` or `dnat to`: "10.0.0.12", or a range's first.
std::optional<IpAddr> first_address(const json* addr) {
  if (!addr) return std::nullopt;
  if (const json* range = member(*addr, "range"); range && range->is_array() && !range->empty())
    return IpAddr::parse(text(&(*range)[0]));
  return IpAddr::parse(text(addr));
}

}  // namespace

void NatBuilder::add(const json& item) {
  if (const json* c = member(item, "chain")) add_chain(*c);
  else if (const json* r = member(item, "rule")) add_rule(*r);
  else if (const json* s = member(item, "set")) add_set(*s);
  else if (const json* m = member(item, "map")) add_set(*m);
}

size_t NatBuilder::chain(const std::string& family, const std::string& table, const std::string& name) {
  auto [it, added] = chains_.try_emplace({family, table, name}, program_.chains.size());
  if (added)
    program_.chains.emplace_back(fmt::format("{} {} {}", family, table, name), family + " " + table,
                                 family_number(family));
  return it->second;
}

std::optional<nat::Jump> NatBuilder::verdict(const std::string& family, const std::string& table, const json& v) {
  for (const char* kind : {"jump", "goto"}) {
    const json* to = member(v, kind);
    std::string target = text(to ? member(*to, "target") : nullptr);
    if (!target.empty()) return nat::Jump{chain(family, table, target), *kind == 'g'};
  }
  return std::nullopt;
}

void NatBuilder::add_chain(const json& c) {
  std::string family = text(member(c, "family")), name = text(member(c, "name"));
  if (name.empty() || (family != "ip" && family != "ip6" && family != "inet")) return;
  size_t i = chain(family, text(member(c, "table")), name);
  std::string hook = text(member(c, "hook"));
  const json* prio = member(c, "prio");
  int priority = prio && prio->is_number_integer() ? prio->get<int>() : 0;
  if (text(member(c, "type")) != "nat") return;
  if (hook == "output") program_.bases.push_back({i, NatHook::Output, priority});
  if (hook == "postrouting") program_.bases.push_back({i, NatHook::Postrouting, priority});
}

void NatBuilder::add_rule(const json& r) {
  std::string family = text(member(r, "family")), table = text(member(r, "table")), name = text(member(r, "chain"));
  const json* expr = member(r, "expr");
  if (name.empty() || !expr || !expr->is_array()) return;
  size_t i = chain(family, table, name);
  NatRule rule;
  if (std::any_of(expr->begin(), expr->end(), [](const json& s) { return member(s, "xt") != nullptr; })) {
    program_.chains[i].holds_xt = true;
    rule.steps = {nat::Unknown{}, nat::Opaque{}};
  } else {
    for (const json& stmt : *expr) {
      if (const json* m = member(stmt, "match")) rule.steps.push_back(match(family, table, *m, rule));
      else if (auto s = statement(family, table, stmt)) rule.steps.push_back(std::move(*s));
    }
  }
  program_.chains[i].rules.push_back(std::move(rule));
}

void NatBuilder::add_set(const json& s) {
  std::string family = text(member(s, "family")), table = text(member(s, "table")), name = text(member(s, "name"));
  if (name.empty()) return;
  SetData set;
  for_each_element(s, [&](const json& key, const json* value) {
    set.elems.push_back(elem(key));
    set.verdicts.push_back(value ? verdict(family, table, *value) : std::nullopt);
  });
  sets_->try_emplace({family, table, name}, std::move(set));
}

// A match as a step: on the mark, the source, the egress device, the input device (none: the packet
// is this node's own), or the known fields; any other as Unknown.
NatStep NatBuilder::match(const std::string& family, const std::string& table, const json& m, NatRule& rule) const {
  std::string op = text(member(m, "op"));
  const json* left = member(m, "left");
  const json* right = member(m, "right");
  bool negated = op == "!=";
  if (!left || !right || !(op.empty() || op == "==" || op == "in" || negated)) return nat::Unknown{};
  if (auto mask = mark_mask(*left); mask && number(right) && *number(right) <= ~0u)
    return nat::MarkIs{*mask, static_cast<uint32_t>(*number(right)), negated};
  if (is_saddr(*left)) {
    auto p = prefixes(*right);
    return p ? NatStep(nat::SourceIs{*p, negated}) : NatStep(nat::Unknown{});
  }
  if (is_meta(*left, {"oifname", "oif"})) {
    auto d = devices(*right);
    return d ? NatStep(nat::OutDeviceIs{*d, negated}) : NatStep(nat::Unknown{});
  }
  if (is_meta(*left, {"iifname", "iif"})) return nat::PacketIs{[negated](auto&) { return negated ? Truth::Yes : Truth::No; }};
  std::vector<Key> keys = keys_of(*left);
  if (std::any_of(keys.begin(), keys.end(), [](const Key& k) { return k.field == Field::Other; })) return nat::Unknown{};
  SetData inline_values;
  std::string set = set_name(*right);
  if (set.empty())
    for (const json* v : values(*right)) inline_values.elems.push_back(elem(*v));
  if (!negated && keys.size() == 1 && keys[0].field == Field::Daddr && inline_values.elems.size() == 1 &&
      inline_values.elems[0][0].kind == Atom::Kind::Ip)
    rule.only_to = inline_values.elems[0][0].ip;
  auto lookup = std::make_shared<Elements>(keys, std::move(inline_values), sets_, TableItemId{family, table, set});
  return nat::PacketIs{[lookup, negated](const PacketFields& f) {
    Truth t = lookup->any(f);
    return negated ? negate(t) : t;
  }};
}

std::optional<NatStep> NatBuilder::statement(const std::string& family, const std::string& table, const json& s) {
  if (const json* m = member(s, "mangle")) {
    const json* key = member(*m, "key");
    const json* value = member(*m, "value");
    auto op = key && value && is_meta(*key, {"mark"}) ? mark_value(*value) : std::nullopt;
    return op ? std::optional<NatStep>(nat::SetMark{*op}) : std::nullopt;
  }
  if (const json* d = member(s, "dnat")) {
    auto addr = IpAddr::parse(text(member(*d, "addr")));
    auto port = member(*d, "port") ? number(member(*d, "port")) : std::optional<uint64_t>(0);
    if (!addr || !port || *port > 65535) return nat::Stop{};
    return nat::Dnat{*addr, static_cast<uint16_t>(*port)};
  }
  if (const json* n = member(s, "snat")) {
    auto to = first_address(member(*n, "addr"));
    return to ? NatStep(nat::Snat{*to}) : NatStep(nat::Opaque{});
  }
  if (member(s, "masquerade")) return nat::Masquerade{};
  if (member(s, "return")) return nat::Return{};
  for (const char* stop : {"accept", "drop", "reject", "redirect", "queue"})
    if (member(s, stop)) return nat::Stop{};
  if (auto j = verdict(family, table, s)) return *j;
  if (const json* v = member(s, "vmap")) return vmap(family, table, *v);
  return std::nullopt;  // counter, log, set updates, ...: nothing the walk follows
}

NatStep NatBuilder::vmap(const std::string& family, const std::string& table, const json& v) {
  const json* key = member(v, "key");
  const json* data = member(v, "data");
  if (!key || !data) return nat::Unknown{};
  SetData inline_elems;
  std::string map = set_name(*data);
  const json* list = member(*data, "set");
  if (map.empty() && list && list->is_array()) {
    for (const json& e : *list) {
      if (!e.is_array() || e.size() != 2) continue;
      inline_elems.elems.push_back(elem(e[0]));
      inline_elems.verdicts.push_back(verdict(family, table, e[1]));
    }
  }
  auto lookup = std::make_shared<Elements>(keys_of(*key), std::move(inline_elems), sets_, TableItemId{family, table, map});
  return nat::Vmap{[lookup](const PacketFields& f) {
    std::vector<std::pair<nat::Jump, Truth>> out;
    for (const auto& [i, truth] : lookup->find(f).value_or(std::vector<std::pair<size_t, Truth>>{}))
      if (auto j = lookup->verdict(i)) out.emplace_back(*j, truth);
    return out;
  }};
}

}  // namespace svctrace::nft
