#pragma once
// The transport interface of the peer benchmark.
//
// A transport is the code a user of one IPC mechanism would write to move a
// message from one process to others: nothing more. The harness owns the
// rest — the processes and their pinning, the payload, the clock, the
// histograms, warm-up, output — so every transport is measured by the same
// code. Adding one is one file (see docs/benchmarks.md, "Adding a transport",
// and bench/peers/transport_pipe.cpp for a short example):
//
//   struct MyTransport {
//     static TransportInfo info();
//     static Result<Link> create_link(const LinkSpec&);  // parent, before fork
//     static Result<void> init_process(std::string_view); // optional, child
//     struct Link     { Result<Sender> open_sender();
//                       Result<Receiver> open_receiver(std::uint32_t index); };
//     struct Sender   { std::span<std::byte> loan(std::size_t bytes);
//                       void send(std::span<std::byte> msg); };
//     struct Receiver { std::optional<std::span<const std::byte>> try_receive();
//                       std::span<const std::byte> receive();
//                       void release();
//                       Result<void> wait_connected(std::uint64_t deadline_ns); // optional
//     };
//   };
//   SLUICE_BENCH_REGISTER_TRANSPORT(MyTransport);
//
// Lifecycle of one measurement:
//   parent  create_link(spec) for each link (S1 ping-pong: "ab" and "ba")
//   parent  fork the processes; each pins itself to its core
//   child   init_process(name)                       if the transport has it
//   child   link.open_sender() / link.open_receiver(i)
//   child   receiver.wait_connected(deadline)        if the transport has it
//   child   -- start barrier: every process has its endpoints --
//   child   the scenario loop: loan, fill, send / receive, read, release
//   child   endpoints destroyed; exit() (static destructors run)
//   parent  Link destroyed once every child exited: close fds, unlink names
//
// Contracts:
// - A Link is plain data (fds, names, sizes) that fork() copies into every
//   child; it is destroyed in the parent only, after the children exited.
// - loan(n) returns n writable bytes; for a copying transport a private
//   buffer, for a zero-copy one the memory the receiver will read. At most
//   one loan is outstanding per Sender; send(msg) takes that loan's span.
//   Destroying a Sender with an unsent loan gives the loan back.
// - send() is lossless: when the link holds `depth` unread messages it
//   waits (blocks or spins, the transport's choice) — never drops.
// - try_receive() never waits. receive() waits in the kernel (or however the
//   transport's blocking receive waits) until a message arrives. The span
//   stays valid until release(); at most one message is held per Receiver.
//   With spec.wait == busy the harness calls only try_receive() (spinning);
//   with blocking only receive().
// - Every message reaches every one of spec.receivers receivers (fan-out).
// - Hot-path failures (a send or receive system call that fails) call
//   fatal(...): the measurement is abandoned and recorded as failed.

#include <sluice/base/result.hpp>

#include <fmt/format.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sluice::bench {

// How receivers wait for a message.
enum class Wait : std::uint8_t {
  busy,      // spin on try_receive(): lowest latency, burns the receiver's core
  blocking,  // receive(): sleep in the kernel until woken
};

std::string_view to_string(Wait w) noexcept;

// One direction of communication: one sender, `receivers` receivers.
struct LinkSpec {
  std::string name;           // unique among live links; [a-z0-9-], at most 48 characters
  std::uint64_t max_payload;  // the largest message that will be sent
  std::uint32_t depth;        // unread messages the link holds before send() waits (>= 1)
  std::uint32_t receivers;    // each message reaches every receiver (> 1: fan-out)
  Wait wait;                  // how the receivers will wait
};

struct TransportInfo {
  std::string_view name;                   // key in records: "pipe", "iceoryx", ...
  std::string_view label;                  // column heading: "pipe", "iceoryx 2.0.3", ...
  std::string_view description;            // how the mechanism is used, one sentence for the docs
  int order = 100;                         // column order: floors, sluice, then peers
  std::uint64_t max_payload = UINT64_MAX;  // larger payloads are recorded as unsupported
  bool is_floor = false;                   // a hardware floor rather than a transport
  bool busy = true;                        // supports Wait::busy
  bool blocking = true;                    // supports Wait::blocking
  bool streaming = true;                   // supports S2 (depth > 1)
  bool fan_out = true;                     // supports receivers > 1
};

template <typename T>
concept Transport = requires(const LinkSpec& spec, typename T::Link& link, typename T::Sender& tx,
                             typename T::Receiver& rx, std::size_t bytes, std::span<std::byte> msg,
                             std::uint32_t index) {
  { T::info() } -> std::same_as<TransportInfo>;
  { T::create_link(spec) } -> std::same_as<Result<typename T::Link>>;
  { link.open_sender() } -> std::same_as<Result<typename T::Sender>>;
  { link.open_receiver(index) } -> std::same_as<Result<typename T::Receiver>>;
  { tx.loan(bytes) } -> std::same_as<std::span<std::byte>>;
  { tx.send(msg) } -> std::same_as<void>;
  { rx.try_receive() } -> std::same_as<std::optional<std::span<const std::byte>>>;
  { rx.receive() } -> std::same_as<std::span<const std::byte>>;
  { rx.release() } -> std::same_as<void>;
};

// Optional hooks, detected at compile time.
template <typename T>
concept HasInitProcess = requires(std::string_view name) {
  { T::init_process(name) } -> std::same_as<Result<void>>;
};
template <typename R>
concept HasWaitConnected = requires(R& rx, std::uint64_t deadline_ns) {
  { rx.wait_connected(deadline_ns) } -> std::same_as<Result<void>>;
};

// Abandons the measurement from inside a child process: prints the message,
// stores it where the parent will find it, and exits without cleanup.
[[noreturn]] void fatal_message(std::string_view message) noexcept;

template <typename... Args>
[[noreturn]] void fatal(fmt::format_string<Args...> f, Args&&... args) {
  fatal_message(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace sluice::bench
