#pragma once
// Errors for every layer: one code enum, grouped by layer, plus context.
//
// A hot path returns Error{code} with no message, which does not allocate;
// cold paths add a lower-case message with context ("attach 'telemetry':
// layout version 3, expected 4") and, for system calls, the errno.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace sluice {

enum class Errc : std::uint16_t {
  ok = 0,
  // generic (base)
  invalid_argument = 1,
  out_of_range,
  not_supported,
  internal,
  // os
  system_error = 100,  // a system call failed; errno is set
  not_found,           // ENOENT on an shm object
  already_exists,      // EEXIST on create
  permission_denied,   // EACCES/EPERM
  timed_out,
  interrupted,
  // layout
  bad_name = 200,
  bad_magic,
  version_mismatch,
  corrupted,  // a value read from shared memory failed validation
  not_ready,  // creator still initialising (retryable)
  creator_died,
  table_full,       // peer table or registry full
  config_mismatch,  // attach with another configuration
  untrusted,        // owned by a user not trusted, or a mode wider than asked for
  // alloc
  out_of_memory = 300,  // pools and TLSF exhausted (retryable)
  bad_chunk,            // offset/generation does not name a live chunk
  // ring / channel
  would_block = 400,  // queue empty / full under fail-fast (retryable)
  queue_full,
  peer_gone,  // the other side died or detached (terminal)
  closed,
  stale,  // a handle or descriptor from an older generation
  // arrow / rpc
  parse_error = 500,
  type_error,
  io_error,
  remote_error,
};

// Name of the code, for messages and --json output.
std::string_view errc_name(Errc code) noexcept;

// True for results a caller may retry later (full, empty, out of memory,
// timed out, not ready); false for terminal ones (corrupted, peer gone).
constexpr bool is_retryable(Errc code) noexcept {
  switch (code) {
    case Errc::would_block:
    case Errc::queue_full:
    case Errc::out_of_memory:
    case Errc::timed_out:
    case Errc::not_ready:
    case Errc::interrupted:
      return true;
    default:
      return false;
  }
}

// Structured context that a layer attaches to an error (the RPC layer's
// RemoteError: the server's code, type, message and details). Read it back
// with a dynamic_cast of Error::payload().
struct ErrorPayload {
  ErrorPayload() = default;
  ErrorPayload(const ErrorPayload&) = default;
  ErrorPayload& operator=(const ErrorPayload&) = default;
  ErrorPayload(ErrorPayload&&) = default;
  ErrorPayload& operator=(ErrorPayload&&) = default;
  virtual ~ErrorPayload() = default;
};

class Error {
 public:
  Error() = default;
  constexpr explicit Error(Errc code) noexcept : code_(code) {}
  Error(Errc code, std::string message, int sys_errno = 0)
      : code_(code), sys_errno_(sys_errno), message_(std::move(message)) {}

  // A system-call failure: "shm_open '/sluice-x': permission denied".
  static Error from_errno(int err, std::string_view what);

  [[nodiscard]] Errc code() const noexcept { return code_; }
  [[nodiscard]] int sys_errno() const noexcept { return sys_errno_; }
  [[nodiscard]] bool retryable() const noexcept { return is_retryable(code_); }
  [[nodiscard]] const std::string& message() const noexcept { return message_; }

  // message() if set, else the code's name.
  [[nodiscard]] std::string what() const;

  // Prefix context: err.context("attach 'x'") gives "attach 'x': <message>".
  [[nodiscard]] Error context(std::string_view prefix) const;

  // Structured context (null when none); context() keeps it.
  [[nodiscard]] const ErrorPayload* payload() const noexcept { return payload_.get(); }
  [[nodiscard]] Error with_payload(std::shared_ptr<const ErrorPayload> p) const {
    Error e = *this;
    e.payload_ = std::move(p);
    return e;
  }

  friend bool operator==(const Error& e, Errc c) noexcept { return e.code_ == c; }

 private:
  Errc code_ = Errc::ok;
  int sys_errno_ = 0;
  std::string message_;
  std::shared_ptr<const ErrorPayload> payload_;
};

}  // namespace sluice
