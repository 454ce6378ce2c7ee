#pragma once
// Just enough JSON for result files: a compact writer and a strict parser.
// (No JSON library is among the project's dependencies, and result files
// must be readable back by bench_report on a machine with nothing else.)

#include <sluice/base/json.hpp>
#include <sluice/base/result.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::bench {

// The writer is the library's (sluice/base/json.hpp): compact output,
// escaped strings, non-finite doubles and empty optionals as null.
using JsonWriter = ::sluice::JsonWriter;

// A parsed JSON document. (A tagged struct rather than a std::variant: GCC 12
// reports false -Wmaybe-uninitialized warnings on recursive variants.)
class JsonValue {
 public:
  using Array = std::vector<JsonValue>;
  using Object = std::map<std::string, JsonValue, std::less<>>;
  enum class Kind : std::uint8_t { null, boolean, number, string, array, object };

  JsonValue() = default;  // null
  explicit JsonValue(bool b) : kind_(Kind::boolean), bool_(b) {}
  explicit JsonValue(double d) : kind_(Kind::number), number_(d) {}
  explicit JsonValue(std::string s) : kind_(Kind::string), string_(std::move(s)) {}
  explicit JsonValue(Array a) : kind_(Kind::array), array_(std::move(a)) {}
  explicit JsonValue(Object o) : kind_(Kind::object), object_(std::move(o)) {}

  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] bool is_null() const noexcept { return kind_ == Kind::null; }
  [[nodiscard]] bool is_number() const noexcept { return kind_ == Kind::number; }
  [[nodiscard]] bool is_string() const noexcept { return kind_ == Kind::string; }
  [[nodiscard]] bool is_array() const noexcept { return kind_ == Kind::array; }
  [[nodiscard]] bool is_object() const noexcept { return kind_ == Kind::object; }

  // Typed access with a fallback when the value has another type.
  [[nodiscard]] double number(double fallback = 0) const noexcept {
    return kind_ == Kind::number ? number_ : fallback;
  }
  [[nodiscard]] std::optional<double> optional_number() const noexcept {
    return kind_ == Kind::number ? std::optional<double>(number_) : std::nullopt;
  }
  [[nodiscard]] std::string string(std::string fallback = {}) const {
    return kind_ == Kind::string ? string_ : fallback;
  }
  [[nodiscard]] bool boolean(bool fallback = false) const noexcept {
    return kind_ == Kind::boolean ? bool_ : fallback;
  }
  // Empty unless the value is an array / object.
  [[nodiscard]] const Array& array() const noexcept { return array_; }
  [[nodiscard]] const Object& object() const noexcept { return object_; }

  // Member of an object; a null value when absent or not an object.
  [[nodiscard]] const JsonValue& operator[](std::string_view key) const noexcept;

  static Result<JsonValue> parse(std::string_view text);

 private:
  Kind kind_ = Kind::null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  Array array_;
  Object object_;
};

}  // namespace sluice::bench
