#pragma once
// A small streaming JSON writer for --json output and benchmark records.
// Produces compact, valid JSON; keys and strings are escaped.
//
//   JsonWriter j;
//   j.begin_object().key("name").value("x").key("peers").begin_array() ...
//   std::string s = j.str();

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

class JsonWriter {
 public:
  // Writes into its own string (str()), or appends to `out`.
  JsonWriter() = default;
  explicit JsonWriter(std::string& out) : out_(&out) {}
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view v);
  JsonWriter& value(const char* v) { return value(std::string_view(v)); }
  JsonWriter& value(const std::string& v) { return value(std::string_view(v)); }
  JsonWriter& value(bool v);
  JsonWriter& value(std::int64_t v);
  JsonWriter& value(std::uint64_t v);
  JsonWriter& value(int v) { return value(static_cast<std::int64_t>(v)); }
  JsonWriter& value(unsigned v) { return value(static_cast<std::uint64_t>(v)); }
  JsonWriter& value(double v);
  JsonWriter& null();
  // An empty optional is written as null.
  template <typename T>
  JsonWriter& value(const std::optional<T>& v) {
    return v ? value(*v) : null();
  }
  // Inserts already-serialised JSON as the next value (e.g. from another
  // layer's formatter). The caller guarantees it is valid JSON.
  JsonWriter& raw(std::string_view json);
  // Shorthand for key(k).value(v).
  template <typename T>
  JsonWriter& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }

  [[nodiscard]] const std::string& str() const { return *out_; }

 private:
  void separate();
  std::string own_;
  std::string* out_ = &own_;
  std::vector<bool> first_;  // per open container: nothing written yet
  bool after_key_ = false;
};

// Escapes a string for JSON (without the surrounding quotes).
std::string json_escape(std::string_view s);

}  // namespace sluice
