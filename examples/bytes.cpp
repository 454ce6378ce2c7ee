// Byte messages of varying size (0 B to 64 MiB), zero-copy: the publisher
// writes into loaned shared memory, the subscriber reads the same bytes.
//
//   example_bytes subscribe DOMAIN   # then, in another shell:
//   example_bytes publish DOMAIN
#include <sluice/channel/channel.hpp>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
constexpr std::size_t kSizes[] = {0, 8, 32, 33, 1024, 65536, 1 << 20, 16 << 20, 64 << 20};

std::uint64_t checksum(const std::byte* p, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < n; i += 4096)
    h = (h ^ static_cast<std::uint64_t>(p[i])) * 0x100000001b3ULL;
  if (n > 0) h = (h ^ static_cast<std::uint64_t>(p[n - 1])) * 0x100000001b3ULL;
  return h ^ n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return std::fprintf(stderr, "usage: %s publish|subscribe DOMAIN\n", argv[0]), 2;
  auto domain = sluice::Domain::open_or_create(argv[2]);
  if (!domain) return std::fprintf(stderr, "domain: %s\n", domain.error().what().c_str()), 1;
  sluice::ChannelOptions options;
  options.capacity = 16;
  if (std::string(argv[1]) == "publish") {
    auto pub = sluice::BytePublisher::create(*domain, "blobs", options);
    if (!pub) return std::fprintf(stderr, "publisher: %s\n", pub.error().what().c_str()), 1;
    for (int i = 0; i < 5000 && pub->subscriber_count() == 0; ++i) std::this_thread::sleep_for(1ms);
    for (const std::size_t size : kSizes) {
      auto loan = pub->loan(size);
      if (!loan)
        return std::fprintf(stderr, "loan %zu: %s\n", size, loan.error().what().c_str()), 1;
      for (std::size_t i = 0; i < size; i += 4096)
        loan->data()[i] = static_cast<std::byte>(i * 7 + size);
      if (size > 0) loan->data()[size - 1] = std::byte{0xee};
      const std::uint64_t sum = checksum(loan->data(), size);
      if (auto r = pub->publish(std::move(*loan)); !r)
        return std::fprintf(stderr, "publish: %s\n", r.error().what().c_str()), 1;
      std::printf("published %9zu bytes  checksum %016llx\n", size,
                  static_cast<unsigned long long>(sum));
    }
    return 0;
  }
  auto sub = sluice::ByteSubscriber::create(*domain, "blobs", {}, options);
  if (!sub) return std::fprintf(stderr, "subscriber: %s\n", sub.error().what().c_str()), 1;
  for (const std::size_t size : kSizes) {
    auto s = sub->receive_for(10s);
    if (!s) return std::fprintf(stderr, "receive: %s\n", s.error().what().c_str()), 1;
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint64_t sum = checksum(s->data(), s->size());
    const auto us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    std::printf("received  %9zu bytes  checksum %016llx  (read in place, %.1f us)\n", s->size(),
                static_cast<unsigned long long>(sum), us);
    if (s->size() != size) return std::fprintf(stderr, "expected %zu bytes\n", size), 1;
  }
  return 0;
}
