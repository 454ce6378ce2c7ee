// A subscriber driven by an epoll loop, as asio or libuv programs would do:
// the notification fd becomes readable when messages arrive; drain with
// try_receive until would_block, then wait again. No busy loop.
//
//   example_epoll_subscriber subscribe DOMAIN COUNT
//   example_epoll_subscriber publish DOMAIN COUNT    (bursts of 1000 with pauses)
#include <sluice/channel/channel.hpp>

#include <sys/epoll.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

int publish(const sluice::Domain& domain, std::uint64_t count,
            const sluice::ChannelOptions& options) {
  auto pub = sluice::BytePublisher::create(domain, "events", options);
  if (!pub) return std::fprintf(stderr, "publisher: %s\n", pub.error().what().c_str()), 1;
  for (int i = 0; i < 5000 && pub->subscriber_count() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (std::uint64_t i = 0; i < count; ++i) {
    if (auto r = pub->send({reinterpret_cast<const std::byte*>(&i), sizeof i}); !r)
      return std::fprintf(stderr, "publish: %s\n", r.error().what().c_str()), 1;
    if (i % 1000 == 999)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // let the loop sleep
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4)
    return std::fprintf(stderr, "usage: %s subscribe|publish DOMAIN COUNT\n", argv[0]), 2;
  const std::uint64_t count = std::strtoull(argv[3], nullptr, 10);
  auto domain = sluice::Domain::open_or_create(argv[2]);
  if (!domain) return std::fprintf(stderr, "domain: %s\n", domain.error().what().c_str()), 1;
  sluice::ChannelOptions options;
  options.capacity = 1024;
  if (std::string(argv[1]) == "publish") return publish(*domain, count, options);
  auto sub = sluice::ByteSubscriber::create(*domain, "events", {}, options);
  if (!sub) return std::fprintf(stderr, "subscriber: %s\n", sub.error().what().c_str()), 1;
  auto fd = sub->notification_fd();
  if (!fd) return std::fprintf(stderr, "notification fd: %s\n", fd.error().what().c_str()), 1;

  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = *fd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, *fd, &ev);
  std::uint64_t received = 0;
  std::uint64_t wakeups = 0;
  while (received < count) {
    epoll_event out[4];
    const int n = ::epoll_wait(ep, out, 4, 10000);
    if (n == 0) return std::fprintf(stderr, "epoll subscriber: nothing for 10 s\n"), 1;
    ++wakeups;
    for (;;) {
      auto s = sub->try_receive();
      if (!s) {
        if (s.error().code() == sluice::Errc::would_block) break;  // re-armed: back to epoll
        return std::fprintf(stderr, "receive: %s\n", s.error().what().c_str()), 1;
      }
      ++received;
    }
  }
  std::printf("epoll subscriber: %llu messages in %llu wake-ups\n",
              static_cast<unsigned long long>(received), static_cast<unsigned long long>(wakeups));
  ::close(ep);
  return 0;
}
