// JSON text written directly, exactly as nlohmann::json::dump() prints the same value (keys sorted
// bytewise, as its std::map keeps them; numbers and strings formatted alike; invalid UTF-8 replaced),
// without building a json value first. The lines printed for every flow and every diagnosis are
// written this way: under a flood of new flows, building, dumping and freeing nlohmann values was
// most of svctrace's time (bench/RESULTS.md). Where a json value is wanted (the report),
// nlohmann::json::parse(text) gives the same value.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace svctrace {

// JSON text of one value.
std::string json_string(std::string_view s);  // "..." with nlohmann's escaping
std::string json_number(double v);            // shortest round-trip form, "1.0" for 1; NaN/inf: null
template <typename T>
std::string json_number(T v) requires std::is_integral_v<T> && (!std::is_same_v<T, bool>) {
  return std::to_string(v);
}

// An object; fields in any order (it sorts them), a key set twice keeps its last value. Keys are not
// copied: they must outlive the object (string literals).
class JsonObject {
 public:
  JsonObject() { fields_.reserve(32); }
  JsonObject& add(std::string_view key, std::string_view s) { return raw(key, json_string(s)); }
  JsonObject& add(std::string_view key, const char* s) { return raw(key, json_string(s)); }
  JsonObject& add(std::string_view key, const std::string& s) { return raw(key, json_string(s)); }
  JsonObject& add(std::string_view key, bool b) { return raw(key, b ? "true" : "false"); }
  JsonObject& add(std::string_view key, double v) { return raw(key, json_number(v)); }
  template <typename T>
  JsonObject& add(std::string_view key, T v) requires std::is_integral_v<T> && (!std::is_same_v<T, bool>) {
    return raw(key, json_number(v));
  }
  JsonObject& add(std::string_view key, const JsonObject& o) { return raw(key, o.text()); }
  JsonObject& null(std::string_view key) { return raw(key, "null"); }
  // A value that is JSON text already.
  JsonObject& raw(std::string_view key, std::string text) {
    fields_.emplace_back(key, std::move(text));
    return *this;
  }
  std::string text() const;

 private:
  std::vector<std::pair<std::string_view, std::string>> fields_;
};

// An array of values that are JSON text already, in order.
class JsonArray {
 public:
  JsonArray& raw(std::string_view text) {
    text_ += text_.size() > 1 ? "," : "";
    text_ += text;
    return *this;
  }
  JsonArray& add(double v) { return raw(json_number(v)); }
  JsonArray& add(std::string_view s) { return raw(json_string(s)); }
  std::string text() const { return text_ + "]"; }

 private:
  std::string text_ = "[";
};

}  // namespace svctrace
