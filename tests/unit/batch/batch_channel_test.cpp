// Batch channels in one process: the sample batch of every type through a
// channel, zero-copy proven by addresses inside the domain mapping, the
// chunk's lifetime tied to the last array / C Data reference (heap stats),
// batches built in place, releases from other threads, schema checks, and
// corrupted or hostile chunk bytes.

#include <sluice/arrow/builder.hpp>
#include <sluice/arrow/compare.hpp>
#include <sluice/arrow/ipc.hpp>
#include <sluice/arrow/print.hpp>
#include <sluice/arrow/sample.hpp>
#include <sluice/batch/batch_channel.hpp>

#include "support/shm_names.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

namespace sa = sluice::arrow;
namespace sb = sluice::batch;
namespace ipc = sluice::arrow::ipc;

namespace sluice {
namespace {

using namespace std::chrono_literals;

DomainOptions small_domain() {
  DomainOptions o;
  o.heap = alloc::HeapConfig::scaled(0.02, 128 * MiB);
  o.max_peers = 16;
  o.max_channels = 16;
  return o;
}

sa::RecordBatch sample(std::int64_t rows = 37, std::int64_t first = 0) {
  sa::SampleOptions o;
  o.schema_metadata.set("origin", "batch channel test");
  o.batch_metadata.set("vgi_rpc.request_id", "7");
  return sa::make_sample_batch(rows, o, first);
}

// A publisher of raw bytes on a batch channel: what a hostile or broken peer
// could put into a chunk.
struct RawBatchPublisher : BytePublisher {
  static Result<BytePublisher> open(const Domain& d, std::string_view name) {
    RawBatchPublisher p;
    SLUICE_TRY(channel::open_publisher(p.s_, d, name, {}, channel::Kind::pubsub, 0,
                                       sb::kBatchChannelTypeId));
    return BytePublisher(std::move(p));
  }
};

class BatchChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = Domain::create(name_.str(), small_domain());
    ASSERT_TRUE(d) << d.error().what();
    domain_ = std::move(d).value();
  }
  std::uint32_t chunks_in_use() const {
    std::uint32_t n = 0;
    const auto st = domain_->heap().stats();
    for (const auto& p : st.pools) n += p.in_use;
    return n + st.tlsf.used_blocks - st.tlsf.free_blocks;
  }
  // Every non-empty buffer of the tree (children, dictionaries) lies inside
  // the domain's mapping.
  bool in_mapping(const sa::Array& a) const {
    const std::byte* lo = domain_->segment().base();
    const std::byte* hi = lo + domain_->segment().size();
    for (const auto& b : a.buffers())
      if (!b.empty() && (b.data() < lo || b.data() + b.size() > hi)) return false;
    for (const auto& c : a.children())
      if (!in_mapping(*c)) return false;
    return !a.dictionary() || in_mapping(*a.dictionary());
  }
  static std::size_t count_buffers(const sa::Array& a) {
    std::size_t n = 0;
    for (const auto& b : a.buffers()) n += b.empty() ? 0u : 1u;
    for (const auto& c : a.children()) n += count_buffers(*c);
    return n + (a.dictionary() ? count_buffers(*a.dictionary()) : 0);
  }
  sb::BatchPublisher publisher(const std::string& channel, ChannelOptions o = {}) {
    auto p = sb::BatchPublisher::create(*domain_, channel, o);
    EXPECT_TRUE(p) << p.error().what();
    return std::move(p).value();
  }
  sb::BatchSubscriber subscriber(const std::string& channel, sb::BatchSubscriberOptions b = {},
                                 ChannelOptions o = {}) {
    auto s = sb::BatchSubscriber::create(*domain_, channel, b, {}, o);
    EXPECT_TRUE(s) << s.error().what();
    return std::move(s).value();
  }

  test::ScopedShmName name_{"abatch"};
  std::optional<Domain> domain_;
};

