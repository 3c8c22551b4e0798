// Service pairs from `nft -j list ruleset`: the ruleset walked as a packet would go through it, from
// each NAT base chain on the prerouting or output hook (where DNAT happens) to every dnat statement it
// can reach, carrying what the matches on the way bound (destination address, protocol, destination
// port). kube-proxy's nftables mode binds all three in one lookup, the key of its service-ips verdict
// map (`ip daddr . meta l4proto . th dport vmap @service-ips`), then picks an endpoint chain with an
// anonymous numgen vmap and DNATs there (`meta l4proto tcp dnat to 10.0.0.8:6443`); a hand-written rule
// binds them with plain matches (`ip daddr 172.24.0.1 tcp dport 443 dnat to 10.0.0.8:6443`). Both are
// the same walk.
//
// A cluster's ruleset is large (about 2.5 kB of JSON per service endpoint with kube-proxy's layout, so
// tens of MB for tens of thousands of services), and a JSON document tree of it costs an order of
// magnitude more. So the text is read as a stream (nlohmann's SAX interface): each item of the
// "nftables" array is built as a small tree, compiled into what the walk needs, and dropped.
#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <tuple>
#include <variant>

#include "node/rules/kube_service_name.h"
#include "node/rules/nat_program.h"
#include "node/rules/nft_expr.h"
#include "node/rules/nft_nat.h"
#include "node/rules/service_pair.h"

namespace svctrace {

namespace {

using namespace nft;

// The kernel refuses rulesets whose jumps nest deeper than 16 (NFT_JUMP_STACK_SIZE).
constexpr int kMaxDepth = 16;
// Rules evaluated in one walk. Each chain is walked once per distinct binding it is reached with, so a
// real ruleset costs a few rules per service and endpoint; this bounds what a forged file can cost.
constexpr size_t kMaxSteps = 20'000'000;
// Combinations one rule's matches may bind (`ip daddr { ... } tcp dport { ... }` multiplies).
constexpr size_t kMaxBindings = 1 << 16;
constexpr size_t npos = ~size_t{0};

// --- the compiled ruleset -------------------------------------------------------------------------

// A match the walk cares about: equality on the destination, protocol or port, against values given
// in the rule or a named set of the table.
struct Match {
  std::vector<Key> keys;
  std::vector<Elem> values;
  std::string set;  // "name" for `@name`; values then unused
};
struct Dnat {
  IpAddr addr;
  uint16_t port = 0;  // 0: the packet's own
};
struct Jump {
  size_t chain;
};
// A verdict map lookup: the key, and the elements given in the rule or the named map's.
struct Vmap {
  std::vector<Key> keys;
  std::vector<std::pair<Elem, size_t>> elems;  // value -> chain
  std::string map;
};
using Statement = std::variant<Match, Dnat, Jump, Vmap>;

using ChainId = std::tuple<std::string, std::string, std::string>;  // family, table, name

struct Chain {
  ChainId id;
  bool root = false;                          // a NAT base chain on prerouting or output
  std::vector<std::vector<Statement>> rules;  // what the walk needs of each rule
  std::string service;  // kube-proxy's name of its service, from the chain's or a rule's comment
};

// A named set (its elements) or verdict map (its elements and the chain each names).
struct NamedSet {
  std::vector<Elem> elems;
  std::vector<size_t> chains;  // verdict maps: per element, the chain or npos
};

// --- from JSON ------------------------------------------------------------------------------------


class Ruleset {
 public:
  explicit Ruleset(const std::vector<Cidr>& cidrs) : cidrs_(cidrs) {}

  // One item of the "nftables" array.
  void add(const json& item) {
    if (const json* c = member(item, "chain")) add_chain(*c);
    else if (const json* r = member(item, "rule")) add_rule(*r);
    else if (const json* s = member(item, "set")) add_set(*s);
    else if (const json* m = member(item, "map")) add_set(*m);
  }

  std::vector<ServicePair> pairs() {
    for (size_t i = 0; i < chains_.size(); i++) {
      const std::string& family = std::get<0>(chains_[i].id);
      if ((family == "ip" || family == "ip6" || family == "inet") && chains_[i].root) walk(i, Binding{}, 0);
    }
    return std::move(out_);
  }

 private:
  // The chain of that family, table and name, created on first mention.
  size_t chain(const std::string& family, const std::string& table, const std::string& name) {
    if (name.empty()) return npos;
    auto [it, added] = index_.try_emplace({family, table, name}, chains_.size());
    if (added) chains_.push_back({{family, table, name}, false, {}, {}});
    return it->second;
  }

