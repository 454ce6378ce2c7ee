#pragma once
// Unique shared-memory names for tests and a guard that unlinks them, so no
// test leaves /dev/shm dirty (tests/check_shm_clean.sh checks at the end).

#include <string>
#include <string_view>
#include <vector>

namespace sluice::test {

// "sluice-t<pid>-<tag>-<counter>": unique per process and call.
std::string unique_shm_name(std::string_view tag);

// Unlinks every registered name (and its extents, "<name>.x<N>") when it goes
// out of scope, whether or not the test passed.
class ShmGuard {
 public:
  ShmGuard() = default;
  explicit ShmGuard(std::string name) { add(std::move(name)); }
  ShmGuard(const ShmGuard&) = delete;
  ShmGuard& operator=(const ShmGuard&) = delete;
  ~ShmGuard();
  const std::string& add(std::string name);
  [[nodiscard]] const std::string& name() const { return names_.front(); }

 private:
  std::vector<std::string> names_;
};

// A name plus its guard, the common case: `ScopedShmName n("ring");`.
class ScopedShmName {
 public:
  explicit ScopedShmName(std::string_view tag) : guard_(unique_shm_name(tag)) {}
  [[nodiscard]] const std::string& str() const { return guard_.name(); }
  [[nodiscard]] const char* c_str() const { return guard_.name().c_str(); }
  operator const std::string&() const { return guard_.name(); }  // NOLINT

 private:
  ShmGuard guard_;
};

// Path of a helper program built next to the tests (SLUICE_TEST_BIN_DIR).
std::string helper_path(std::string_view program);

}  // namespace sluice::test