TEST_F(BatchChannelTest, SampleBatchOfEveryTypeRoundTripsZeroCopy) {
  auto pub = publisher("every");
  auto sub = subscriber("every");
  const auto batch = sample();
  ASSERT_EQ(batch.num_columns(), sa::sample_column_names().size());
  ASSERT_GE(batch.num_columns(), 43u);
  const std::uint32_t before = chunks_in_use();
  ASSERT_TRUE(pub.publish(batch));
  EXPECT_EQ(chunks_in_use(), before + 1);
  auto got = sub.try_receive();
  ASSERT_TRUE(got) << got.error().what();
  EXPECT_TRUE(sa::batch_equals(got->batch, batch, true));
  EXPECT_TRUE(got->batch.schema()->equals(*batch.schema(), true));
  EXPECT_EQ(got->stream_bytes, *pub.serialized_size(batch));
  EXPECT_EQ(got->buffers_copied, 0u);
  std::size_t buffers = 0;
  for (const auto& c : got->batch.columns()) {
    EXPECT_TRUE(in_mapping(*c)) << c->type()->to_string();
    buffers += count_buffers(*c);
  }
  EXPECT_GT(buffers, 80u);
  EXPECT_EQ(got->buffers_aliased, buffers);
  EXPECT_EQ(sub.batches_held(), 1u);
  EXPECT_EQ(sub.try_receive().error().code(), Errc::would_block);
  got = sub.try_receive();  // drops the batch
  EXPECT_EQ(sub.batches_held(), 0u);
  EXPECT_EQ(chunks_in_use(), before);
}

TEST_F(BatchChannelTest, SeveralBatchesSlicesAndEmptyBatches) {
  auto pub = publisher("many");
  auto sub = subscriber("many");
  const auto big = sample(200, 11);
  std::vector<sa::RecordBatch> sent = {big.slice(3, 50), big.slice(77, 0), sample(1), big};
  auto empty = sa::RecordBatch::empty(big.schema());
  ASSERT_TRUE(empty);
  sent.push_back(*empty);
  for (const auto& b : sent) ASSERT_TRUE(pub.publish(b));
  for (std::size_t i = 0; i < sent.size(); ++i) {
    auto got = sub.try_receive();
    ASSERT_TRUE(got) << got.error().what();
    EXPECT_TRUE(sa::batch_equals(got->batch, sent[i], true)) << i;
    EXPECT_EQ(got->sequence, i);
  }
}

TEST_F(BatchChannelTest, ReceiveForWaits) {
  auto pub = publisher("wait");
  auto sub = subscriber("wait");
  EXPECT_EQ(sub.receive_for(1ms).error().code(), Errc::timed_out);
  EXPECT_EQ(sub.receive_for(-5ms).error().code(), Errc::timed_out);
  std::thread later([&] {
    std::this_thread::sleep_for(20ms);
    EXPECT_TRUE(pub.publish(sample(3)));
  });
  auto got = sub.receive_for(std::chrono::nanoseconds::max());  // no deadline, no overflow
  later.join();
  ASSERT_TRUE(got) << got.error().what();
  EXPECT_TRUE(sa::batch_equals(got->batch, sample(3), true));
}

TEST_F(BatchChannelTest, ChunkLivesExactlyAsLongAsTheLastArray) {
  auto pub = publisher("life");
  auto sub = subscriber("life");
  const std::uint32_t before = chunks_in_use();
  ASSERT_TRUE(pub.publish(sample(100)));
  sa::ArrayPtr kept;
  sa::ArrayPtr slice;
  {
    auto got = sub.try_receive();
    ASSERT_TRUE(got) << got.error().what();
    const int idx = got->batch.schema()->field_index("utf8");
    ASSERT_GE(idx, 0);
    kept = got->batch.column(static_cast<std::size_t>(idx));
    const int i64 = got->batch.schema()->field_index("int64");
    ASSERT_GE(i64, 0);
    slice = got->batch.column(static_cast<std::size_t>(i64))->slice(10, 5);
  }
  // The batch is gone; two arrays still reference the sample.
  EXPECT_EQ(chunks_in_use(), before + 1);
  EXPECT_EQ(sub.batches_held(), 1u);
  EXPECT_TRUE(in_mapping(*kept));
  const auto ref = sample(100);
  EXPECT_TRUE(sa::array_equals(
      *kept, *ref.column(static_cast<std::size_t>(ref.schema()->field_index("utf8")))));
  kept.reset();
  EXPECT_EQ(chunks_in_use(), before + 1);
  slice.reset();  // the last reference: released here
  EXPECT_EQ(chunks_in_use(), before);
  EXPECT_EQ(sub.batches_held(), 0u);
}