  // The chain a verdict ({"jump": {"target": ...}} or {"goto": ...}) continues in, or npos.
  size_t target(const std::string& family, const std::string& table, const json& verdict) {
    const json* v = member(verdict, "jump");
    if (!v) v = member(verdict, "goto");
    return v ? chain(family, table, text(member(*v, "target"))) : npos;
  }

  void add_chain(const json& c) {
    size_t i = chain(text(member(c, "family")), text(member(c, "table")), text(member(c, "name")));
    if (i == npos) return;
    std::string hook = text(member(c, "hook"));
    if (text(member(c, "type")) == "nat" && (hook == "prerouting" || hook == "output")) chains_[i].root = true;
    name_service(chains_[i], c);
  }

  // A comment naming a service port (a chain's or one of its rules') names the chain's service.
  static void name_service(Chain& c, const json& item) {
    if (c.service.empty()) c.service = kube_service_from_comment(text(member(item, "comment")));
  }

  void add_rule(const json& r) {
    std::string family = text(member(r, "family")), table = text(member(r, "table"));
    size_t i = chain(family, table, text(member(r, "chain")));
    const json* expr = member(r, "expr");
    if (i == npos || !expr || !expr->is_array()) return;
    name_service(chains_[i], r);
    // Rules written by iptables-nft (Debian's iptables) live in nf_tables too, in its tables (ip nat,
    // ip6 nat, ...), so `nft -j` lists them; but their DNAT target and many of their matches are xt
    // statements whose meaning nft's JSON does not show ({"xt": {"type": "target", "name": "DNAT"}}:
    // no address). iptables-save decodes them: it is the authority for every rule holding an xt
    // statement, and such rules are skipped here (neither read half nor counted twice). The other
    // rules of those tables are nft's to read: rules added there with nft make iptables-save refuse
    // the whole table ("# Table `nat' is incompatible, use 'nft' tool."), and would otherwise be
    // read by neither. (Skipping whole tables, as nft's "managed by iptables-nft" warning would
    // suggest, would lose exactly those.)
    if (std::any_of(expr->begin(), expr->end(), [](const json& stmt) { return member(stmt, "xt") != nullptr; })) return;
    std::vector<Statement> rule;
    for (const json& stmt : *expr) {
      if (const json* m = member(stmt, "match")) {
        if (auto match = compile_match(*m)) rule.push_back(std::move(*match));
      } else if (const json* d = member(stmt, "dnat")) {
        // "addr" is an address, or a range, prefix or map for which no one backend can be named: such a
        // dnat leads to no pair, and the rule stops there.
        auto addr = IpAddr::parse(text(member(*d, "addr")));
        const json* port = member(*d, "port");
        auto port_number = port ? number(port) : std::optional<uint64_t>(0);
        if (!addr || !port_number || *port_number > 65535) break;
        rule.push_back(Dnat{*addr, static_cast<uint16_t>(*port_number)});
      } else if (const json* v = member(stmt, "vmap")) {
        if (auto vmap = compile_vmap(family, table, *v)) rule.push_back(std::move(*vmap));
      } else if (size_t next = target(family, table, stmt); next != npos) {
        rule.push_back(Jump{next});
      }
    }
    if (!rule.empty()) chains_[i].rules.push_back(std::move(rule));
  }

  // A match that narrows the destination, protocol or port, or nullopt. One with another operator than
  // equality (`tcp dport != 443`) narrows only by the protocol it implies.
  static std::optional<Match> compile_match(const json& m) {
    std::string op = text(member(m, "op"));
    const json* left = member(m, "left");
    const json* right = member(m, "right");
    if (!left || !right) return std::nullopt;
    Match match{keys_of(*left), {}, {}};
    if (binds_nothing(match.keys)) return std::nullopt;
    if (!(op.empty() || op == "==" || op == "in")) {
      auto dport = std::find_if(match.keys.begin(), match.keys.end(), [](const Key& k) { return k.field == Field::Dport; });
      if (dport == match.keys.end() || !dport->proto) return std::nullopt;
      return Match{{Key{Field::Proto}}, {{Atom{Atom::Kind::Proto, dport->proto, {}}}}, {}};
    }
    match.set = set_name(*right);
    if (!match.set.empty()) return match;
    const json* list = member(*right, "set");
    if (list && list->is_array()) {
      for (const json& v : *list) match.values.push_back(elem(v));
    } else {
      match.values.push_back(elem(*right));
    }
    return match;
  }

