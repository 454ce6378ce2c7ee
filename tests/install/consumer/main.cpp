// A program outside the sluice tree, built against the installed package: the
// umbrella header, a domain, one byte message through a channel, and an Arrow
// IPC round trip. `consumer publish NAME` / `consumer subscribe NAME` pass one
// typed value between two processes, which run.sh builds with different
// compilers (type identity must not depend on the compiler).
#include <sluice/sluice.hpp>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace robot {
struct Pose {
  double x, y;
  std::uint32_t frame;
};
}  // namespace robot

namespace {

using namespace std::chrono_literals;

int publish(const std::string& name) {
  sluice::DomainOptions options;
  options.heap = sluice::alloc::HeapConfig::scaled(0.01, 1 << 20);
  auto domain = sluice::Domain::create(name, options);
  if (!domain) return std::fprintf(stderr, "publish: %s\n", domain.error().what().c_str()), 1;
  auto pub = sluice::Publisher<robot::Pose>::create(*domain, "pose");
  if (!pub) return std::fprintf(stderr, "publish: %s\n", pub.error().what().c_str()), 1;
  for (int i = 0; i < 10000 && pub->subscriber_count() == 0; ++i) std::this_thread::sleep_for(1ms);
  const bool sent = pub->subscriber_count() == 1 && pub->send(robot::Pose{1.5, -2.5, 7});
  for (int i = 0; i < 10000 && pub->subscriber_count() > 0; ++i) std::this_thread::sleep_for(1ms);
  (void)sluice::Domain::remove(name);
  return sent ? 0 : 1;
}

int subscribe(const std::string& name) {
  for (int i = 0; i < 10000; ++i) {
    auto domain = sluice::Domain::open(name);
    if (!domain) {
      std::this_thread::sleep_for(1ms);
      continue;
    }
    auto sub = sluice::Subscriber<robot::Pose>::create(*domain, "pose");
    if (!sub) return std::fprintf(stderr, "subscribe: %s\n", sub.error().what().c_str()), 1;
    auto pose = sub->receive_for(10s);
    if (!pose) return std::fprintf(stderr, "subscribe: %s\n", pose.error().what().c_str()), 1;
    const bool same = (*pose)->x == 1.5 && (*pose)->y == -2.5 && (*pose)->frame == 7;
    std::printf("typed value across compilers: %s\n", same ? "ok" : "wrong");
    return same ? 0 : 1;
  }
  return std::fprintf(stderr, "subscribe: no domain '%s'\n", name.c_str()), 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "publish") return publish(argv[2]);
  if (argc == 3 && std::string(argv[1]) == "subscribe") return subscribe(argv[2]);
  const std::string name = "sluice-t" + std::to_string(::getpid()) + "-consumer";
  sluice::DomainOptions options;
  options.heap = sluice::alloc::HeapConfig::scaled(0.01, 1 << 20);
  auto domain = sluice::Domain::create(name, options);
  if (!domain) {
    std::fprintf(stderr, "consumer: %s\n", domain.error().what().c_str());
    return 1;
  }
  int rc = 1;
  {
    auto pub = sluice::BytePublisher::create(*domain, "hello");
    auto sub = sluice::ByteSubscriber::create(*domain, "hello");
    const char text[] = "hello from the installed package";
    if (pub && sub && pub->send(std::as_bytes(std::span(text)))) {
      auto got = sub->try_receive();
      if (got && got->size() == sizeof text && std::memcmp(got->data(), text, sizeof text) == 0)
        rc = 0;
    }
  }
  const sluice::arrow::RecordBatch batch = sluice::arrow::make_sample_batch(3);
  auto bytes = sluice::arrow::ipc::write_stream(batch.schema(), {batch});
  if (!bytes) return 1;
  auto back =
      sluice::arrow::ipc::read_all(sluice::arrow::Buffer::copy_of(bytes->data(), bytes->size()));
  if (!back || back->size() != 1 || (*back)[0].num_rows() != 3) rc = 1;
  std::printf("sluice %s consumer: %s\n", std::string(sluice::version).c_str(),
              rc == 0 ? "ok" : "failed");
  (void)sluice::Domain::remove(name);
  return rc;
}