TEST_F(BatchChannelTest, CDataExportKeepsTheSampleUntilRelease) {
  auto pub = publisher("cdata");
  auto sub = subscriber("cdata");
  const std::uint32_t before = chunks_in_use();
  const auto ref = sample(64);
  ASSERT_TRUE(pub.publish(ref));
  ArrowArray array{};
  ArrowSchema schema{};
  {
    auto got = sub.try_receive();
    ASSERT_TRUE(got) << got.error().what();
    ASSERT_TRUE(sa::c_data::export_batch(got->batch, &array, &schema));
  }
  EXPECT_EQ(chunks_in_use(), before + 1);
  // A consumer (here: sluice's own importer) reads the exported buffers in place.
  const std::byte* lo = domain_->segment().base();
  const int i64 = ref.schema()->field_index("int64");
  ASSERT_GE(i64, 0);
  ASSERT_EQ(array.children[i64]->n_buffers, 2);
  const auto* values = static_cast<const std::byte*>(array.children[i64]->buffers[1]);
  EXPECT_GE(values, lo);
  EXPECT_LT(values, lo + domain_->segment().size());
  schema.release(&schema);
  EXPECT_EQ(chunks_in_use(), before + 1);
  array.release(&array);  // drops the sample's last reference
  EXPECT_EQ(chunks_in_use(), before);
  EXPECT_EQ(sub.batches_held(), 0u);
}

TEST_F(BatchChannelTest, BatchesOutliveTheirSubscriberPublisherAndDomain) {
  std::uint32_t before = 0;
  sa::RecordBatch kept;
  {
    // The subscriber's own attachment (a second mapping of the segment): the
    // batch must keep it mapped after the Domain object is gone.
    auto own = Domain::open(name_.str());
    ASSERT_TRUE(own) << own.error().what();
    auto pub = publisher("outlive");
    auto sub = sb::BatchSubscriber::create(*own, "outlive");
    ASSERT_TRUE(sub) << sub.error().what();
    before = chunks_in_use();  // the channel's control block, while endpoints hold it
    ASSERT_TRUE(pub.publish(sample(40)));
    auto got = sub->try_receive();
    ASSERT_TRUE(got);
    kept = got->batch;
    const std::byte* lo = own->segment().base();
    EXPECT_GE(kept.column(1)->buffer(1).data(), lo);
    EXPECT_LT(kept.column(1)->buffer(1).data(), lo + own->segment().size());
  }
  EXPECT_GT(chunks_in_use(), before);
  EXPECT_TRUE(sa::batch_equals(kept, sample(40), true));
  kept = sa::RecordBatch();
  // The batch was the channel's last holder: its chunks and the channel's
  // control block are all back.
  EXPECT_EQ(chunks_in_use(), before - 1);
}

TEST_F(BatchChannelTest, BatchDroppedOnAnotherThreadIsReleased) {
  auto pub = publisher("thread");
  auto sub = subscriber("thread");
  const std::uint32_t before = chunks_in_use();
  ASSERT_TRUE(pub.publish(sample(10)));
  auto got = sub.try_receive();
  ASSERT_TRUE(got);
  // Dropped while the subscriber thread is idle: released at once, on the
  // dropping thread.
  std::thread([b = std::move(got->batch)]() mutable { b = sa::RecordBatch(); }).join();
  EXPECT_EQ(chunks_in_use(), before);

  // Dropped while the subscriber thread sits in receive_for: released at
  // once too, on the dropping thread (nothing waits for the subscriber).
  ASSERT_TRUE(pub.publish(sample(10)));
  got = sub.try_receive();
  ASSERT_TRUE(got);
  std::atomic<bool> released{false};
  std::thread other([&, b = std::move(got->batch)]() mutable {
    std::this_thread::sleep_for(30ms);
    b = sa::RecordBatch();
    released = chunks_in_use() == before;
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto none = sub.receive_for(400ms);
  EXPECT_EQ(none.error().code(), Errc::timed_out);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 390ms);
  other.join();
  EXPECT_TRUE(released.load());
  EXPECT_EQ(sub.batches_held(), 0u);
}

TEST_F(BatchChannelTest, ManyThreadsDropBatchesWhileTheSubscriberReceives) {
  ChannelOptions o;
  o.capacity = 64;
  o.max_held = 64;
  auto pub = publisher("workers", o);
  auto sub = subscriber("workers", {}, o);
  const std::uint32_t before = chunks_in_use();
  std::mutex m;
  std::condition_variable cv;
  std::deque<sa::RecordBatch> work;
  bool done = false;
  std::atomic<std::int64_t> checked{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&] {
      for (;;) {
        sa::RecordBatch b;
        {
          std::unique_lock lock(m);
          cv.wait(lock, [&] { return done || !work.empty(); });
          if (work.empty()) return;
          b = std::move(work.front());
          work.pop_front();
        }
        checked += b.column(0)->value<std::int64_t>(0);
      }  // dropped here, on a worker thread
    });
  }
  const std::int64_t n = 3000;
  auto schema = sa::schema({sa::field("v", sa::int64(), false)});
  std::int64_t sum = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    auto col = sa::make_array<std::int64_t>(sa::int64(), {i, i + 1, i + 2});
    ASSERT_TRUE(pub.publish(sa::RecordBatch(schema, 3, {col})));
    sum += i;
    Result<sb::ReceivedBatch> got = fail(Errc::would_block);
    for (int tries = 0; tries < 100000; ++tries) {
      got = sub.receive_for(10ms);
      if (got || got.error().code() != Errc::table_full) break;
      std::this_thread::yield();  // every sample is out: wait for the workers
    }
    ASSERT_TRUE(got) << got.error().what();
    {
      std::lock_guard lock(m);
      work.push_back(std::move(got->batch));
    }
    cv.notify_one();
  }
  {
    std::lock_guard lock(m);
    done = true;
  }
  cv.notify_all();
  for (auto& t : workers) t.join();
  EXPECT_EQ(checked.load(), sum);
  // Every batch was released by the worker that dropped it, with no help
  // from the subscriber's thread.
  EXPECT_EQ(sub.batches_held(), 0u);
  EXPECT_EQ(chunks_in_use(), before);
  EXPECT_EQ(sub.try_receive().error().code(), Errc::would_block);
}

