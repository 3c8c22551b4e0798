#include "svctrace/json_writer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>

namespace svctrace {

void append_json_string(std::string& out, std::string_view s) {
  // Printable ASCII other than the quote and the backslash is copied as it is; anything else (control
  // characters, UTF-8, invalid bytes) is left to nlohmann's own escaping.
  bool plain = std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
  if (!plain) {
    out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  out += '"';
  out += s;
  out += '"';
}

void append_json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  std::array<char, 64> buf;  // nlohmann's serializer uses the same routine, into a buffer of 64
  out.append(buf.data(), nlohmann::detail::to_chars(buf.data(), buf.data() + buf.size(), v));
}

void JsonObject::begin(std::string_view key) {
  uint64_t prefix = 0;
  for (size_t i = 0; i < 8; i++) prefix = prefix << 8 | (i < key.size() ? static_cast<uint8_t>(key[i]) : 0);
  fields_.push_back({key, prefix, static_cast<uint32_t>(values_.size()), 0});
}

void JsonObject::append_to(std::string& out) const {
  // The fields' indexes sorted by key, comparing the keys' prefixes as numbers first: a line has a
  // few dozen fields, mostly added in key order already (each then costs one comparison), and the
  // others are placed by a binary search. Equal keys keep the order they were added in.
  auto before = [this](uint32_t a, uint32_t b) {
    const Field &fa = fields_[a], &fb = fields_[b];
    if (fa.prefix != fb.prefix) return fa.prefix < fb.prefix;
    int c = fa.key.compare(fb.key);
    return c != 0 ? c < 0 : a < b;
  };
  std::vector<uint32_t> order;
  order.reserve(fields_.size());
  for (uint32_t i = 0; i < fields_.size(); i++) {
    if (order.empty() || !before(i, order.back()))
      order.push_back(i);
    else
      order.insert(std::upper_bound(order.begin(), order.end(), i, before), i);
  }
  out.reserve(out.size() + values_.size() + fields_.size() * 24 + 2);
  out += '{';
  bool first = true;
  for (size_t i = 0; i < order.size(); i++) {
    const Field& f = fields_[order[i]];
    if (i + 1 < order.size() && fields_[order[i + 1]].key == f.key) continue;  // set again later
    if (!first) out += ',';
    first = false;
    out += '"';
    out += f.key;  // keys are literals: plain ASCII
    out += "\":";
    out.append(values_, f.at, f.size);
  }
  out += '}';
}

}  // namespace svctrace
