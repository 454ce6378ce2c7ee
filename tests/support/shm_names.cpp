#include "support/shm_names.hpp"

#include <fmt/format.h>

#include <dirent.h>
#include <sys/mman.h>
#include <unistd.h>
#include <atomic>
#include <cstdlib>

namespace sluice::test {

std::string unique_shm_name(std::string_view tag) {
  static std::atomic<unsigned> counter{0};
  return fmt::format("sluice-t{}-{}-{}", ::getpid(), tag, counter.fetch_add(1));
}

const std::string& ShmGuard::add(std::string name) {
  names_.push_back(std::move(name));
  return names_.back();
}

ShmGuard::~ShmGuard() {
  for (const auto& n : names_) {
    const std::string bare = (!n.empty() && n[0] == '/') ? n.substr(1) : n;
    ::shm_unlink(("/" + bare).c_str());
    // Extents and side files share the name as a prefix.
    if (DIR* d = ::opendir("/dev/shm")) {
      while (dirent* e = ::readdir(d)) {
        std::string_view f = e->d_name;
        if (f.size() > bare.size() && f.substr(0, bare.size()) == bare && f[bare.size()] == '.')
          ::shm_unlink(("/" + std::string(f)).c_str());
      }
      ::closedir(d);
    }
  }
}

std::string helper_path(std::string_view program) {
  if (const char* dir = std::getenv("SLUICE_TEST_BIN_DIR"))
    return fmt::format("{}/{}", dir, program);
  // Helpers are built next to the test binaries.
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  std::string dir = n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : std::string("./x");
  return fmt::format("{}/{}", dir.substr(0, dir.rfind('/')), program);
}

}  // namespace sluice::test