TEST_F(BatchChannelTest, BuiltInPlaceFlatColumns) {
  auto pub = publisher("inplace");
  auto sub = subscriber("inplace");
  auto schema = sa::schema({
      sa::field("id", sa::int64(), false),
      sa::field("x", sa::float64()),
      sa::field("flag", sa::boolean()),
      sa::field("name", sa::utf8()),
      sa::field("blob", sa::large_binary(), false),
      sa::field("nothing", sa::null()),
      sa::field("fsb", sa::fixed_size_binary(3), false),
      sa::field("ts", sa::timestamp(sa::TimeUnit::micro, "UTC")),
  });
  const std::int64_t rows = 1000;
  const std::size_t caps[] = {0, 0, 0, 8000, 4000};
  sa::KeyValueMetadata md;
  md.set("k", "v");
  const std::uint32_t before = chunks_in_use();
  auto loan = pub.loan(schema, rows, caps, md);
  ASSERT_TRUE(loan) << loan.error().what();
  EXPECT_TRUE(loan->validity(0).empty());
  EXPECT_EQ(loan->validity(1).size(), 125u);
  EXPECT_TRUE(loan->values(5).empty());

  std::vector<std::optional<std::int64_t>> id;
  std::vector<std::optional<double>> x;
  std::vector<std::optional<bool>> flag;
  std::vector<std::optional<std::string>> name, blob, fsb;
  std::vector<std::optional<std::int64_t>> ts;
  auto ids = loan->values_as<std::int64_t>(0);
  auto xs = loan->values_as<double>(1);
  auto name_off = loan->values_as<std::int32_t>(3);
  auto blob_off = loan->values_as<std::int64_t>(4);
  auto tss = loan->values_as<std::int64_t>(7);
  std::memset(loan->values(2).data(), 0, loan->values(2).size());
  std::int32_t name_pos = 0;
  std::int64_t blob_pos = 0;
  for (std::int64_t i = 0; i < rows; ++i) {
    const auto u = static_cast<std::size_t>(i);
    ids[u] = i * 3;
    id.emplace_back(i * 3);
    const bool x_null = i % 7 == 3;
    xs[u] = x_null ? 0.0 : static_cast<double>(i) / 4;
    if (x_null) sa::set_bit(loan->validity(1).data(), i, false);
    x.push_back(x_null ? std::nullopt : std::optional<double>(static_cast<double>(i) / 4));
    sa::set_bit(loan->values(2).data(), i, i % 3 == 0);
    flag.emplace_back(i % 3 == 0);
    std::string s = "n" + std::to_string(i);
    if (i % 11 == 5) {
      sa::set_bit(loan->validity(3).data(), i, false);
      name.emplace_back(std::nullopt);
    } else {
      std::memcpy(loan->data(3).data() + name_pos, s.data(), s.size());
      name_pos += static_cast<std::int32_t>(s.size());
      name.emplace_back(s);
    }
    name_off[u + 1] = name_pos;
    std::string bl(static_cast<std::size_t>(i % 4), static_cast<char>('a' + i % 26));
    std::memcpy(loan->data(4).data() + blob_pos, bl.data(), bl.size());
    blob_pos += static_cast<std::int64_t>(bl.size());
    blob_off[u + 1] = blob_pos;
    blob.emplace_back(bl);
    const char f[3] = {static_cast<char>(i), static_cast<char>(i >> 8), 'z'};
    std::memcpy(loan->values(6).data() + 3 * i, f, 3);
    fsb.emplace_back(std::string(f, 3));
    tss[u] = 1'700'000'000'000'000 + i;
    ts.emplace_back(1'700'000'000'000'000 + i);
  }
  loan->set_null_count(7, 0);
  const auto* id_addr = loan->values(0).data();
  ASSERT_TRUE(pub.publish(std::move(*loan)));
  EXPECT_FALSE(loan->valid());

  auto expect_schema = schema;
  sa::RecordBatch expected(
      schema, rows,
      {sa::make_array<std::int64_t>(sa::int64(), id), sa::make_array<double>(sa::float64(), x),
       sa::make_bool_array(flag), sa::make_binary_array(sa::utf8(), name),
       sa::make_binary_array(sa::large_binary(), blob), sa::make_null_array(rows),
       sa::make_binary_array(sa::fixed_size_binary(3), fsb),
       sa::make_array<std::int64_t>(sa::timestamp(sa::TimeUnit::micro, "UTC"), ts)},
      md);
  auto got = sub.try_receive();
  ASSERT_TRUE(got) << got.error().what();
  EXPECT_TRUE(sa::batch_equals(got->batch, expected, true)) << sa::format_table(got->batch, 5);
  EXPECT_EQ(got->batch.column(1)->null_count(), 143);
  EXPECT_EQ(got->batch.column(3)->null_count(), 91);
  // The subscriber reads the very bytes the publisher wrote.
  EXPECT_EQ(got->batch.column(0)->buffer(1).data(), id_addr);
  EXPECT_EQ(got->buffers_copied, 0u);
  for (const auto& c : got->batch.columns()) EXPECT_TRUE(in_mapping(*c));
  // Any Arrow reader can read the chunk: it is a plain IPC stream.
  got = sub.try_receive();
  EXPECT_EQ(chunks_in_use(), before);
}

TEST_F(BatchChannelTest, LoanMisuseIsReported) {
  auto pub = publisher("misuse");
  auto sub = subscriber("misuse");
  auto nested = sa::schema({sa::field("l", sa::list(sa::int32()))});
  EXPECT_EQ(pub.loan(nested, 4).error().code(), Errc::not_supported);
  auto dict = sa::schema({sa::field("d", sa::dictionary(sa::int32(), sa::utf8()))});
  EXPECT_EQ(pub.loan(dict, 4).error().code(), Errc::not_supported);
  EXPECT_EQ(pub.loan(nullptr, 4).error().code(), Errc::invalid_argument);
  EXPECT_EQ(pub.loan(sa::schema({}), -1).error().code(), Errc::invalid_argument);
  EXPECT_FALSE(pub.loan(sa::schema({sa::field("v", sa::int64())}), INT64_MAX));

  const std::uint32_t before = chunks_in_use();
  auto schema = sa::schema({sa::field("s", sa::utf8(), false)});
  const std::size_t caps[] = {4};
  auto loan = pub.loan(schema, 2, caps);
  ASSERT_TRUE(loan);
  auto off = loan->values_as<std::int32_t>(0);
  off[1] = 3;
  off[2] = 9;  // beyond the 4-byte capacity
  auto r = pub.publish(std::move(*loan));
  EXPECT_EQ(r.error().code(), Errc::invalid_argument) << r.error().what();
  EXPECT_TRUE(loan->valid());  // still the caller's
  off[1] = 5;
  off[2] = 4;  // not monotonic
  EXPECT_EQ(pub.publish(std::move(*loan)).error().code(), Errc::invalid_argument);
  off[1] = 1;
  off[2] = 4;
  std::memcpy(loan->data(0).data(), "abcd", 4);
  ASSERT_TRUE(pub.publish(std::move(*loan)));
  auto got = sub.try_receive();
  ASSERT_TRUE(got) << got.error().what();
  EXPECT_EQ(got->batch.column(0)->bytes_value(0), "a");
  EXPECT_EQ(got->batch.column(0)->bytes_value(1), "bcd");
  got = sub.try_receive();
  // A loan dropped unpublished returns its chunk.
  {
    auto dropped = pub.loan(schema, 100, caps);
    ASSERT_TRUE(dropped);
  }
  EXPECT_EQ(chunks_in_use(), before);
}

TEST_F(BatchChannelTest, LargeBatchBuiltInPlaceIsNotCopied) {
  auto pub = publisher("large");
  auto sub = subscriber("large");
  auto schema = sa::schema({sa::field("v", sa::int64(), false)});
  const std::int64_t rows = 1 << 20;  // 8 MiB
  auto loan = pub.loan(schema, rows);
  ASSERT_TRUE(loan) << loan.error().what();
  auto v = loan->values_as<std::int64_t>(0);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::int64_t>(i) ^ 0x5555;
  const std::int64_t* addr = v.data();
  ASSERT_TRUE(pub.publish(std::move(*loan)));
  auto got = sub.try_receive();
  ASSERT_TRUE(got) << got.error().what();
  const auto& col = *got->batch.column(0);
  EXPECT_EQ(col.buffer(1).data_as<std::int64_t>(), addr);
  EXPECT_EQ(col.value<std::int64_t>(0), 0x5555);
  EXPECT_EQ(col.value<std::int64_t>(rows - 1), (rows - 1) ^ 0x5555);
  EXPECT_EQ(got->buffers_aliased, 1u);
}

TEST_F(BatchChannelTest, ExpectedSchemaIsChecked) {
  auto pub = publisher("typed");
  auto good = sample(5);
  sb::BatchSubscriberOptions bo;
  bo.expected_schema = good.schema();
  auto sub = subscriber("typed", bo);
  auto other = sa::schema({sa::field("v", sa::int32())});
  ASSERT_TRUE(
      pub.publish(sa::RecordBatch(other, 2, {sa::make_array<std::int32_t>(sa::int32(), {1, 2})})));
  ASSERT_TRUE(pub.publish(good));
  auto bad = sub.try_receive();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::type_error);
  EXPECT_NE(bad.error().what().find("batch channel 'typed': message 0"), std::string::npos)
      << bad.error().what();
  auto ok = sub.try_receive();
  ASSERT_TRUE(ok) << ok.error().what();
  EXPECT_TRUE(sa::batch_equals(ok->batch, good, true));
  // Schema metadata is compared only when asked for.
  bo.expected_schema = sa::schema(good.schema()->fields());
  bo.check_schema_metadata = true;
  auto strict = subscriber("typed", bo);
  ASSERT_TRUE(pub.publish(good));
  EXPECT_EQ(strict.try_receive().error().code(), Errc::type_error);
  EXPECT_TRUE(sub.try_receive());
}

