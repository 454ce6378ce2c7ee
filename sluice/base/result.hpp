#pragma once
// Result<T>: a value or an Error, in the shape of std::expected (which g++ 12
// lacks). Result<void> carries only success or an Error.

#include <sluice/base/assert.hpp>
#include <sluice/base/error.hpp>

#include <fmt/format.h>

#include <new>
#include <type_traits>
#include <utility>

namespace sluice {

// Wraps an Error so that `return fail(...)` converts into any Result<T>.
struct Failure {
  Error error;
};

inline Failure fail(Error e) { return Failure{std::move(e)}; }
inline Failure fail(Errc code) noexcept { return Failure{Error{code}}; }
template <typename... Args>
Failure fail(Errc code, fmt::format_string<Args...> f, Args&&... args) {
  return Failure{Error{code, fmt::format(f, std::forward<Args>(args)...)}};
}

template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_reference_v<T>, "Result<T&> is not supported");

 public:
  using value_type = T;

  template <typename U = T, typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                                        !std::is_same_v<std::decay_t<U>, Result> &&
                                                        !std::is_same_v<std::decay_t<U>, Failure>>>
  Result(U&& v) : ok_(true) {  // NOLINT(google-explicit-constructor)
    new (&value_) T(std::forward<U>(v));
  }
  Result(Failure f) : ok_(false) {  // NOLINT(google-explicit-constructor)
    new (&error_) Error(std::move(f.error));
  }
  Result(const Result& o) : ok_(o.ok_) {
    if (ok_)
      new (&value_) T(o.value_);
    else
      new (&error_) Error(o.error_);
  }
  Result(Result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) : ok_(o.ok_) {
    if (ok_)
      new (&value_) T(std::move(o.value_));
    else
      new (&error_) Error(std::move(o.error_));
  }
  Result& operator=(Result o) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &o) {
      destroy();
      ok_ = o.ok_;
      if (ok_)
        new (&value_) T(std::move(o.value_));
      else
        new (&error_) Error(std::move(o.error_));
    }
    return *this;
  }
  ~Result() { destroy(); }

  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }

  T& value() & {
    SLUICE_CHECK(ok_, "value() of a failed Result: {}", error_.what());
    return value_;
  }
  const T& value() const& {
    SLUICE_CHECK(ok_, "value() of a failed Result: {}", error_.what());
    return value_;
  }
  T&& value() && {
    SLUICE_CHECK(ok_, "value() of a failed Result: {}", error_.what());
    return std::move(value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& {
    SLUICE_CHECK(!ok_, "error() of a successful Result");
    return error_;
  }
  Error&& error() && {
    SLUICE_CHECK(!ok_, "error() of a successful Result");
    return std::move(error_);
  }

  template <typename U>
  T value_or(U&& fallback) const& {
    return ok_ ? value_ : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void destroy() noexcept {
    if (ok_)
      value_.~T();
    else
      error_.~Error();
  }
  union {
    T value_;
    Error error_;
  };
  bool ok_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  using value_type = void;
  Result() = default;
  Result(Failure f)
      : error_(std::move(f.error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  void value() const { SLUICE_CHECK(ok_, "value() of a failed Result: {}", error_.what()); }
  const Error& error() const& {
    SLUICE_CHECK(!ok_, "error() of a successful Result");
    return error_;
  }
  Error&& error() && {
    SLUICE_CHECK(!ok_, "error() of a successful Result");
    return std::move(error_);
  }

 private:
  Error error_;
  bool ok_ = true;
};

inline Result<void> ok() { return {}; }

}  // namespace sluice

// SLUICE_TRY(expr): evaluate a Result, return its error from the enclosing
// function if it failed.
#define SLUICE_TRY(expr)                                                            \
  do {                                                                              \
    auto sluice_try_r_ = (expr);                                                    \
    if (!sluice_try_r_) return ::sluice::Failure{std::move(sluice_try_r_).error()}; \
  } while (0)

// SLUICE_TRY_ASSIGN(lhs, expr): evaluate a Result<T>; on success move its
// value into lhs (a declaration or an lvalue), else return the error.
#define SLUICE_CONCAT_INNER_(a, b) a##b
#define SLUICE_CONCAT_(a, b) SLUICE_CONCAT_INNER_(a, b)
#define SLUICE_TRY_ASSIGN(lhs, expr) \
  SLUICE_TRY_ASSIGN_IMPL_(SLUICE_CONCAT_(sluice_try_v_, __LINE__), lhs, expr)
#define SLUICE_TRY_ASSIGN_IMPL_(tmp, lhs, expr)               \
  auto tmp = (expr);                                          \
  if (!tmp) return ::sluice::Failure{std::move(tmp).error()}; \
  lhs = std::move(tmp).value()
