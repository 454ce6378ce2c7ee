// Helper for the Arrow batch channel multi-process test.
//   arrow_batch_peer publish DOMAIN COUNT SUBSCRIBERS
//   arrow_batch_peer subscribe DOMAIN COUNT
// Two channels in the domain (created by the test):
//   "every"   - the sample batch with a column of every type (sample.hpp),
//               message k: rows rows_of(k) starting at row 13 k, sent with
//               publish(batch); every fifth one is a slice of a larger batch.
//               Batch metadata "k" = k.
//   "inplace" - flat columns built in place in the loaned chunk (BatchLoan),
//               values a function of (k, row); see fill_flat / expected_flat.
// The subscriber recomputes the expected batch for every message, compares
// every value, checks that every buffer lies inside its own mapping of the
// domain (zero-copy across processes), holds up to eight batches at a time
// and exports some through the C Data Interface before releasing them.
// Each process prints one line: "ok published=N" / "ok received=N" or
// "error ...", and the subscriber prints "ready" once subscribed.
#include <sluice/arrow/builder.hpp>
#include <sluice/arrow/compare.hpp>
#include <sluice/arrow/print.hpp>
#include <sluice/arrow/sample.hpp>
#include <sluice/batch/batch_channel.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <thread>

namespace sa = sluice::arrow;
namespace sb = sluice::batch;