TEST_F(BatchChannelTest, SchemaChangesAreFollowed) {
  // Subscribers cache the last schema message; every batch still comes with
  // its own schema, and the expected-schema check holds after a change.
  auto pub = publisher("schemas");
  auto a = sa::schema({sa::field("v", sa::int64())});
  auto b = sa::schema({sa::field("v", sa::utf8())});
  auto a_meta = sa::schema({sa::field("v", sa::int64())}, [] {
    sa::KeyValueMetadata m;
    m.set("x", "1");
    return m;
  }());
  const sa::RecordBatch ba(a, 1, {sa::make_array<std::int64_t>(sa::int64(), {42})});
  const sa::RecordBatch bb(b, 1, {sa::make_binary_array(sa::utf8(), {"42"})});
  const sa::RecordBatch bm(a_meta, 1, {sa::make_array<std::int64_t>(sa::int64(), {7})});
  auto any = subscriber("schemas");
  sb::BatchSubscriberOptions bo;
  bo.expected_schema = a;
  auto typed = subscriber("schemas", bo);
  bo.check_schema_metadata = true;
  auto strict = subscriber("schemas", bo);
  const std::vector<const sa::RecordBatch*> order = {&ba, &ba, &bb, &ba, &bm,
                                                     &bm, &ba, &bb, &bb, &ba};
  for (const auto* batch : order) ASSERT_TRUE(pub.publish(*batch));
  for (const auto* batch : order) {
    auto got = any.try_receive();
    ASSERT_TRUE(got) << got.error().what();
    EXPECT_TRUE(sa::batch_equals(got->batch, *batch, true));
    EXPECT_TRUE(got->batch.schema()->equals(*batch->schema(), true));
    auto t = typed.try_receive();
    if (batch == &bb) {
      EXPECT_EQ(t.error().code(), Errc::type_error);
    } else {
      ASSERT_TRUE(t) << t.error().what();
      EXPECT_TRUE(sa::batch_equals(t->batch, *batch, true));
    }
    auto st = strict.try_receive();
    if (batch == &ba) {
      ASSERT_TRUE(st) << st.error().what();
    } else {
      EXPECT_EQ(st.error().code(), Errc::type_error);
    }
  }
}

