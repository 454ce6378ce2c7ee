#include <sluice/ring/byte_ring.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>

namespace sluice::ring {

namespace {

constexpr const char* kWhat = ByteRing::kWhat;
constexpr std::uint64_t kMinFrameLimit = 64;
constexpr std::uint64_t kDefaultFrameCap = 1 * MiB;

std::uint32_t position_tag(std::uint64_t pos) noexcept {
  return static_cast<std::uint32_t>(pos >> 3);
}

const char* kind_name(std::uint16_t kind) {
  switch (static_cast<FrameKind>(kind)) {
    case FrameKind::data:
      return "data";
    case FrameKind::end_of_stream:
      return "end-of-stream";
    case FrameKind::padding:
      return "padding";
  }
  return "unknown";
}

// Shared attach checks of reader and writer: header, frame limit, indices.
struct Attached {
  RingControl* control;
  std::uint64_t capacity;
  std::uint64_t max_frame;
  IndexSnapshot indices;
};

Result<Attached> attach_bytes(void* mem, std::size_t bytes, const char* side) {
  SLUICE_TRY_ASSIGN(RingControl * control, attach_control(mem, bytes, RingKind::bytes, kWhat));
  const RingHeader& h = control->header;
  if (h.element_size != 1 || h.stride != kFrameAlign || h.flags != 0)
    return fail(Errc::corrupted, "{}: element size {}, alignment {}, flags {:#x}", kWhat,
                h.element_size, h.stride, h.flags);
  if (h.capacity < ByteRing::kMinCapacity || h.total_size != ByteRing::required_size(h.capacity))
    return fail(Errc::corrupted, "{}: capacity {} with total size {}", kWhat, h.capacity,
                h.total_size);
  if (h.param < kMinFrameLimit || h.param > h.capacity / 2 || h.param % kFrameAlign != 0)
    return fail(Errc::corrupted, "{}: frame limit {} for capacity {}", kWhat, h.param, h.capacity);
  SLUICE_TRY_ASSIGN(const IndexSnapshot snap, snapshot_indices(*control, h.capacity, kWhat));
  // The attaching side's own index is still (one reader, one writer).
  if (!snap.stable)
    return fail(Errc::corrupted, "{}: head and tail both keep changing during {} attach", kWhat,
                side);
  if (snap.head % kFrameAlign != 0 || snap.tail % kFrameAlign != 0)
    return fail(Errc::corrupted, "{}: head {} or tail {} not {}-byte aligned", kWhat, snap.head,
                snap.tail, kFrameAlign);
  return Attached{control, h.capacity, h.param, snap};
}

}  // namespace

// ---------------------------------------------------------------- ByteRing

Result<void> ByteRing::format(void* mem, std::size_t bytes, std::uint64_t capacity,
                              ByteRingOptions options) {
  if (!is_pow2(capacity) || capacity < kMinCapacity || capacity > kMaxCapacity)
    return fail(Errc::invalid_argument, "{}: capacity {} is not a power of two in [{}, {}]", kWhat,
                capacity, kMinCapacity, kMaxCapacity);
  std::uint64_t max_frame = options.max_frame_bytes;
  if (max_frame == 0) max_frame = std::min(capacity / 4, kDefaultFrameCap);
  if (max_frame < kMinFrameLimit || max_frame > capacity / 2 || max_frame % kFrameAlign != 0)
    return fail(Errc::invalid_argument,
                "{}: max frame {} is not a multiple of {} in [{}, capacity / 2 = {}]", kWhat,
                max_frame, kFrameAlign, kMinFrameLimit, capacity / 2);
  if (options.initial_position % kFrameAlign != 0)
    return fail(Errc::invalid_argument, "{}: initial position {} is not {}-byte aligned", kWhat,
                options.initial_position, kFrameAlign);
  const std::uint64_t need = required_size(capacity);
  SLUICE_TRY(check_region(mem, bytes, need, kWhat));
  std::memset(static_cast<std::byte*>(mem) + kRingDataOffset, 0, capacity);
  format_control(mem,
                 RingGeometry{RingKind::bytes, capacity, 1, static_cast<std::uint32_t>(kFrameAlign),
                              0, static_cast<std::uint32_t>(max_frame), need},
                 options.initial_position);
  return ok();
}

// ---------------------------------------------------------------- writer

Result<ByteRingWriter> ByteRingWriter::attach(void* mem, std::size_t bytes) {
  SLUICE_TRY_ASSIGN(const Attached a, attach_bytes(mem, bytes, "writer"));
  ByteRingWriter w;
  w.control_ = a.control;
  w.data_ = static_cast<std::byte*>(mem) + kRingDataOffset;
  w.capacity_ = a.capacity;
  w.mask_ = a.capacity - 1;
  w.max_frame_ = a.max_frame;
  w.tail_ = w.pos_ = a.indices.tail;
  w.head_cache_ = a.indices.head;
  return w;
}

std::uint64_t ByteRingWriter::min_chunk() const noexcept {
  return std::max<std::uint64_t>(kFrameAlign, max_chunk() / 4);
}

Result<void> ByteRingWriter::refresh_head() noexcept {
  // SYNC POINT B2 (writer side): the reader is done with everything before
  // head; we may overwrite it.
  const std::uint64_t h = control_->head.value.load(std::memory_order_acquire);
  if (tail_ - h > capacity_ || h % kFrameAlign != 0) [[unlikely]]
    return corrupted_distance(kWhat, "tail", tail_, "head", h, capacity_);
  head_cache_ = h;
  return ok();
}

std::uint64_t ByteRingWriter::free_space() noexcept {
  if (control_ == nullptr || !refresh_head()) return 0;
  return capacity_ - (pos_ - head_cache_);
}

Result<bool> ByteRingWriter::reserve(std::uint64_t want, std::uint64_t& payload) noexcept {
  const std::uint64_t need = frame_size(std::min(want, min_chunk()));
  bool refreshed = false;
  // Bounded: padding is written at most once (afterwards the whole data area
  // lies ahead, need <= capacity / 2) and head is refreshed at most once.
  for (int step = 0; step < 4; ++step) {
    const std::uint64_t free = capacity_ - (pos_ - head_cache_);
    const std::uint64_t to_end = capacity_ - (pos_ & mask_);
    if (to_end >= need && free >= need) {
      const std::uint64_t room = std::min({to_end, free, max_frame_});
      payload = std::min(want, room - kFrameHeaderSize);
      return true;
    }
    if (to_end < need && free >= to_end) {
      // The rest of the data area is too short for a worthwhile frame: skip
      // it (fewer than 16 bytes: both sides skip implicitly) or pad it.
      if (to_end >= kFrameHeaderSize) {
        FrameHeader h{};
        h.length = static_cast<std::uint32_t>(to_end - kFrameHeaderSize);
        h.kind = static_cast<std::uint16_t>(FrameKind::padding);
        h.position_tag = position_tag(pos_);
        std::memcpy(data_ + (pos_ & mask_), &h, sizeof h);
      }
      pos_ += to_end;
      continue;
    }
    if (refreshed) return false;
    SLUICE_TRY(refresh_head());
    refreshed = true;
  }
  return false;
}

void ByteRingWriter::put_frame(FrameKind kind, std::uint16_t flags, std::uint32_t stream,
                               std::span<const std::byte> payload) noexcept {
  std::byte* at = data_ + (pos_ & mask_);
  FrameHeader h{};
  h.length = static_cast<std::uint32_t>(payload.size());
  h.kind = static_cast<std::uint16_t>(kind);
  h.flags = flags;
  h.stream = stream;
  h.position_tag = position_tag(pos_);
  std::memcpy(at, &h, sizeof h);
  if (!payload.empty()) std::memcpy(at + kFrameHeaderSize, payload.data(), payload.size());
  const std::uint64_t size = frame_size(payload.size());
  // Zero the alignment tail: no stale bytes of an older frame stay readable.
  const std::uint64_t used = kFrameHeaderSize + payload.size();
  if (size > used) std::memset(at + used, 0, static_cast<std::size_t>(size - used));
  pos_ += size;
}

WriteResult ByteRingWriter::publish(WriteResult r) noexcept {
  if (pos_ == tail_) return r;
  const std::uint64_t old_tail = tail_;
  tail_ = pos_;
  // SYNC POINT B1: publishes every frame (and padding) of this call.
  control_->tail.value.store(tail_, std::memory_order_release);
  // Where the reader stands right after publishing: at the old tail, it had
  // consumed everything and may be waiting. The load doubles as a free
  // refresh of the head cache when it holds a valid value.
  const std::uint64_t h = control_->head.value.load(std::memory_order_acquire);
  r.was_empty = h == old_tail;
  if (tail_ - h <= capacity_ && h % kFrameAlign == 0) head_cache_ = h;
  return r;
}

Result<WriteResult> ByteRingWriter::try_write(std::uint32_t stream,
                                              std::span<const std::byte> payload,
                                              bool end_of_message) noexcept {
  if (control_ == nullptr) return fail(Errc::invalid_argument, "{}: writer not attached", kWhat);
  WriteResult r;
  if (payload.empty()) {
    if (!end_of_message) {
      r.complete = true;
      return r;
    }
    std::uint64_t n = 0;
    SLUICE_TRY_ASSIGN(const bool room, reserve(0, n));
    if (room) {
      put_frame(FrameKind::data, 0, stream, {});
      r.frames = 1;
      r.complete = true;
    }
    return publish(r);
  }
  std::size_t done = 0;
  while (done < payload.size()) {
    std::uint64_t n = 0;
    SLUICE_TRY_ASSIGN(const bool room, reserve(payload.size() - done, n));
    if (!room) break;
    const bool last = done + n == payload.size();
    const std::uint16_t flags = (last && end_of_message) ? 0 : FrameHeader::kMore;
    put_frame(FrameKind::data, flags, stream, payload.subspan(done, static_cast<std::size_t>(n)));
    done += static_cast<std::size_t>(n);
    ++r.frames;
  }
  r.bytes = done;
  r.complete = done == payload.size();
  return publish(r);
}

Result<WriteResult> ByteRingWriter::try_write_end(std::uint32_t stream) noexcept {
  if (control_ == nullptr) return fail(Errc::invalid_argument, "{}: writer not attached", kWhat);
  WriteResult r;
  std::uint64_t n = 0;
  SLUICE_TRY_ASSIGN(const bool room, reserve(0, n));
  if (room) {
    put_frame(FrameKind::end_of_stream, 0, stream, {});
    r.frames = 1;
    r.complete = true;
  }
  return publish(r);
}

// ---------------------------------------------------------------- reader

Result<ByteRingReader> ByteRingReader::attach(void* mem, std::size_t bytes,
                                              ByteRingReaderOptions options) {
  SLUICE_TRY_ASSIGN(const Attached a, attach_bytes(mem, bytes, "reader"));
  ByteRingReader r;
  r.control_ = a.control;
  r.data_ = static_cast<const std::byte*>(mem) + kRingDataOffset;
  r.capacity_ = a.capacity;
  r.mask_ = a.capacity - 1;
  r.max_frame_ = a.max_frame;
  r.head_ = r.cursor_ = a.indices.head;
  r.tail_cache_ = a.indices.tail;
  r.options_ = options;
  return r;
}

Result<void> ByteRingReader::refresh_tail() noexcept {
  // SYNC POINT B1 (reader side): frames before tail are complete.
  const std::uint64_t t = control_->tail.value.load(std::memory_order_acquire);
  if (t - head_ > capacity_ || t % kFrameAlign != 0) [[unlikely]]
    return corrupted_distance(kWhat, "tail", t, "head", head_, capacity_);
  if (cursor_ - head_ > t - head_) [[unlikely]]
    return corrupted_distance(kWhat, "read position", cursor_, "tail", t, capacity_);
  tail_cache_ = t;
  return ok();
}

Failure ByteRingReader::bad_frame(std::uint64_t pos, const FrameHeader& h, const char* why) const {
  return fail(
      Errc::corrupted,
      "{}: frame at position {} ({} kind {}, flags {:#x}, stream {}, length {}, tag {}): {}", kWhat,
      pos, kind_name(h.kind), h.kind, h.flags, h.stream, h.length, h.position_tag, why);
}

Result<std::optional<Frame>> ByteRingReader::peek() noexcept {
  // Bounded: each padding or skip moves cursor_ forward within what the
  // writer published, and a padding frame always ends the lap.
  for (;;) {
    if (cursor_ == tail_cache_) {
      SLUICE_TRY(refresh_tail());
      if (cursor_ == tail_cache_) return std::optional<Frame>{};
    }
    const std::uint64_t pos = cursor_;
    const std::uint64_t avail = tail_cache_ - pos;
    const std::uint64_t offset = pos & mask_;
    const std::uint64_t to_end = capacity_ - offset;
    if (to_end < kFrameHeaderSize) {
      if (avail < to_end) [[unlikely]]
        return fail(Errc::corrupted, "{}: tail {} inside the skipped end of the data area at {}",
                    kWhat, tail_cache_, pos);
      cursor_ += to_end;
      continue;
    }
    FrameHeader h;
    if (avail < kFrameHeaderSize) [[unlikely]] {
      return fail(Errc::corrupted, "{}: tail {} inside the frame header at {}", kWhat, tail_cache_,
                  pos);
    }
    std::memcpy(&h, data_ + offset, sizeof h);
    if (h.position_tag != position_tag(pos)) [[unlikely]]
      return bad_frame(pos, h, "position tag does not match (stale or shifted data)");
    switch (static_cast<FrameKind>(h.kind)) {
      case FrameKind::padding:
        if (h.flags != 0 || h.stream != 0) return bad_frame(pos, h, "padding with flags or stream");
        if (kFrameHeaderSize + std::uint64_t{h.length} != to_end)
          return bad_frame(pos, h, "padding does not end at the end of the data area");
        if (avail < to_end) return bad_frame(pos, h, "padding beyond the published tail");
        cursor_ += to_end;
        continue;
      case FrameKind::end_of_stream:
        if (h.flags != 0 || h.length != 0)
          return bad_frame(pos, h, "end of stream with flags or length");
        return std::optional<Frame>{Frame{h.stream, FrameKind::end_of_stream, false, {}, pos}};
      case FrameKind::data: {
        if ((h.flags & ~FrameHeader::kKnownFlags) != 0) return bad_frame(pos, h, "unknown flags");
        const std::uint64_t size = frame_size(h.length);
        if (size > max_frame_) return bad_frame(pos, h, "longer than the frame limit");
        if (size > to_end) return bad_frame(pos, h, "crosses the end of the data area");
        if (size > avail) return bad_frame(pos, h, "extends beyond the published tail");
        return std::optional<Frame>{
            Frame{h.stream, FrameKind::data, (h.flags & FrameHeader::kMore) != 0,
                  std::span<const std::byte>(data_ + offset + kFrameHeaderSize, h.length), pos}};
      }
    }
    return bad_frame(pos, h, "unknown kind");
  }
}

Result<std::optional<Frame>> ByteRingReader::next_frame() noexcept {
  if (control_ == nullptr) return fail(Errc::invalid_argument, "{}: reader not attached", kWhat);
  SLUICE_TRY_ASSIGN(std::optional<Frame> f, peek());
  if (f) advance(*f);
  return f;
}

void ByteRingReader::release() noexcept {
  if (cursor_ == head_) return;
  head_ = cursor_;
  // SYNC POINT B2: we are done with every frame before head_.
  control_->head.value.store(head_, std::memory_order_release);
}

std::uint64_t ByteRingReader::readable_hint() const noexcept {
  if (control_ == nullptr) return 0;
  const std::uint64_t t = control_->tail.value.load(std::memory_order_relaxed);
  const std::uint64_t d = t - head_;
  return d > capacity_ ? 0 : d;
}

Result<void> ByteRingReader::append(std::uint32_t stream, StreamState& s,
                                    std::span<const std::byte> payload, std::size_t limit) {
  if (s.partial.size() + payload.size() > options_.max_message_bytes)
    return fail(Errc::out_of_range, "{}: message on stream {} exceeds {} bytes", kWhat, stream,
                options_.max_message_bytes);
  const std::size_t cost = charge(payload.size());
  if (buffered_ + cost > limit)
    return fail(Errc::out_of_range, "{}: reader holds {} bytes of unfinished messages, limit {}",
                kWhat, buffered_, limit);
  s.partial.insert(s.partial.end(), payload.begin(), payload.end());
  s.partial_charged += cost;
  buffered_ += cost;
  return ok();
}

void ByteRingReader::drop_partial(StreamState& s) noexcept {
  if (s.partial_charged == 0) return;
  buffered_ -= s.partial_charged;
  s.partial_charged = 0;
  s.partial.clear();
  ++dropped_;
}

void ByteRingReader::forget_if_idle(std::uint32_t stream, const StreamState& s) {
  if (s.partial_charged == 0 && s.queue.empty()) streams_.erase(stream);
}

ReadStatus ByteRingReader::take_pending(std::uint32_t stream, StreamState& s,
                                        std::vector<std::byte>& out) {
  Pending& p = s.queue.front();
  out = std::move(p.bytes);
  const ReadStatus status = p.end_of_stream ? ReadStatus::end_of_stream : ReadStatus::message;
  buffered_ -= p.charged;
  s.queue.pop_front();
  forget_if_idle(stream, s);
  return status;
}

Result<ReadStatus> ByteRingReader::try_read(std::uint32_t stream, std::vector<std::byte>& message) {
  if (control_ == nullptr) return fail(Errc::invalid_argument, "{}: reader not attached", kWhat);
  message.clear();
  if (auto it = streams_.find(stream); it != streams_.end() && !it->second.queue.empty())
    return take_pending(stream, it->second, message);
  const std::size_t own_limit = options_.max_buffered_bytes + options_.max_message_bytes;
  // Every iteration consumes one published frame or returns: bounded by what
  // the writer published. The frames consumed are released on every return.
  for (;;) {
    auto peeked = peek();
    if (!peeked) {
      release();
      return Failure{std::move(peeked).error()};
    }
    const std::optional<Frame>& f = *peeked;
    if (!f) {
      release();
      return ReadStatus::empty;
    }
    if (f->stream == stream) {
      advance(*f);
      auto it = streams_.find(stream);
      if (f->kind == FrameKind::end_of_stream) {
        if (it != streams_.end()) {
          drop_partial(it->second);
          forget_if_idle(stream, it->second);
        }
        release();
        return ReadStatus::end_of_stream;
      }
      if ((it == streams_.end() || it->second.partial_charged == 0) && !f->more) {
        message.assign(f->payload.begin(), f->payload.end());  // one-frame message
        release();
        return ReadStatus::message;
      }
      StreamState& s = it != streams_.end() ? it->second : streams_[stream];
      if (auto r = append(stream, s, f->payload, own_limit); !r) {
        release();
        return Failure{std::move(r).error()};
      }
      if (!f->more) {
        message = std::move(s.partial);
        s.partial = {};
        buffered_ -= s.partial_charged;
        s.partial_charged = 0;
        forget_if_idle(stream, s);
        release();
        return ReadStatus::message;
      }
      continue;
    }
    // A frame of another stream: set it aside if the budget allows.
    const std::size_t cost = charge(f->payload.size());
    if (buffered_ + cost > options_.max_buffered_bytes) {
      release();
      return ReadStatus::blocked;
    }
    advance(*f);
    StreamState& s = streams_[f->stream];
    if (f->kind == FrameKind::end_of_stream) {
      drop_partial(s);
      s.queue.push_back(Pending{{}, true, arrivals_++, cost});
      buffered_ += cost;
      continue;
    }
    if (s.partial_charged == 0 && !f->more) {
      s.queue.push_back(Pending{std::vector<std::byte>(f->payload.begin(), f->payload.end()), false,
                                arrivals_++, cost});
      buffered_ += cost;
      continue;
    }
    if (auto r = append(f->stream, s, f->payload, options_.max_buffered_bytes); !r) {
      release();
      return Failure{std::move(r).error()};
    }
    if (!f->more) {
      s.queue.push_back(Pending{std::move(s.partial), false, arrivals_++, s.partial_charged});
      s.partial = {};
      s.partial_charged = 0;
    }
  }
}

Result<ReadStatus> ByteRingReader::try_read_any(std::uint32_t& stream,
                                                std::vector<std::byte>& message) {
  if (control_ == nullptr) return fail(Errc::invalid_argument, "{}: reader not attached", kWhat);
  message.clear();
  // Pending messages first, oldest arrival first (each queue is in order).
  std::uint64_t best = std::numeric_limits<std::uint64_t>::max();
  std::uint32_t best_stream = 0;
  for (const auto& [id, s] : streams_) {
    if (!s.queue.empty() && s.queue.front().arrival < best) {
      best = s.queue.front().arrival;
      best_stream = id;
    }
  }
  if (best != std::numeric_limits<std::uint64_t>::max()) {
    stream = best_stream;
    return take_pending(best_stream, streams_.at(best_stream), message);
  }
  const std::size_t limit = options_.max_buffered_bytes + options_.max_message_bytes;
  for (;;) {
    auto peeked = next_frame();
    if (!peeked) {
      release();
      return Failure{std::move(peeked).error()};
    }
    const std::optional<Frame>& f = *peeked;
    if (!f) {
      release();
      return ReadStatus::empty;
    }
    auto it = streams_.find(f->stream);
    if (f->kind == FrameKind::end_of_stream) {
      if (it != streams_.end()) {
        drop_partial(it->second);
        forget_if_idle(f->stream, it->second);
      }
      stream = f->stream;
      release();
      return ReadStatus::end_of_stream;
    }
    if ((it == streams_.end() || it->second.partial_charged == 0) && !f->more) {
      stream = f->stream;
      message.assign(f->payload.begin(), f->payload.end());
      release();
      return ReadStatus::message;
    }
    StreamState& s = it != streams_.end() ? it->second : streams_[f->stream];
    if (auto r = append(f->stream, s, f->payload, limit); !r) {
      release();
      return Failure{std::move(r).error()};
    }
    if (!f->more) {
      stream = f->stream;
      message = std::move(s.partial);
      s.partial = {};
      buffered_ -= s.partial_charged;
      s.partial_charged = 0;
      forget_if_idle(f->stream, s);
      release();
      return ReadStatus::message;
    }
  }
}

}  // namespace sluice::ring
