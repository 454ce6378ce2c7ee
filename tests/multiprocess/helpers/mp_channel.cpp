// Helper for the channel multi-process tests.
//   mp_channel publish DOMAIN CHANNEL COUNT SUBSCRIBERS POLICY
//   mp_channel subscribe DOMAIN CHANNEL COUNT POLICY
// Messages carry (sequence, size, checksum); sizes cycle through inline
// (<= 32 B) and chunk payloads. The subscriber prints one line:
//   "ok received=R dropped=D" or "error ...".
#include <sluice/channel/channel.hpp>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;

struct Header {
  std::uint64_t seq;
  std::uint64_t size;
  std::uint64_t sum;
};

constexpr std::size_t kSizes[] = {24, 32, 200, 1000, 4096, 24, 70000};

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

// Every 8-byte word after the header is a function of (seq, index), so a
// torn or stale message fails; the sum covers every word.
void fill(std::byte* p, std::size_t size, std::uint64_t seq) {
  Header h{seq, size, mix(seq)};
  for (std::size_t i = sizeof h; i + 8 <= size; i += 8) {
    const std::uint64_t w = mix(seq * 1000003 + i);
    std::memcpy(p + i, &w, 8);
    h.sum += w;
  }
  std::memcpy(p, &h, sizeof h);
}

bool verify(const std::byte* p, std::size_t size, std::uint64_t* seq) {
  if (size < sizeof(Header)) return false;
  Header h;
  std::memcpy(&h, p, sizeof h);
  if (h.size != size) return false;
  std::uint64_t sum = mix(h.seq);
  for (std::size_t i = sizeof h; i + 8 <= size; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (w != mix(h.seq * 1000003 + i)) return false;
    sum += w;
  }
  *seq = h.seq;
  return sum == h.sum;
}

sluice::ChannelOptions options(const std::string& policy) {
  sluice::ChannelOptions o;
  o.capacity = 256;
  o.max_subscribers = 8;
  o.publish_timeout = 20s;
  o.policy = policy == "overwrite" ? sluice::channel::FullPolicy::overwrite
                                   : sluice::channel::FullPolicy::block;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) return 2;
  const std::string role = argv[1];
  sluice::DomainOptions dopt;
  dopt.heap = sluice::alloc::HeapConfig::scaled(0.1, 64 * sluice::MiB);
  dopt.persistent = true;  // the test opens it after every process exited, to count leaks
  auto domain = sluice::Domain::open_or_create(argv[2], dopt);
  if (!domain) return std::printf("error domain: %s\n", domain.error().what().c_str()), 1;
  const std::string channel = argv[3];
  const std::uint64_t count = std::strtoull(argv[4], nullptr, 10);
  if (role == "publish") {
    const auto subs = static_cast<std::uint32_t>(std::atoi(argv[5]));
    auto pub = sluice::BytePublisher::create(*domain, channel, options(argv[6]));
    if (!pub) return std::printf("error publisher: %s\n", pub.error().what().c_str()), 1;
    for (int i = 0; i < 20000 && pub->subscriber_count() < subs; ++i)
      std::this_thread::sleep_for(1ms);
    if (pub->subscriber_count() < subs)
      return std::printf("error only %u subscribers\n", pub->subscriber_count()), 1;
    for (std::uint64_t seq = 0; seq < count; ++seq) {
      const std::size_t size = kSizes[seq % std::size(kSizes)];
      auto loan = pub->loan(size);
      if (!loan) return std::printf("error loan: %s\n", loan.error().what().c_str()), 1;
      fill(loan->data(), size, seq);
      if (auto r = pub->publish(std::move(*loan)); !r)
        return std::printf("error publish %llu: %s\n", static_cast<unsigned long long>(seq),
                           r.error().what().c_str()),
               1;
    }
    std::printf("ok published=%llu\n", static_cast<unsigned long long>(count));
    std::fflush(stdout);
    return 0;
  }
  const std::string policy = argv[5];
  auto sub = sluice::ByteSubscriber::create(*domain, channel, {}, options(policy));
  if (!sub) return std::printf("error subscriber: %s\n", sub.error().what().c_str()), 1;
  std::printf("ready\n");
  std::fflush(stdout);
  std::uint64_t received = 0;
  std::uint64_t expect = 0;
  while (expect < count) {
    auto s = sub->receive_for(30s);
    if (!s)
      return std::printf("error receive after %llu: %s\n",
                         static_cast<unsigned long long>(received), s.error().what().c_str()),
             1;
    std::uint64_t seq = 0;
    if (!verify(s->data(), s->size(), &seq))
      return std::printf("error torn message after seq %llu\n",
                         static_cast<unsigned long long>(expect)),
             1;
    if (policy == "block" ? seq != expect : seq < expect)
      return std::printf("error seq %llu, expected %s%llu\n", static_cast<unsigned long long>(seq),
                         policy == "block" ? "" : ">= ", static_cast<unsigned long long>(expect)),
             1;
    expect = seq + 1;
    ++received;
  }
  std::printf("ok received=%llu dropped=%llu\n", static_cast<unsigned long long>(received),
              static_cast<unsigned long long>(sub->stats().dropped));
  return 0;
}