TEST_F(BatchChannelTest, ByteEndpointsCannotAttachToABatchChannel) {
  auto pub = publisher("kind");
  auto raw = ByteSubscriber::create(*domain_, "kind");
  ASSERT_FALSE(raw);
  EXPECT_EQ(raw.error().code(), Errc::config_mismatch) << raw.error().what();
  auto bytes = BytePublisher::create(*domain_, "plain");
  ASSERT_TRUE(bytes);
  EXPECT_FALSE(sb::BatchSubscriber::create(*domain_, "plain"));
}

TEST_F(BatchChannelTest, MaxHeldBatches) {
  ChannelOptions o;
  o.max_held = 4;
  auto pub = publisher("held", o);
  auto sub = subscriber("held", {}, o);
  std::vector<sa::RecordBatch> out;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pub.publish(sample(3)));
  for (int i = 0; i < 4; ++i) {
    auto got = sub.try_receive();
    ASSERT_TRUE(got) << got.error().what();
    out.push_back(got->batch);
  }
  EXPECT_EQ(sub.batches_held(), 4u);
  EXPECT_EQ(sub.try_receive().error().code(), Errc::table_full);
  out.pop_back();
  EXPECT_TRUE(sub.try_receive());
}

TEST_F(BatchChannelTest, ExportAsArrowArrayStream) {
  auto pub = publisher("stream");
  auto sub = subscriber("stream");
  const std::uint32_t before = chunks_in_use();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pub.publish(sample(20, i * 20)));
  ArrowArrayStream stream{};
  sb::BatchStreamOptions so;
  so.idle_timeout = 50ms;
  ASSERT_TRUE(sb::export_batch_stream(std::move(sub), &stream, so));
  std::vector<sa::RecordBatch> got;
  {
    auto importer = sa::c_data::StreamImporter::open(&stream);
    ASSERT_TRUE(importer) << importer.error().what();
    for (;;) {
      auto b = importer->next();
      ASSERT_TRUE(b) << b.error().what();
      if (!*b) break;
      got.push_back(**b);
    }
  }  // the stream (and the subscriber inside it) is released here
  ASSERT_EQ(got.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    // Batch metadata has no place in the C interface.
    EXPECT_TRUE(sa::batch_equals(got[static_cast<std::size_t>(i)], sample(20, i * 20), false));
    for (const auto& c : got[static_cast<std::size_t>(i)].columns()) EXPECT_TRUE(in_mapping(*c));
  }
  EXPECT_GT(chunks_in_use(), before);
  got.clear();
  EXPECT_EQ(chunks_in_use(), before);
}

