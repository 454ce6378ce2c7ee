#pragma once
// Finding domains on this machine and removing dead ones, for `sluice ls`
// and `sluice gc`. Reads /dev/shm, where glibc keeps shm_open objects.

#include <sluice/base/result.hpp>
#include <sluice/layout/segment.hpp>

#include <sys/types.h>

#include <string>
#include <vector>

namespace sluice::layout {

struct DomainSummary {
  std::string name;
  std::uint64_t size = 0;
  std::string state;  // ready / initialising / corrupted / ...
  std::string error;  // why it could not be read, if it could not
  std::uint64_t generation = 0;
  std::uint64_t created_unix_ns = 0;
  std::uint32_t peers_alive = 0;
  std::uint32_t peers_dead = 0;
  std::uint32_t entries = 0;
  bool temporary = false;  // a creator's private object (name.init-PID-N)
  std::int32_t temporary_pid = 0;
  uid_t owner = 0;       // of the object (lstat)
  mode_t mode = 0;       // its permission bits
  bool readable = true;  // false: this user may not read it (state "unreadable")
};

// What an object in /dev/shm is, as far as this user can tell.
enum class ShmKind { domain, other, unreadable, missing };
ShmKind probe_object(std::string_view name);

// Every sluice domain in /dev/shm (objects starting with the domain magic),
// plus creators' temporary objects. Objects this user may not read are
// listed too, as "unreadable" with their owner and mode: they may be
// domains of other users (or not domains at all).
Result<std::vector<DomainSummary>> list_domains();

// Reads one domain without attaching as a peer.
Result<DomainSummary> summarize_domain(std::string_view name);

struct GcOptions {
  bool idle = false;  // also remove domains with no attached peer at all
  bool dry_run = false;
};

struct GcAction {
  std::string name;
  std::string reason;
  bool removed = false;
  std::string error;
};

// Removes domains whose attached processes are all dead (and, with `idle`,
// those with none), and temporary objects of creators that died.
Result<std::vector<GcAction>> collect_garbage(const GcOptions& options);

}  // namespace sluice::layout
