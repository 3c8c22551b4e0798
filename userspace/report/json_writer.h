// JSON text written directly, exactly as nlohmann::json::dump() prints the same value (keys sorted
// bytewise, as its std::map keeps them; numbers and strings formatted alike; invalid UTF-8 replaced),
// without building a json value first. The lines printed for every flow and every diagnosis are
// written this way: under a flood of new flows, building, dumping and freeing nlohmann values was
// most of svctrace's time (bench/RESULTS.md). Where a json value is wanted (the report),
// nlohmann::json::parse(text) gives the same value.
#pragma once
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace svctrace {

// JSON text of one value, appended to out.
void append_json_string(std::string& out, std::string_view s);  // "..." with nlohmann's escaping
void append_json_number(std::string& out, double v);  // shortest round-trip form, "1.0" for 1; NaN/inf: null
template <typename T>
void append_json_number(std::string& out, T v) requires std::is_integral_v<T> && (!std::is_same_v<T, bool>) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}
// ... or returned.
inline std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}
template <typename T>
std::string json_number(T v) {
  std::string out;
  append_json_number(out, v);
  return out;
}

// An object; fields in any order (it sorts them, cheapest when they come in key order), a key set
// twice keeps its last value. Keys are not copied: they must outlive the object (string literals).
// While the keys come in order, as the lines printed per flow add them, the object is its own text
// as it grows (`"key":value,...`), and printing it is one copy; a key out of order makes it sort its
// fields when printed. The buffers come from a pool of the thread's and go back to it: a flow line
// is a dozen objects (the tuple, the DNAT target, the route...), two lines an answered connection.
class JsonObject {
 public:
  JsonObject();
  ~JsonObject();
  JsonObject(JsonObject&& o) noexcept
      : fields_(std::move(o.fields_)), text_(std::move(o.text_)), in_order_(o.in_order_) {}
  JsonObject(const JsonObject& o) : JsonObject() {
    fields_ = o.fields_;
    text_ = o.text_;
    in_order_ = o.in_order_;
  }
  JsonObject& operator=(JsonObject o) noexcept {
    fields_.swap(o.fields_);
    text_.swap(o.text_);
    in_order_ = o.in_order_;
    return *this;
  }
  JsonObject& add(std::string_view key, std::string_view s) {
    begin(key);
    append_json_string(text_, s);
    return end();
  }
  JsonObject& add(std::string_view key, const char* s) { return add(key, std::string_view(s)); }
  JsonObject& add(std::string_view key, const std::string& s) { return add(key, std::string_view(s)); }
  JsonObject& add(std::string_view key, bool b) { return raw(key, b ? "true" : "false"); }
  template <typename T>
  JsonObject& add(std::string_view key, T v) requires std::is_arithmetic_v<T> && (!std::is_same_v<T, bool>) {
    begin(key);
    if constexpr (std::is_floating_point_v<T>)
      append_json_number(text_, static_cast<double>(v));
    else
      append_json_number(text_, v);
    return end();
  }
  JsonObject& add(std::string_view key, const JsonObject& o) {
    begin(key);
    o.append_to(text_);
    return end();
  }
  JsonObject& null(std::string_view key) { return raw(key, "null"); }
  // A value that is JSON text already.
  JsonObject& raw(std::string_view key, std::string_view text) {
    begin(key);
    text_ += text;
    return end();
  }
  std::string text() const {
    std::string out;
    append_to(out);
    return out;
  }
  void append_to(std::string& out) const;

  struct Field {
    std::string_view key;
    uint32_t at, size;  // the value in text_
  };

 private:
  void begin(std::string_view key);
  JsonObject& end() {
    fields_.back().size = static_cast<uint32_t>(text_.size() - fields_.back().at);
    return *this;
  }
  std::vector<Field> fields_;
  std::string text_;      // `"key":value` for each field, comma-separated, in the order added
  bool in_order_ = true;  // each key came after the one before: text_ is the object's text
};

// An array of values, in order.
class JsonArray {
 public:
  JsonArray& raw(std::string_view text) {
    text_ += text_.size() > 1 ? "," : "";
    text_ += text;
    return *this;
  }
  JsonArray& add(double v) {
    text_ += text_.size() > 1 ? "," : "";
    append_json_number(text_, v);
    return *this;
  }
  JsonArray& add(std::string_view s) {
    text_ += text_.size() > 1 ? "," : "";
    append_json_string(text_, s);
    return *this;
  }
  std::string text() const { return text_ + "]"; }

 private:
  std::string text_ = "[";
};

}  // namespace svctrace
