#include <sluice/base/assert.hpp>
#include <sluice/base/error.hpp>
#include <sluice/base/units.hpp>

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace sluice {

std::string_view errc_name(Errc code) noexcept {
  switch (code) {
    case Errc::ok:
      return "ok";
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::out_of_range:
      return "out_of_range";
    case Errc::not_supported:
      return "not_supported";
    case Errc::internal:
      return "internal";
    case Errc::system_error:
      return "system_error";
    case Errc::not_found:
      return "not_found";
    case Errc::already_exists:
      return "already_exists";
    case Errc::permission_denied:
      return "permission_denied";
    case Errc::timed_out:
      return "timed_out";
    case Errc::interrupted:
      return "interrupted";
    case Errc::bad_name:
      return "bad_name";
    case Errc::bad_magic:
      return "bad_magic";
    case Errc::version_mismatch:
      return "version_mismatch";
    case Errc::corrupted:
      return "corrupted";
    case Errc::not_ready:
      return "not_ready";
    case Errc::creator_died:
      return "creator_died";
    case Errc::table_full:
      return "table_full";
    case Errc::config_mismatch:
      return "config_mismatch";
    case Errc::untrusted:
      return "untrusted";
    case Errc::out_of_memory:
      return "out_of_memory";
    case Errc::bad_chunk:
      return "bad_chunk";
    case Errc::would_block:
      return "would_block";
    case Errc::queue_full:
      return "queue_full";
    case Errc::peer_gone:
      return "peer_gone";
    case Errc::closed:
      return "closed";
    case Errc::stale:
      return "stale";
    case Errc::parse_error:
      return "parse_error";
    case Errc::type_error:
      return "type_error";
    case Errc::io_error:
      return "io_error";
    case Errc::remote_error:
      return "remote_error";
  }
  return "unknown";
}

Error Error::from_errno(int err, std::string_view what) {
  Errc code = Errc::system_error;
  switch (err) {
    case ENOENT:
      code = Errc::not_found;
      break;
    case EEXIST:
      code = Errc::already_exists;
      break;
    case EACCES:
    case EPERM:
      code = Errc::permission_denied;
      break;
    case ETIMEDOUT:
      code = Errc::timed_out;
      break;
    case EINTR:
      code = Errc::interrupted;
      break;
    case ENOMEM:
    case ENOSPC:
      code = Errc::out_of_memory;
      break;
    default:
      break;
  }
  std::string text = std::strerror(err);
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return Error{code, fmt::format("{}: {}", what, text), err};
}

std::string Error::what() const {
  if (!message_.empty()) return message_;
  return std::string(errc_name(code_));
}

Error Error::context(std::string_view prefix) const {
  Error e{code_, fmt::format("{}: {}", prefix, what()), sys_errno_};
  e.payload_ = payload_;
  return e;
}

void fatal_at(const char* file, int line, std::string_view message) noexcept {
  std::fprintf(stderr, "sluice fatal: %.*s (%s:%d)\n", static_cast<int>(message.size()),
               message.data(), file, line);
  std::fflush(stderr);
  std::abort();
}

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  if (u == 0) return fmt::format("{} B", bytes);
  if (v == static_cast<double>(static_cast<std::uint64_t>(v)))
    return fmt::format("{} {}", static_cast<std::uint64_t>(v), kUnits[u]);
  return fmt::format("{:.1f} {}", v, kUnits[u]);
}

bool parse_bytes(const std::string& text, std::uint64_t& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || end == text.c_str()) return false;
  std::string suffix(end);
  for (auto& c : suffix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::uint64_t mult = 1;
  if (suffix.empty() || suffix == "b")
    mult = 1;
  else if (suffix == "k" || suffix == "kb" || suffix == "kib")
    mult = KiB;
  else if (suffix == "m" || suffix == "mb" || suffix == "mib")
    mult = MiB;
  else if (suffix == "g" || suffix == "gb" || suffix == "gib")
    mult = GiB;
  else
    return false;
  if (n > UINT64_MAX / mult) return false;
  out = n * mult;
  return true;
}

}  // namespace sluice