  std::optional<Vmap> compile_vmap(const std::string& family, const std::string& table, const json& v) {
    const json* key = member(v, "key");
    const json* data = member(v, "data");
    if (!key || !data) return std::nullopt;
    Vmap vmap{keys_of(*key), {}, set_name(*data)};
    const json* list = member(*data, "set");
    if (vmap.map.empty() && list && list->is_array()) {
      for (const json& e : *list) {
        if (!e.is_array() || e.size() != 2) continue;
        if (size_t next = target(family, table, e[1]); next != npos) vmap.elems.emplace_back(elem(e[0]), next);
      }
    }
    return vmap;
  }

  void add_set(const json& s) {
    std::string family = text(member(s, "family")), table = text(member(s, "table")), name = text(member(s, "name"));
    if (name.empty()) return;
    // An empty set matches nothing.
    NamedSet set;
    for_each_element(s, [&](const json& key, const json* value) {
      set.elems.push_back(elem(key));
      set.chains.push_back(value ? target(family, table, *value) : npos);
    });
    sets_.try_emplace({family, table, name}, std::move(set));
  }

  const NamedSet* named(const Chain& c, const std::string& name) const {
    auto it = sets_.find({std::get<0>(c.id), std::get<1>(c.id), name});
    return it == sets_.end() ? nullptr : &it->second;
  }

  static std::string name(const Chain& c) {
    const auto& [family, table, chain] = c.id;
    return fmt::format("{} {} {}", family, table, chain);
  }

  // Narrows `bindings` to those the match lets through, bound further by the value that matched.
  void narrow(const Chain& c, const Match& m, std::vector<Binding>& bindings) const {
    const std::vector<Elem>* values = &m.values;
    if (!m.set.empty()) {
      const NamedSet* set = named(c, m.set);
      if (!set) return;  // a set the dump does not hold: it may match anything
      values = &set->elems;
    }
    std::vector<Binding> next;
    for (const Elem& v : *values) {
      std::optional<Binding> b = bind_all(m.keys, v);
      if (!b) continue;
      for (const Binding& have : bindings) {
        if (auto merged = merge(have, *b)) next.push_back(*merged);
        if (next.size() > kMaxBindings)
          throw RulesError(fmt::format("a rule of chain {} matches more than {} destinations", name(c), kMaxBindings));
      }
    }
    bindings = std::move(next);
  }

  // A verdict map: each element's key binds (kube-proxy's `ip daddr . meta l4proto . th dport`) or
  // not (its `numgen random mod N`), and names the chain to go on in.
  void follow(const Chain& c, const Vmap& v, const std::vector<Binding>& bindings, int depth) {
    auto go = [&](const Elem& e, size_t next) {
      std::optional<Binding> k = bind_all(v.keys, e);
      if (next == npos || !k) return;
      for (const Binding& have : bindings)
        if (auto m = merge(have, *k)) walk(next, *m, depth + 1);
    };
    if (v.map.empty()) {
      for (const auto& [e, next] : v.elems) go(e, next);
    } else if (const NamedSet* map = named(c, v.map)) {
      for (size_t i = 0; i < map->elems.size(); i++) go(map->elems[i], map->chains[i]);
    }
  }

  void walk(size_t chain_index, const Binding& b, int depth) {
    if (depth > kMaxDepth) return;
    // The same chain reached again with the same binding leads to the same pairs.
    auto [seen, added] = walked_.try_emplace({chain_index, b.daddr, b.proto, b.dport}, depth);
    if (!added) {
      if (seen->second <= depth) return;
      seen->second = depth;
    }
    const Chain& c = chains_[chain_index];
    for (const auto& rule : c.rules) {
      if (++steps_ > kMaxSteps)
        throw RulesError(fmt::format("the ruleset has more than {} rules to follow", kMaxSteps));
      std::vector<Binding> bindings{b};
      for (const Statement& s : rule) {
        if (bindings.empty()) break;
        if (const auto* m = std::get_if<Match>(&s)) {
          narrow(c, *m, bindings);
        } else if (const auto* d = std::get_if<Dnat>(&s)) {
          for (const Binding& have : bindings) add_pair(c, have, *d);
        } else if (const auto* v = std::get_if<Vmap>(&s)) {
          follow(c, *v, bindings, depth);
        } else if (const auto* j = std::get_if<Jump>(&s)) {
          for (const Binding& have : bindings) walk(j->chain, have, depth + 1);
        }
      }
    }
  }