namespace {

using namespace std::chrono_literals;

std::int64_t rows_of(std::uint64_t k) { return 1 + static_cast<std::int64_t>((k * 37) % 300); }
std::int64_t flat_rows_of(std::uint64_t k) { return static_cast<std::int64_t>((k * 53) % 2000); }

sa::RecordBatch expected_every(std::uint64_t k) {
  sa::SampleOptions o;
  o.schema_metadata.set("origin", "arrow_batch_peer");
  o.batch_metadata.set("k", std::to_string(k));
  const auto first = static_cast<std::int64_t>(k * 13);
  if (k % 5 == 4) {  // a slice: rows [10, 10 + n) of a batch starting 10 rows earlier
    auto whole = sa::make_sample_batch(rows_of(k) + 25, o, first - 10 + 1000);
    return whole.slice(10, rows_of(k));
  }
  return sa::make_sample_batch(rows_of(k), o, first + 1000);
}
sa::RecordBatch canonical_every(std::uint64_t k) {
  sa::SampleOptions o;
  o.schema_metadata.set("origin", "arrow_batch_peer");
  o.batch_metadata.set("k", std::to_string(k));
  return sa::make_sample_batch(rows_of(k), o, static_cast<std::int64_t>(k * 13) + 1000);
}

sa::SchemaPtr flat_schema() {
  static const sa::SchemaPtr s = sa::schema({
      sa::field("i8", sa::int8(), false),
      sa::field("id", sa::int64(), false),
      sa::field("u16", sa::uint16()),
      sa::field("f32", sa::float32()),
      sa::field("f64", sa::float64(), false),
      sa::field("b", sa::boolean()),
      sa::field("s", sa::utf8()),
      sa::field("ls", sa::large_utf8(), false),
      sa::field("bin", sa::binary()),
      sa::field("fsb", sa::fixed_size_binary(5)),
      sa::field("dec", sa::decimal128(12, 2)),
      sa::field("ts", sa::timestamp(sa::TimeUnit::nano, "UTC")),
      sa::field("d32", sa::date32()),
      sa::field("dur", sa::duration(sa::TimeUnit::milli)),
      sa::field("mdn", sa::interval_month_day_nano()),
      sa::field("nil", sa::null()),
  });
  return s;
}

bool null_at(std::int64_t i, int col) { return (i + col) % 7 == 3; }
std::string s_value(std::uint64_t k, std::int64_t i) { return fmt::format("r{}-{}", k, i); }
std::string ls_value(std::int64_t i) { return std::string(static_cast<std::size_t>(i % 5), 'x'); }
std::string bin_value(std::uint64_t k, std::int64_t i) {
  std::string v(static_cast<std::size_t>(i % 4), '\0');
  for (std::size_t j = 0; j < v.size(); ++j)
    v[j] = static_cast<char>(k + static_cast<std::uint64_t>(i) + j);
  return v;
}
std::string fsb_value(std::int64_t i) {
  std::string v(5, '\0');
  for (std::size_t j = 0; j < 5; ++j)
    v[j] = static_cast<char>(i * 3 + static_cast<std::int64_t>(j));
  return v;
}

// The in-place batch of message k as the builders make it.
sa::RecordBatch expected_flat(std::uint64_t k) {
  const std::int64_t n = flat_rows_of(k);
  const auto kk = static_cast<std::int64_t>(k);
  std::vector<std::optional<std::int8_t>> i8;
  std::vector<std::optional<std::int64_t>> id, ts, dur;
  std::vector<std::optional<std::uint16_t>> u16;
  std::vector<std::optional<float>> f32;
  std::vector<std::optional<double>> f64;
  std::vector<std::optional<bool>> b;
  std::vector<std::optional<std::string>> s, ls, bin, fsb;
  std::vector<std::optional<sa::Decimal128>> dec;
  std::vector<std::optional<std::int32_t>> d32;
  std::vector<std::optional<sa::MonthDayNanoInterval>> mdn;
  for (std::int64_t i = 0; i < n; ++i) {
    i8.emplace_back(static_cast<std::int8_t>(i - 64));
    id.emplace_back(kk * 1'000'000 + i);
    u16.push_back(null_at(i, 2) ? std::nullopt
                                : std::optional<std::uint16_t>(static_cast<std::uint16_t>(i * 7)));
    f32.push_back(null_at(i, 3) ? std::nullopt
                                : std::optional<float>(static_cast<float>(i) * 0.5f));
    f64.emplace_back(static_cast<double>(kk) + static_cast<double>(i) / 8);
    b.push_back(null_at(i, 5) ? std::nullopt : std::optional<bool>((i + kk) % 3 == 0));
    s.push_back(null_at(i, 6) ? std::nullopt : std::optional<std::string>(s_value(k, i)));
    ls.emplace_back(ls_value(i));
    bin.push_back(null_at(i, 8) ? std::nullopt : std::optional<std::string>(bin_value(k, i)));
    fsb.push_back(null_at(i, 9) ? std::nullopt : std::optional<std::string>(fsb_value(i)));
    dec.push_back(null_at(i, 10) ? std::nullopt
                                 : std::optional<sa::Decimal128>(
                                       sa::Decimal128{static_cast<std::uint64_t>(i * 101), 0}));
    ts.push_back(null_at(i, 11) ? std::nullopt
                                : std::optional<std::int64_t>(1'700'000'000'000'000'000 + i * 999));
    d32.push_back(null_at(i, 12)
                      ? std::nullopt
                      : std::optional<std::int32_t>(static_cast<std::int32_t>(19000 + i)));
    dur.push_back(null_at(i, 13) ? std::nullopt : std::optional<std::int64_t>(i * 1000 - 5));
    mdn.push_back(null_at(i, 14) ? std::nullopt
                                 : std::optional<sa::MonthDayNanoInterval>(sa::MonthDayNanoInterval{
                                       static_cast<std::int32_t>(i % 12),
                                       static_cast<std::int32_t>(-i), i * 3}));
  }
  const auto& f = flat_schema()->fields();
  sa::KeyValueMetadata md;
  md.set("k", std::to_string(k));
  return sa::RecordBatch(
      flat_schema(), n,
      {sa::make_array(f[0]->type(), i8), sa::make_array(f[1]->type(), id),
       sa::make_array(f[2]->type(), u16), sa::make_array(f[3]->type(), f32),
       sa::make_array(f[4]->type(), f64), sa::make_bool_array(b),
       sa::make_binary_array(f[6]->type(), s), sa::make_binary_array(f[7]->type(), ls),
       sa::make_binary_array(f[8]->type(), bin), sa::make_binary_array(f[9]->type(), fsb),
       sa::make_array(f[10]->type(), dec), sa::make_array(f[11]->type(), ts),
       sa::make_array(f[12]->type(), d32), sa::make_array(f[13]->type(), dur),
       sa::make_array(f[14]->type(), mdn), sa::make_null_array(n)},
      md);
}

template <typename T>
void put(sb::BatchLoan& loan, std::size_t col, std::int64_t i, const T& v) {
  std::memcpy(loan.values(col).data() + static_cast<std::size_t>(i) * sizeof(T), &v, sizeof(T));
}

template <typename Offset, typename Value>
void put_binary(sb::BatchLoan& loan, std::size_t col, std::int64_t n, Value&& value) {
  Offset pos = 0;
  auto offsets = loan.values_as<Offset>(col);
  for (std::int64_t i = 0; i < n; ++i) {
    if (!loan.validity(col).empty() && null_at(i, static_cast<int>(col))) {
      sa::set_bit(loan.validity(col).data(), i, false);
    } else {
      const std::string v = value(i);
      std::memcpy(loan.data(col).data() + pos, v.data(), v.size());
      pos += static_cast<Offset>(v.size());
    }
    offsets[static_cast<std::size_t>(i) + 1] = pos;
  }
}

// Writes message k straight into the loaned chunk.
sluice::Result<sb::BatchLoan> fill_flat(sb::BatchPublisher& pub, std::uint64_t k) {
  const std::int64_t n = flat_rows_of(k);
  std::size_t s_bytes = 0, ls_bytes = 0, bin_bytes = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!null_at(i, 6)) s_bytes += s_value(k, i).size();
    ls_bytes += ls_value(i).size();
    if (!null_at(i, 8)) bin_bytes += bin_value(k, i).size();
  }
  const std::size_t caps[] = {0, 0, 0, 0, 0, 0, s_bytes, ls_bytes, bin_bytes};
  sa::KeyValueMetadata md;
  md.set("k", std::to_string(k));
  SLUICE_TRY_ASSIGN(sb::BatchLoan loan, pub.loan(flat_schema(), n, caps, md));
  const auto kk = static_cast<std::int64_t>(k);
  // Null slots of fixed-width columns get zeros (the comparison ignores them,
  // but the chunk may hold an older message's bytes).
  for (const std::size_t c : {2u, 3u, 9u, 10u, 11u, 12u, 13u, 14u}) {
    auto v = loan.values(c);
    std::memset(v.data(), 0, v.size());
  }
  std::memset(loan.values(5).data(), 0, loan.values(5).size());
  for (std::int64_t i = 0; i < n; ++i) {
    put(loan, 0, i, static_cast<std::int8_t>(i - 64));
    put(loan, 1, i, kk * 1'000'000 + i);
    auto nullable = [&](std::size_t c, auto v) {
      if (null_at(i, static_cast<int>(c)))
        sa::set_bit(loan.validity(c).data(), i, false);
      else
        put(loan, c, i, v);
    };
    nullable(2, static_cast<std::uint16_t>(i * 7));
    nullable(3, static_cast<float>(i) * 0.5f);
    put(loan, 4, i, static_cast<double>(kk) + static_cast<double>(i) / 8);
    if (null_at(i, 5))
      sa::set_bit(loan.validity(5).data(), i, false);
    else
      sa::set_bit(loan.values(5).data(), i, (i + kk) % 3 == 0);
    if (null_at(i, 9)) {
      sa::set_bit(loan.validity(9).data(), i, false);
    } else {
      const std::string v = fsb_value(i);
      std::memcpy(loan.values(9).data() + 5 * i, v.data(), 5);
    }
    nullable(10, sa::Decimal128{static_cast<std::uint64_t>(i * 101), 0});
    nullable(11, std::int64_t{1'700'000'000'000'000'000} + i * 999);
    nullable(12, static_cast<std::int32_t>(19000 + i));
    nullable(13, std::int64_t{i * 1000 - 5});
    nullable(14, sa::MonthDayNanoInterval{static_cast<std::int32_t>(i % 12),
                                          static_cast<std::int32_t>(-i), i * 3});
  }
  put_binary<std::int32_t>(loan, 6, n, [&](std::int64_t i) { return s_value(k, i); });
  put_binary<std::int64_t>(loan, 7, n, [&](std::int64_t i) { return ls_value(i); });
  put_binary<std::int32_t>(loan, 8, n, [&](std::int64_t i) { return bin_value(k, i); });
  return loan;
}

