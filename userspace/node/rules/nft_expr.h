// The parts of `nft -j list ruleset`'s JSON that more than one reader of it looks at (the service pair
// walk is nft.cpp, the NAT program nft_nat.cpp): what a match or a verdict map key looks at (the
// destination address, the protocol, the destination port), the values it is compared with, and what
// a value binds of the packet.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "correlate/address.h"

namespace svctrace::nft {

using nlohmann::json;

// What the matches on a path say about the packet; unset fields match anything.
struct Binding {
  IpAddr daddr;
  uint8_t proto = 0;
  uint16_t dport = 0;
};

// Both, or nullopt where they differ.
std::optional<Binding> merge(const Binding& a, const Binding& b);

// What a match's left side (or one part of a concatenation) looks at.
enum class Field : uint8_t { Daddr, Proto, Dport, Other };
struct Key {
  Field field = Field::Other;
  uint8_t proto = 0;  // the protocol `tcp dport` implies
};

// One value of a match, or one part of a set element: an address, a number, a protocol name, or
// something that stands for more than one value (a prefix, a range): Any.
struct Atom {
  enum class Kind : uint8_t { Any, Ip, Number, Proto } kind = Kind::Any;
  uint32_t number = 0;  // Number, or the protocol a Proto name stands for
  IpAddr ip;
};
using Elem = std::vector<Atom>;  // one atom, or the parts of a concatenation

// What one value binds for one key: an exact address, protocol or port. Atoms that stand for more
// than one value bind nothing, except the protocol `tcp dport` implies.
Binding bind(const Key& key, const Atom& a);

// What an element binds for the keys (one key, or the parts of a concatenated key), or nullopt if it
// contradicts itself. An element of another shape than the key binds nothing.
std::optional<Binding> bind_all(const std::vector<Key>& keys, const Elem& e);

// j[key] when j is an object that has it, else nullptr.
const json* member(const json& j, const char* key);
// The string j holds, or "".
std::string text(const json* j);
// The unsigned number j holds, or nullopt.
std::optional<uint64_t> number(const json* j);
// IPPROTO_TCP for "tcp", "udp", "sctp"; 0 for any other name.
uint8_t proto_number(const std::string& p);

// What a match's left side looks at, part by part for a concatenation (`ip daddr . meta l4proto . th
// dport`).
Key key_of(const json& expr);
std::vector<Key> keys_of(const json& left);
bool binds_nothing(const std::vector<Key>& keys);

// A value as it is compared: an atom, or for a concatenation the atoms of its parts; a set element
// with a comment or a timeout ({"elem": {"val": ...}}) is unwrapped.
Atom atom(const json& v);
Elem elem(const json& value);

// "name" for a reference to a named set or map ("@name"), else "".
std::string set_name(const json& ref);

// Calls fn with each element of a "set" or "map" item: its key, and for a map its value (nullptr for
// a set). nft leaves "elem" out of an empty set.
void for_each_element(const json& set, const std::function<void(const json& key, const json* value)>& fn);

}  // namespace svctrace::nft
