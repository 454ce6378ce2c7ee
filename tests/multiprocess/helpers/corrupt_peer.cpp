// A live peer for the corruption tests (tests/multiprocess/corruption_test.cpp):
// it attaches to a domain and runs channel endpoints while the test process
// overwrites parts of the segment, and reports what each operation returned.
//
//   corrupt_peer DOMAIN
//
// stdin, one command per line; stdout, one answer line per command:
//   pub NAME | sub NAME [HISTORY] | tx NAME | rx NAME    open an endpoint (pub/sub or queue)
//   send SIZE                      publish / send SIZE bytes (pattern-filled)
//   recv                           receive one message (receive_for 200 ms); checks the pattern
//   hold                           receive one and keep the sample (held table)
//   loan SIZE                      take a loan and keep it
//   reclaim                        Domain::reclaim()
//   exit                           close everything and exit 0
// Answers: "ok [detail]" or "err <errc name> <message>". Opening the domain
// happens first; its outcome is the first line ("ok" or "err ...").
//
// The test bounds every answer in time (no infinite loop) and checks the
// exit status: a crash, a sanitizer report or an abort fails it.

#include <sluice/channel/channel.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

void answer(const std::string& s) {
  std::fputs((s + "\n").c_str(), stdout);
  std::fflush(stdout);
}

void answer_error(const sluice::Error& e) {
  std::string msg = e.what();
  for (char& c : msg)
    if (c == '\n') c = ' ';
  answer(fmt::format("err {} {}", sluice::errc_name(e.code()), msg));
}

sluice::ChannelOptions options(bool queue) {
  sluice::ChannelOptions o;
  o.capacity = 16;
  o.history = queue ? 0 : 4;
  o.max_subscribers = 4;
  o.max_senders = 4;
  o.max_held = 8;
  o.publish_timeout = 100ms;
  o.policy = sluice::channel::FullPolicy::fail;
  return o;
}

std::byte pattern(std::size_t i, std::size_t size) {
  return static_cast<std::byte>((i * 31 + size) & 0xFF);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: corrupt_peer DOMAIN\n");
    return 2;
  }
  auto domain = sluice::Domain::open(argv[1], {.timeout = 2000ms});
  if (!domain) {
    answer_error(domain.error());
  } else {
    answer("ok");
  }
  std::optional<sluice::BytePublisher> pub;
  std::optional<sluice::ByteSubscriber> sub;
  std::optional<sluice::QueueSender> tx;
  std::optional<sluice::QueueReceiver> rx;
  std::vector<sluice::Sample> held;
  std::vector<sluice::Loan> loans;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd, arg;
    in >> cmd >> arg;
    if (cmd == "exit") break;
    if (!domain) {
      answer("err not_found no domain");
      continue;
    }
    if (cmd == "pub" || cmd == "sub" || cmd == "tx" || cmd == "rx") {
      const bool queue = cmd == "tx" || cmd == "rx";
      sluice::Result<void> r = sluice::ok();
      if (cmd == "pub") {
        auto p = sluice::BytePublisher::create(*domain, arg, options(queue));
        if (p)
          pub.emplace(std::move(p).value());
        else
          r = sluice::fail(p.error());
      } else if (cmd == "sub") {
        std::uint64_t history = 0;
        in >> history;
        auto s = sluice::ByteSubscriber::create(*domain, arg, {.history = history}, options(queue));
        if (s)
          sub.emplace(std::move(s).value());
        else
          r = sluice::fail(s.error());
      } else if (cmd == "tx") {
        auto s = sluice::QueueSender::create(*domain, arg, options(queue));
        if (s)
          tx.emplace(std::move(s).value());
        else
          r = sluice::fail(s.error());
      } else {
        auto s = sluice::QueueReceiver::create(*domain, arg, options(queue));
        if (s)
          rx.emplace(std::move(s).value());
        else
          r = sluice::fail(s.error());
      }
      if (r)
        answer("ok");
      else
        answer_error(r.error());
    } else if (cmd == "send") {
      const std::size_t size = std::stoul(arg);
      std::vector<std::byte> bytes(size);
      for (std::size_t i = 0; i < size; ++i) bytes[i] = pattern(i, size);
      auto r =
          pub  ? pub->send(bytes)
          : tx ? tx->send(bytes)
               : sluice::Result<void>(sluice::fail(sluice::Errc::invalid_argument, "no writer"));
      if (r)
        answer("ok");
      else
        answer_error(r.error());
    } else if (cmd == "recv" || cmd == "hold") {
      auto s = sub  ? sub->receive_for(200ms)
               : rx ? rx->receive_for(200ms)
                    : sluice::Result<sluice::Sample>(
                          sluice::fail(sluice::Errc::invalid_argument, "no reader"));
      if (!s) {
        answer_error(s.error());
        continue;
      }
      bool intact = true;
      for (std::size_t i = 0; i < s->size(); ++i)
        intact = intact && s->data()[i] == pattern(i, s->size());
      answer(fmt::format("ok {} {}", s->size(), intact ? "intact" : "altered"));
      if (cmd == "hold") held.push_back(std::move(s).value());
    } else if (cmd == "loan") {
      auto l = pub  ? pub->loan(std::stoul(arg))
               : tx ? tx->loan(std::stoul(arg))
                    : sluice::Result<sluice::Loan>(
                          sluice::fail(sluice::Errc::invalid_argument, "no writer"));
      if (l) {
        loans.push_back(std::move(l).value());
        answer("ok");
      } else {
        answer_error(l.error());
      }
    } else if (cmd == "reclaim") {
      auto r = domain->reclaim();
      if (r)
        answer(fmt::format("ok dead={} closed={} skipped={}", r->dead_peers, r->endpoints_closed,
                           r->channels_skipped));
      else
        answer_error(r.error());
    } else {
      answer("err invalid_argument unknown command " + cmd);
    }
  }
  held.clear();
  loans.clear();
  return 0;
}