bool inside(const sa::Array& a, const std::byte* lo, const std::byte* hi) {
  for (const auto& b : a.buffers())
    if (!b.empty() && (b.data() < lo || b.data() + b.size() > hi)) return false;
  for (const auto& c : a.children())
    if (!inside(*c, lo, hi)) return false;
  return !a.dictionary() || inside(*a.dictionary(), lo, hi);
}

int fail_with(const std::string& what) {
  std::printf("error %s\n", what.c_str());
  std::fflush(stdout);
  return 1;
}

sluice::ChannelOptions channel_options() {
  sluice::ChannelOptions o;
  o.capacity = 64;
  o.max_subscribers = 4;
  o.max_held = 16;
  o.publish_timeout = 30s;
  return o;
}

int publish(const sluice::Domain& domain, std::uint64_t count, std::uint32_t subs) {
  auto every = sb::BatchPublisher::create(domain, "every", channel_options());
  if (!every) return fail_with("publisher: " + every.error().what());
  auto inplace = sb::BatchPublisher::create(domain, "inplace", channel_options());
  if (!inplace) return fail_with("publisher: " + inplace.error().what());
  for (int i = 0;
       i < 30000 && (every->subscriber_count() < subs || inplace->subscriber_count() < subs); ++i)
    std::this_thread::sleep_for(1ms);
  if (every->subscriber_count() < subs || inplace->subscriber_count() < subs)
    return fail_with(fmt::format("only {} / {} subscribers", every->subscriber_count(),
                                 inplace->subscriber_count()));
  for (std::uint64_t k = 0; k < count; ++k) {
    if (auto r = every->publish(expected_every(k)); !r)
      return fail_with(fmt::format("publish {}: {}", k, r.error().what()));
    auto loan = fill_flat(*inplace, k);
    if (!loan) return fail_with(fmt::format("loan {}: {}", k, loan.error().what()));
    if (auto r = inplace->publish(std::move(*loan)); !r)
      return fail_with(fmt::format("publish in place {}: {}", k, r.error().what()));
  }
  std::printf("ok published=%llu\n", static_cast<unsigned long long>(count));
  std::fflush(stdout);
  return 0;
}