// --- corrupted and hostile bytes -----------------------------------------------------

TEST_F(BatchChannelTest, MalformedMessagesFailCleanlyAndTheChannelGoesOn) {
  auto raw = RawBatchPublisher::open(*domain_, "hostile");
  ASSERT_TRUE(raw) << raw.error().what();
  auto sub = subscriber("hostile");
  const std::uint32_t before = chunks_in_use();
  const auto batch = sample(30);
  auto stream = ipc::write_stream(batch.schema(), {batch});
  ASSERT_TRUE(stream);
  const std::vector<std::byte> good = *stream;
  auto send = [&](std::span<const std::byte> bytes) {
    auto l = raw->loan(bytes.size());
    ASSERT_TRUE(l) << l.error().what();
    if (!bytes.empty()) std::memcpy(l->data(), bytes.data(), bytes.size());
    ASSERT_TRUE(raw->publish(std::move(*l)));
  };
  auto expect_error = [&](const char* what) {
    auto got = sub.try_receive();
    ASSERT_FALSE(got) << what;
    EXPECT_TRUE(got.error().code() == Errc::parse_error ||
                got.error().code() == Errc::not_supported)
        << what << ": " << got.error().what();
    EXPECT_EQ(chunks_in_use(), before) << what;
  };
  send({});
  expect_error("empty message");
  send(std::span(good).first(good.size() / 2));
  expect_error("truncated");
  // A schema-only stream, and a stream of two batches.
  auto schema_only = ipc::write_stream(batch.schema(), {});
  ASSERT_TRUE(schema_only);
  send(*schema_only);
  expect_error("no record batch");
  auto two = ipc::write_stream(batch.schema(), {batch, batch});
  ASSERT_TRUE(two);
  send(*two);
  expect_error("two record batches");
  std::vector<std::byte> garbage(4096);
  std::mt19937 rng(7);
  for (auto& b : garbage) b = static_cast<std::byte>(rng());
  send(garbage);
  expect_error("random bytes");
  // Random corruption of a valid stream: an error or a batch, never a crash
  // (ASan/UBSan builds check the "never").
  int errors = 0;
  for (int round = 0; round < 300; ++round) {
    std::vector<std::byte> bad = good;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] = static_cast<std::byte>(rng());
    send(bad);
    auto got = sub.try_receive();
    if (!got) {
      ++errors;
      EXPECT_NE(got.error().code(), Errc::would_block);
      continue;
    }
    (void)sa::format_table(got->batch, 1000);  // touch every value
  }
  EXPECT_GT(errors, 0);
  EXPECT_EQ(chunks_in_use(), before);
  // The same with a schema the subscriber caches (no dictionaries): a good
  // message before each corrupted one keeps the cache warm, so corruption
  // behind an unchanged schema message goes through the cached path.
  auto flat_schema = sa::schema({sa::field("a", sa::int32()), sa::field("s", sa::utf8(), false)});
  const sa::RecordBatch flat(flat_schema, 3,
                             {sa::make_array<std::int32_t>(sa::int32(), {1, std::nullopt, 3}),
                              sa::make_binary_array(sa::utf8(), {"x", "yy", "zzz"})});
  auto flat_stream = ipc::write_stream(flat_schema, {flat});
  ASSERT_TRUE(flat_stream);
  errors = 0;
  for (int round = 0; round < 300; ++round) {
    send(*flat_stream);
    auto ok = sub.try_receive();
    ASSERT_TRUE(ok) << ok.error().what();
    ASSERT_TRUE(sa::batch_equals(ok->batch, flat, true));
    std::vector<std::byte> bad = *flat_stream;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] = static_cast<std::byte>(rng());
    send(bad);
    auto got = sub.try_receive();
    if (!got) {
      ++errors;
      continue;
    }
    (void)sa::format_table(got->batch, 1000);
  }
  EXPECT_GT(errors, 0);
  EXPECT_EQ(chunks_in_use(), before);
  send(good);
  auto fine = sub.try_receive();
  ASSERT_TRUE(fine) << fine.error().what();
  EXPECT_TRUE(sa::batch_equals(fine->batch, batch, true));
}

