#include "svctrace/json_writer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

namespace svctrace {

std::string json_string(std::string_view s) {
  // Printable ASCII other than the quote and the backslash is copied as it is; anything else (control
  // characters, UTF-8, invalid bytes) is left to nlohmann's own escaping.
  bool plain = std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
  if (!plain)
    return nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  std::array<char, 64> buf;  // nlohmann's serializer uses the same routine, into a buffer of 64
  char* end = nlohmann::detail::to_chars(buf.data(), buf.data() + buf.size(), v);
  return std::string(buf.data(), end);
}

namespace {
// The first 8 bytes of a key as a big-endian number: comparing these orders keys as their bytes do,
// except for keys that share 8 bytes, which a full comparison then orders.
uint64_t key_prefix(std::string_view key) {
  uint64_t p = 0;
  for (size_t i = 0; i < 8; i++) p = p << 8 | (i < key.size() ? static_cast<uint8_t>(key[i]) : 0);
  return p;
}
}  // namespace

std::string JsonObject::text() const {
  // An insertion sort of (prefix, index) pairs: a line has a few dozen fields, and comparing numbers
  // costs a fraction of comparing strings. Equal keys keep the order they were added in.
  struct Slot {
    uint64_t prefix;
    uint32_t index;
  };
  auto before = [this](const Slot& a, const Slot& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    int c = fields_[a.index].first.compare(fields_[b.index].first);
    return c != 0 ? c < 0 : a.index < b.index;
  };
  std::vector<Slot> order;
  order.reserve(fields_.size());
  for (uint32_t i = 0; i < fields_.size(); i++) {
    order.push_back({key_prefix(fields_[i].first), i});
    for (size_t j = order.size() - 1; j > 0 && before(order[j], order[j - 1]); j--) std::swap(order[j], order[j - 1]);
  }
  size_t size = 2;
  for (const auto& f : fields_) size += f.first.size() + f.second.size() + 4;
  std::string out;
  out.reserve(size);
  out += '{';
  for (size_t i = 0; i < order.size(); i++) {
    const auto& [key, value] = fields_[order[i].index];
    if (i + 1 < order.size() && fields_[order[i + 1].index].first == key) continue;  // set again later
    if (out.size() > 1) out += ',';
    out += '"';
    out += key;  // keys are literals: plain ASCII
    out += "\":";
    out += value;
  }
  out += '}';
  return out;
}

}  // namespace svctrace
