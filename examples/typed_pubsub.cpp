// Typed publish/subscribe between processes, with fan-out.
//
//   example_typed_pubsub subscribe DOMAIN COUNT   # run one or several
//   example_typed_pubsub publish DOMAIN COUNT SUBSCRIBERS
//
// The publisher waits until SUBSCRIBERS are attached, then publishes COUNT
// poses; each subscriber checks every one arrives, in order, intact.
#include <sluice/channel/channel.hpp>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

struct Pose {
  std::uint64_t seq;
  double x, y, theta;
  std::uint64_t check;  // seq * 2654435761, so a torn pose is visible
};

using namespace std::chrono_literals;

int publish(const sluice::Domain& domain, std::uint64_t count, std::uint32_t subscribers) {
  sluice::ChannelOptions options;
  options.capacity = 1024;  // lossless (block policy): a slow subscriber slows us down
  auto pub = sluice::Publisher<Pose>::create(domain, "robot/pose", options);
  if (!pub) return std::fprintf(stderr, "publisher: %s\n", pub.error().what().c_str()), 1;
  for (int i = 0; i < 5000 && pub->subscriber_count() < subscribers; ++i)
    std::this_thread::sleep_for(1ms);
  std::printf("publisher (pid %d): %u subscriber(s) attached, publishing %llu poses\n", ::getpid(),
              pub->subscriber_count(), static_cast<unsigned long long>(count));
  const auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < count; ++i) {
    auto loan = pub->loan();  // writable memory inside the shared segment
    if (!loan) return std::fprintf(stderr, "loan: %s\n", loan.error().what().c_str()), 1;
    **loan = Pose{i, 0.5 * static_cast<double>(i), 1.0, 0.25, i * 2654435761ULL};
    if (auto r = pub->publish(std::move(*loan)); !r)
      return std::fprintf(stderr, "publish: %s\n", r.error().what().c_str()), 1;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("publisher: %llu poses in %.3f s (%.1f M/s)\n",
              static_cast<unsigned long long>(count), secs,
              static_cast<double>(count) / secs / 1e6);
  return 0;
}

int subscribe(const sluice::Domain& domain, std::uint64_t count) {
  sluice::ChannelOptions options;
  options.capacity = 1024;
  auto sub = sluice::Subscriber<Pose>::create(domain, "robot/pose", {}, options);
  if (!sub) return std::fprintf(stderr, "subscriber: %s\n", sub.error().what().c_str()), 1;
  std::uint64_t next = 0;
  while (next < count) {
    auto pose = sub->receive_for(10s);  // spins briefly, then sleeps on a futex
    if (!pose)
      return std::fprintf(stderr, "subscriber %d: %s after %llu poses\n", ::getpid(),
                          pose.error().what().c_str(), static_cast<unsigned long long>(next)),
             1;
    if ((*pose)->seq != next || (*pose)->check != next * 2654435761ULL)
      return std::fprintf(stderr, "subscriber: pose %llu out of order or torn\n",
                          static_cast<unsigned long long>(next)),
             1;
    ++next;
  }
  std::printf("subscriber (pid %d): received all %llu poses in order, none torn\n", ::getpid(),
              static_cast<unsigned long long>(count));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s publish DOMAIN COUNT SUBSCRIBERS | subscribe DOMAIN COUNT\n",
                 argv[0]);
    return 2;
  }
  const std::string role = argv[1];
  auto domain = sluice::Domain::open_or_create(argv[2]);
  if (!domain) return std::fprintf(stderr, "domain: %s\n", domain.error().what().c_str()), 1;
  const std::uint64_t count = std::strtoull(argv[3], nullptr, 10);
  if (role == "publish")
    return publish(*domain, count, argc > 4 ? static_cast<std::uint32_t>(std::atoi(argv[4])) : 1);
  if (role == "subscribe") return subscribe(*domain, count);
  return 2;
}