TEST_F(BatchChannelTest, BytesScribbledAfterValidationNeverReadOutOfBounds) {
  // A peer may rewrite a chunk after the subscriber validated it (it holds
  // the mapping writable). Accessors clamp what they read from buffers, so
  // the values become garbage but every read stays inside the buffers.
  auto pub = publisher("scribble");
  auto sub = subscriber("scribble");
  ASSERT_TRUE(pub.publish(sample(50)));
  auto got = sub.try_receive();
  ASSERT_TRUE(got) << got.error().what();
  std::byte* first = nullptr;
  std::byte* last = nullptr;
  for (const auto& c : got->batch.columns()) {
    for (const auto& b : c->buffers()) {
      if (b.empty()) continue;
      auto* p = const_cast<std::byte*>(b.data());
      if (!first || p < first) first = p;
      if (!last || p + b.size() > last) last = p + b.size();
    }
  }
  ASSERT_TRUE(first && last);
  std::mt19937 rng(11);
  for (int round = 0; round < 20; ++round) {
    for (std::byte* p = first; p < last; ++p) *p = static_cast<std::byte>(round % 2 ? rng() : 0xFF);
    (void)sa::format_table(got->batch, 1000);
    (void)sa::batch_to_json_rows(got->batch);
  }
}

}  // namespace
}  // namespace sluice
