// A program outside the sluice tree, built against the installed package: the
// umbrella header, a domain, one byte message through a channel, and an Arrow
// IPC round trip.
#include <sluice/sluice.hpp>

#include <unistd.h>
#include <cstdio>
#include <cstring>
#include <string>

int main() {
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