  void add_pair(const Chain& c, const Binding& b, const Dnat& d) {
    auto in_cidrs = [&](const Cidr& x) { return x.contains(b.daddr); };
    if (!b.daddr.is_set() || std::none_of(cidrs_.begin(), cidrs_.end(), in_cidrs)) return;
    if (d.addr.family != b.daddr.family) return;
    ServicePair p{b.proto, b.daddr, b.dport, d.addr, d.port, name(c), {{"nft", name(c)}}};
    p.service = c.service.empty() ? kube_service_from_nft_chain(std::get<2>(c.id)) : c.service;
    if (pairs_seen_.insert(pair_key(p)).second) out_.push_back(std::move(p));
  }

  const std::vector<Cidr>& cidrs_;
  std::vector<Chain> chains_;
  std::map<ChainId, size_t> index_;
  std::map<ChainId, NamedSet> sets_;
  std::map<std::tuple<size_t, IpAddr, uint8_t, uint16_t>, int> walked_;
  size_t steps_ = 0;
  std::set<PairKey> pairs_seen_;
  std::vector<ServicePair> out_;
};

// --- the stream -----------------------------------------------------------------------------------

// SAX events of the whole document in, one small tree per item of its top-level "nftables" array out
// (to `on_item`); everything else is skipped as it streams by.
class ItemReader : public nlohmann::json_sax<json> {
 public:
  explicit ItemReader(std::function<void(const json&)> on_item) : on_item_(std::move(on_item)) {}

  bool null() override { return value(nullptr); }
  bool boolean(bool v) override { return value(v); }
  bool number_integer(number_integer_t v) override { return value(v); }
  bool number_unsigned(number_unsigned_t v) override { return value(v); }
  bool number_float(number_float_t v, const string_t&) override { return value(v); }
  bool string(string_t& v) override { return value(std::move(v)); }
  bool binary(binary_t&) override { return value(nullptr); }  // not in JSON text

  bool start_object(std::size_t) override {
    if (depth_ == 0) top_object_ = true;
    return open(json::object());
  }
  bool start_array(std::size_t) override {
    // Every value of an object follows its key, so at depth 1 key_ is this array's.
    if (stack_.empty() && top_object_ && depth_ == 1 && key_ == "nftables") items_ = saw_items_ = true;
    return open(json::array());
  }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    error_at_ = position;
    return false;
  }

  bool saw_items() const { return saw_items_; }
  size_t error_at() const { return error_at_; }

 private:
  // Inside the "nftables" array, at the level of its items (not inside one).
  bool at_items() const { return items_ && stack_.empty() && depth_ == 2; }

  json* insert(json&& v) {
    json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    return &(parent[key_] = std::move(v));
  }

  bool value(json&& v) {
    if (!stack_.empty()) insert(std::move(v));
    return true;
  }

  bool open(json&& container) {
    if (!stack_.empty()) {
      stack_.push_back(insert(std::move(container)));
    } else if (at_items()) {
      item_ = std::move(container);
      stack_.push_back(&item_);
    } else {
      depth_++;
    }
    return true;
  }

  bool close() {
    if (!stack_.empty()) {
      stack_.pop_back();
      if (stack_.empty()) {
        on_item_(item_);
        item_ = nullptr;
      }
      return true;
    }
    if (--depth_ < 2) items_ = false;
    return true;
  }

  std::function<void(const json&)> on_item_;
  size_t depth_ = 0;  // containers open outside an item
  std::string key_;
  bool top_object_ = false, items_ = false, saw_items_ = false;
  json item_;
  std::vector<json*> stack_;  // the item being built: its open containers
  size_t error_at_ = 0;
};

}  // namespace

RulesRead read_nft_json(std::string_view text, const std::vector<Cidr>& cidrs) {
  Ruleset rules(cidrs);
  nft::NatBuilder nat;
  ItemReader reader([&](const json& item) {
    rules.add(item);
    nat.add(item);
  });
  if (!json::sax_parse(text.begin(), text.end(), &reader))
    throw RulesError(fmt::format("not JSON (parse error at byte {})", reader.error_at()));
  if (!reader.saw_items()) throw RulesError("not `nft -j list ruleset` output (no \"nftables\" array)");
  return {rules.pairs(), nat.finish()};
}

std::vector<ServicePair> service_pairs_from_nft_json(std::string_view text, const std::vector<Cidr>& cidrs) {
  return read_nft_json(text, cidrs).pairs;
}

}  // namespace svctrace
