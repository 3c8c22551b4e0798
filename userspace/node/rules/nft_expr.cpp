// The parts of `nft -j list ruleset`'s JSON that more than one reader of it looks at (nft_expr.h).
#include "node/rules/nft_expr.h"

#include <netinet/in.h>

#include <algorithm>

namespace svctrace::nft {

std::optional<Binding> merge(const Binding& a, const Binding& b) {
  Binding m = a;
  if (b.daddr.is_set()) {
    if (m.daddr.is_set() && m.daddr != b.daddr) return std::nullopt;
    m.daddr = b.daddr;
  }
  if (b.proto) {
    if (m.proto && m.proto != b.proto) return std::nullopt;
    m.proto = b.proto;
  }
  if (b.dport) {
    if (m.dport && m.dport != b.dport) return std::nullopt;
    m.dport = b.dport;
  }
  return m;
}

Binding bind(const Key& key, const Atom& a) {
  Binding b;
  switch (key.field) {
    case Field::Daddr:
      if (a.kind == Atom::Kind::Ip) b.daddr = a.ip;
      break;
    case Field::Proto:
      if (a.kind == Atom::Kind::Proto || (a.kind == Atom::Kind::Number && a.number <= 255))
        b.proto = static_cast<uint8_t>(a.number);
      break;
    case Field::Dport:
      b.proto = key.proto;
      if (a.kind == Atom::Kind::Number && a.number <= 65535) b.dport = static_cast<uint16_t>(a.number);
      break;
    case Field::Other:
      break;
  }
  return b;
}

std::optional<Binding> bind_all(const std::vector<Key>& keys, const Elem& e) {
  if (e.size() != keys.size()) return Binding{};
  std::optional<Binding> b = Binding{};
  for (size_t i = 0; i < keys.size() && b; i++) b = merge(*b, bind(keys[i], e[i]));
  return b;
}

const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::string text(const json* j) { return j && j->is_string() ? j->get<std::string>() : std::string(); }

std::optional<uint64_t> number(const json* j) {
  if (!j || !j->is_number_unsigned()) return std::nullopt;
  return j->get<uint64_t>();
}

uint8_t proto_number(const std::string& p) {
  return p == "tcp" ? IPPROTO_TCP : p == "udp" ? IPPROTO_UDP : p == "sctp" ? IPPROTO_SCTP : 0;
}

Key key_of(const json& expr) {
  if (const json* payload = member(expr, "payload")) {
    std::string protocol = text(member(*payload, "protocol")), field = text(member(*payload, "field"));
    if ((protocol == "ip" || protocol == "ip6") && field == "daddr") return {Field::Daddr};
    if ((protocol == "ip" && field == "protocol") || (protocol == "ip6" && field == "nexthdr")) return {Field::Proto};
    if (field == "dport") return {Field::Dport, proto_number(protocol)};
  } else if (const json* meta = member(expr, "meta")) {
    if (text(member(*meta, "key")) == "l4proto") return {Field::Proto};
  }
  return {};
}

std::vector<Key> keys_of(const json& left) {
  std::vector<Key> keys;
  const json* concat = member(left, "concat");
  if (concat && concat->is_array()) {
    for (const json& part : *concat) keys.push_back(key_of(part));
  } else {
    keys.push_back(key_of(left));
  }
  return keys;
}

bool binds_nothing(const std::vector<Key>& keys) {
  return std::all_of(keys.begin(), keys.end(), [](const Key& k) { return k.field == Field::Other; });
}

Atom atom(const json& v) {
  Atom a;
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (auto ip = IpAddr::parse(s)) {
      a.kind = Atom::Kind::Ip;
      a.ip = *ip;
    } else if (uint8_t p = proto_number(s)) {
      a.kind = Atom::Kind::Proto;
      a.number = p;
    }
  } else if (auto n = number(&v); n && *n <= 65535) {
    a.kind = Atom::Kind::Number;
    a.number = static_cast<uint32_t>(*n);
  } else if (const json* prefix = member(v, "prefix")) {  // a host written as a prefix: 10.0.0.8/32
    auto ip = IpAddr::parse(text(member(*prefix, "addr")));
    if (ip && number(member(*prefix, "len")) == ip->size() * 8) {
      a.kind = Atom::Kind::Ip;
      a.ip = *ip;
    }
  }
  return a;
}

Elem elem(const json& value) {
  // A set element with a comment or a timeout is wrapped: {"elem": {"val": VALUE, "comment": ...}}.
  const json* v = &value;
  while (const json* wrapped = member(*v, "elem")) {
    const json* val = member(*wrapped, "val");
    if (!val) break;
    v = val;
  }
  Elem e;
  const json* concat = member(*v, "concat");
  if (concat && concat->is_array()) {
    for (const json& part : *concat) e.push_back(atom(part));
  } else {
    e.push_back(atom(*v));
  }
  return e;
}

std::string set_name(const json& ref) {
  std::string s = text(&ref);
  return s.size() > 1 && s[0] == '@' ? s.substr(1) : std::string();
}

void for_each_element(const json& set, const std::function<void(const json& key, const json* value)>& fn) {
  const json* list = member(set, "elem");
  if (!list || !list->is_array()) return;
  for (const json& e : *list) {
    bool pair = e.is_array() && e.size() == 2;  // a map element: [key, value]
    fn(pair ? e[0] : e, pair ? &e[1] : nullptr);
  }
}

}  // namespace svctrace::nft
