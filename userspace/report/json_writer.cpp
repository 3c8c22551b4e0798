#include "report/json_writer.h"

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

namespace {
// Buffers of JsonObjects that ended, kept for the next ones (a line nests a few levels deep).
constexpr size_t kPooled = 16;
thread_local bool pool_gone = false;  // the thread is ending: objects destroyed now keep their buffers
struct JsonBuffers {
  std::vector<std::pair<std::vector<JsonObject::Field>, std::string>> free;
  JsonBuffers() { free.reserve(kPooled); }  // a destructor giving buffers back allocates nothing
  ~JsonBuffers() { pool_gone = true; }
};
thread_local JsonBuffers pool;
}  // namespace

JsonObject::JsonObject() {
  if (!pool_gone && !pool.free.empty()) {
    fields_ = std::move(pool.free.back().first);
    text_ = std::move(pool.free.back().second);
    pool.free.pop_back();
  } else {
    fields_.reserve(32);
    text_.reserve(512);
  }
}

JsonObject::~JsonObject() {
  // (Moved from: nothing to keep.)
  if (pool_gone || pool.free.size() >= kPooled || fields_.capacity() == 0) return;
  fields_.clear();
  text_.clear();
  pool.free.emplace_back(std::move(fields_), std::move(text_));
}

void JsonObject::begin(std::string_view key) {
  if (!fields_.empty()) {
    in_order_ = in_order_ && fields_.back().key < key;
    text_ += ',';
  }
  text_ += '"';
  text_ += key;  // keys are literals: plain ASCII
  text_ += "\":";
  fields_.push_back({key, static_cast<uint32_t>(text_.size()), 0});
}

void JsonObject::append_to(std::string& out) const {
  out += '{';
  if (in_order_) {
    out += text_;
    out += '}';
    return;
  }
  // The fields' indexes sorted by key, equal keys in the order they were added: each field that came
  // in order costs one comparison, the others a binary search.
  auto before = [this](uint32_t a, uint32_t b) {
    int c = fields_[a].key.compare(fields_[b].key);
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
  bool first = true;
  for (size_t i = 0; i < order.size(); i++) {
    const Field& f = fields_[order[i]];
    if (i + 1 < order.size() && fields_[order[i + 1]].key == f.key) continue;  // set again later
    if (!first) out += ',';
    first = false;
    out += '"';
    out += f.key;
    out += "\":";
    out.append(text_, f.at, f.size);
  }
  out += '}';
}

}  // namespace svctrace