int subscribe(const sluice::Domain& domain, std::uint64_t count) {
  sb::BatchSubscriberOptions every_opts;
  every_opts.expected_schema = canonical_every(0).schema();
  every_opts.check_schema_metadata = true;
  auto every = sb::BatchSubscriber::create(domain, "every", every_opts, {}, channel_options());
  if (!every) return fail_with("subscriber: " + every.error().what());
  sb::BatchSubscriberOptions flat_opts;
  flat_opts.expected_schema = flat_schema();
  auto inplace = sb::BatchSubscriber::create(domain, "inplace", flat_opts, {}, channel_options());
  if (!inplace) return fail_with("subscriber: " + inplace.error().what());
  std::printf("ready\n");
  std::fflush(stdout);
  const std::byte* lo = domain.segment().base();
  const std::byte* hi = lo + domain.segment().size();
  std::deque<sa::RecordBatch> held;  // the last few, still referencing their chunks
  std::uint64_t exported = 0;
  for (std::uint64_t k = 0; k < count; ++k) {
    for (auto* sub : {&*every, &*inplace}) {
      const bool is_every = sub == &*every;
      auto got = sub->receive_for(30s);
      if (!got)
        return fail_with(
            fmt::format("receive {} on '{}': {}", k, sub->channel_name(), got.error().what()));
      if (got->sequence != k)
        return fail_with(fmt::format("sequence {}, expected {}", got->sequence, k));
      const sa::RecordBatch expected = is_every ? canonical_every(k) : expected_flat(k);
      if (!sa::batch_equals(got->batch, expected, true))
        return fail_with(fmt::format("message {} on '{}' differs:\n{}\nexpected\n{}", k,
                                     sub->channel_name(), sa::format_table(got->batch, 20),
                                     sa::format_table(expected, 20)));
      if (got->buffers_copied != 0)
        return fail_with(fmt::format("message {}: {} buffers copied", k, got->buffers_copied));
      for (const auto& c : got->batch.columns())
        if (!inside(*c, lo, hi))
          return fail_with(fmt::format("message {}: a buffer outside the mapping", k));
      if (k % 7 == 0) {
        // Through the C Data Interface: the export keeps the sample alive
        // after the batch itself is gone.
        ArrowArray array{};
        if (auto e = sa::c_data::export_batch(got->batch, &array); !e)
          return fail_with(e.error().what());
        got->batch = sa::RecordBatch();
        auto back = sa::c_data::import_batch(&array, expected.schema());
        if (!back) return fail_with(back.error().what());
        if (!sa::batch_equals(*back, expected, false))
          return fail_with(fmt::format("message {}: C Data differs", k));
        ++exported;
      } else {
        held.push_back(std::move(got->batch));
        if (held.size() > 8) held.pop_front();
      }
    }
  }
  held.clear();
  if (every->batches_held() != 0 || inplace->batches_held() != 0)
    return fail_with(
        fmt::format("{} + {} batches still held", every->batches_held(), inplace->batches_held()));
  std::printf("ok received=%llu exported=%llu\n", static_cast<unsigned long long>(count),
              static_cast<unsigned long long>(exported));
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  const std::string role = argv[1];
  auto domain = sluice::Domain::open(argv[2]);
  if (!domain) return fail_with("domain: " + domain.error().what());
  const std::uint64_t count = std::strtoull(argv[3], nullptr, 10);
  if (role == "publish" && argc >= 5)
    return publish(*domain, count, static_cast<std::uint32_t>(std::atoi(argv[4])));
  if (role == "subscribe") return subscribe(*domain, count);
  return 2;
}
