#pragma once
// Test hooks. A crash hook is called at named points inside the TLSF
// critical sections (between the writes of a split or merge), so a forked
// test child can die at an exact instruction while holding the TLSF lock and
// the parent can check the repair. Null (the default) in production; the
// check is one relaxed load on a path that already holds a mutex. Every
// point also reaches the process-wide hook of <sluice/base/crash_point.hpp>
// (the crash harness's), which also marks the two pool windows
// ("alloc.pool.popped", "alloc.pool.released") at the cost of a predicted
// branch.

namespace sluice::alloc::testing {

using CrashHook = void (*)(const char* point);

// Process-wide; pass nullptr to remove.
void set_crash_hook(CrashHook hook) noexcept;

// Points: "tlsf.split.prepared", "tlsf.split.shrunk", "tlsf.alloc.claimed",
// "tlsf.free.marked", "tlsf.merge.next.unlinked", "tlsf.merge.prev.unlinked",
// "tlsf.free.merged".

}  // namespace sluice::alloc::testing
