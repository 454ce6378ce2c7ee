#pragma once
// Framed byte ring: one single-producer single-consumer ring of bytes that
// carries several logical streams (e.g. RPC calls, log streams) between two
// processes. Frames are self-describing, so a reader can demultiplex.
//
//   ByteRing::required_size(capacity), ByteRing::format(mem, bytes, capacity)
//   ByteRingWriter::attach(mem, bytes)   the one writer
//   ByteRingReader::attach(mem, bytes)   the one reader
//
// Region: the common control block (ring_header.hpp; head = reader position,
// tail = writer position, in bytes, 64-bit monotonic), then `capacity` data
// bytes (power of two, >= kMinCapacity). Layout and the full protocol:
// docs/layout/ring.md.
//
// Frames. Every frame starts at an 8-byte aligned position with a 16-byte
// FrameHeader (read in one 16-byte copy), followed by `length` payload bytes
// and zero to seven bytes of alignment padding. A frame never straddles the
// end of the data area, so its payload is contiguous and can be read in
// place. Kinds:
//   data           payload bytes of one stream; flag kMore says that more
//                  chunks of the same message follow
//   end_of_stream  the writer sends nothing more on this stream (length 0)
//   padding        fills the data area up to its end (wrap-around)
// A message is the payloads of a stream's data frames up to and including
// the first one without kMore; frames of other streams may come in between.
//
// Wrap-around. When fewer than 16 bytes remain before the end of the data
// area, both sides skip them implicitly (no header fits). When at least 16
// remain but the next frame does not fit, the writer either makes the chunk
// smaller (data) or, if what remains is too small to be worth a chunk, writes
// a padding frame up to the end. The reader follows both rules, so a frame is
// always whole and contiguous.
//
// Chunking. A data frame is at most max_frame_bytes() (header included; by
// default capacity / 4, at most 1 MiB), so a message of any size travels as a
// series of chunks, several in flight at once, reassembled by the reader.
//
// Synchronisation (same as the SPSC ring, positions in bytes):
//   SYNC POINT B1: the writer stores tail (release) once per write call after
//     writing every frame of the call; the reader's acquire load of tail sees
//     the frames.
//   SYNC POINT B2: the reader stores head (release) in release() after it is
//     done with the frames before it; the writer's acquire load of head
//     orders its overwrite of that space after the reader's reads.
//
// Validation. Each frame header read from the region is checked before use:
// position tag (low 32 bits of position / 8, catches stale or shifted data),
// kind, flags, length within the frame limit, within what the writer
// published and within the data area, padding ending exactly at the end of
// the data area. tail is checked against head (distance <= capacity, 8-byte
// aligned). Any failure is Errc::corrupted with the position and the field.
//
// Waiting is not this layer's business: try_* calls never block. The channel
// layer adds futex wake-ups using WriteResult::was_empty (a reader may be
// asleep), ByteRingWriter::free_space() and the wait hook of
// ByteRingWriter::write().

#include <sluice/base/result.hpp>
#include <sluice/base/units.hpp>
#include <sluice/ring/ring_header.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sluice::ring {

enum class FrameKind : std::uint16_t { data = 1, end_of_stream = 2, padding = 3 };

struct FrameHeader {
  static constexpr std::uint16_t kMore = 1u << 0;  // data: more chunks of this message follow
  static constexpr std::uint16_t kKnownFlags = kMore;

  std::uint32_t length;        // payload bytes after the header (alignment padding excluded)
  std::uint16_t kind;          // FrameKind
  std::uint16_t flags;         // kMore
  std::uint32_t stream;        // logical stream id (0 for padding)
  std::uint32_t position_tag;  // low 32 bits of (frame position / 8)
};
static_assert(sizeof(FrameHeader) == 16);
static_assert(offsetof(FrameHeader, length) == 0);
static_assert(offsetof(FrameHeader, kind) == 4);
static_assert(offsetof(FrameHeader, flags) == 6);
static_assert(offsetof(FrameHeader, stream) == 8);
static_assert(offsetof(FrameHeader, position_tag) == 12);

inline constexpr std::size_t kFrameHeaderSize = sizeof(FrameHeader);
inline constexpr std::size_t kFrameAlign = 8;

// Bytes a frame with `payload` bytes occupies in the ring.
constexpr std::uint64_t frame_size(std::uint64_t payload) noexcept {
  return kFrameHeaderSize + align_up(payload, kFrameAlign);
}

struct ByteRingOptions {
  // Largest frame, header included: a multiple of 8 in [64, capacity / 2].
  // 0: capacity / 4, at most 1 MiB.
  std::uint32_t max_frame_bytes = 0;
  // Head and tail start here (multiple of 8; tests of the 2^64 wrap).
  std::uint64_t initial_position = 0;
};

class ByteRing {
 public:
  static constexpr const char* kWhat = "byte ring";
  static constexpr std::uint64_t kMinCapacity = 256;
  static constexpr std::uint64_t kMaxCapacity = kMaxRingCapacity;

  static constexpr std::size_t required_size(std::uint64_t capacity) noexcept {
    return static_cast<std::size_t>(kRingDataOffset + capacity);
  }
  static Result<void> format(void* mem, std::size_t bytes, std::uint64_t capacity,
                             ByteRingOptions options = {});
};

// What one write call did.
struct WriteResult {
  std::size_t bytes = 0;   // payload bytes written (a prefix of the payload)
  std::size_t frames = 0;  // frames written, padding excluded
  bool complete = false;   // the whole payload (and the message end, if asked) went out
  // The reader had consumed everything published before this call (observed
  // right after publishing), so it may be asleep: the channel layer's wake-up
  // hint. A hint only: it is not a substitute for a waiter flag with a fence.
  bool was_empty = false;
};

class ByteRingWriter {
 public:
  ByteRingWriter() = default;
  ByteRingWriter(const ByteRingWriter&) = delete;
  ByteRingWriter& operator=(const ByteRingWriter&) = delete;
  ByteRingWriter(ByteRingWriter&&) noexcept = default;
  ByteRingWriter& operator=(ByteRingWriter&&) noexcept = default;

  static Result<ByteRingWriter> attach(void* mem, std::size_t bytes);

  // Non-blocking: writes as much of payload to `stream` as fits now, as one
  // or more chunks, then publishes them with one release store. A payload
  // larger than the ring simply goes out in several calls: continue with
  // payload.subspan(result.bytes). The last chunk written lacks kMore only if
  // it ends the payload and end_of_message is true, so a message can also be
  // written in pieces (end_of_message = false until the last piece). An
  // empty payload with end_of_message writes a zero-length message.
  Result<WriteResult> try_write(std::uint32_t stream, std::span<const std::byte> payload,
                                bool end_of_message = true) noexcept;

  // Non-blocking: writes the end-of-stream frame of `stream`. complete is
  // false if there was no room. Do not end a stream in the middle of a
  // message: the reader drops the unfinished message.
  Result<WriteResult> try_write_end(std::uint32_t stream) noexcept;

  // Writes the whole payload as one message, calling on_full(last) whenever
  // the ring is full: `last` is what the call before published (the hook
  // wakes the reader if last.was_empty, then waits for room; it returns a
  // Result<void> whose error, e.g. timed_out, aborts the write and is
  // returned). The final WriteResult covers the last call, with bytes the
  // total. An aborted write leaves an unfinished message behind (the reader
  // drops it at the stream's end or keeps waiting for its rest).
  template <typename OnFull>
  Result<WriteResult> write(std::uint32_t stream, std::span<const std::byte> payload,
                            OnFull&& on_full) {
    std::size_t done = 0;
    for (;;) {
      SLUICE_TRY_ASSIGN(WriteResult r, try_write(stream, payload.subspan(done), true));
      done += r.bytes;
      if (r.complete) {
        r.bytes = done;
        return r;
      }
      SLUICE_TRY(on_full(static_cast<const WriteResult&>(r)));
    }
  }

  // Bytes the reader has freed as of the last look at head (refreshed here);
  // a hint, the reader frees more concurrently.
  [[nodiscard]] std::uint64_t free_space() noexcept;
  // Largest payload one frame carries.
  [[nodiscard]] std::uint64_t max_chunk() const noexcept { return max_frame_ - kFrameHeaderSize; }
  [[nodiscard]] std::uint64_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::uint64_t position() const noexcept { return tail_; }
  [[nodiscard]] bool attached() const noexcept { return control_ != nullptr; }

 private:
  // Makes room at pos_ for a frame carrying up to `want` payload bytes (at
  // least min(want, min_chunk())), padding or skipping the end of the data
  // area on the way. true: `payload` bytes fit; false: the ring is full.
  Result<bool> reserve(std::uint64_t want, std::uint64_t& payload) noexcept;
  // Smallest chunk worth a frame when the space before the end of the data
  // area is short (a quarter of the largest chunk).
  [[nodiscard]] std::uint64_t min_chunk() const noexcept;
  void put_frame(FrameKind kind, std::uint16_t flags, std::uint32_t stream,
                 std::span<const std::byte> payload) noexcept;
  Result<void> refresh_head() noexcept;
  WriteResult publish(WriteResult r) noexcept;

  RingControl* control_ = nullptr;
  std::byte* data_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::uint64_t mask_ = 0;
  std::uint64_t max_frame_ = 0;
  std::uint64_t tail_ = 0;        // published position (mirrors control->tail)
  std::uint64_t pos_ = 0;         // position of the next frame (>= tail_ inside a call)
  std::uint64_t head_cache_ = 0;  // last head seen
};

// A frame as the reader sees it; payload points into the ring and is valid
// until the next ByteRingReader::release().
struct Frame {
  std::uint32_t stream = 0;
  FrameKind kind = FrameKind::data;
  bool more = false;
  std::span<const std::byte> payload;
  std::uint64_t position = 0;
};

enum class ReadStatus {
  message,        // a complete message is in the output vector
  end_of_stream,  // the stream ended (the output vector is empty)
  empty,          // nothing for this stream yet (retryable)
  blocked,        // the next frames belong to other streams and the pending
                  // budget is full: read those streams to make progress
};

struct ByteRingReaderOptions {
  // Bytes the reader may hold copied out of the ring: messages of other
  // streams set aside by try_read and unfinished messages. When a frame of
  // another stream would exceed it, try_read returns ReadStatus::blocked and
  // leaves the frame in the ring. Each buffered frame counts at least 64
  // bytes, which bounds the number of entries too.
  std::size_t max_buffered_bytes = 64 * MiB;
  // Largest message the reader reassembles (Errc::out_of_range beyond). The
  // memory a reader holds never exceeds max_buffered_bytes + this.
  std::size_t max_message_bytes = 256 * MiB;
};

class ByteRingReader {
 public:
  ByteRingReader() = default;
  ByteRingReader(const ByteRingReader&) = delete;
  ByteRingReader& operator=(const ByteRingReader&) = delete;
  ByteRingReader(ByteRingReader&&) noexcept = default;
  ByteRingReader& operator=(ByteRingReader&&) noexcept = default;

  static Result<ByteRingReader> attach(void* mem, std::size_t bytes,
                                       ByteRingReaderOptions options = {});

  // --- Frame level, zero-copy, in ring order (any stream) ---
  // The next data or end-of-stream frame (padding is skipped), or nullopt if
  // the writer has published nothing more. Frames stay in the ring, and
  // their payload spans valid, until release(); call release() after a
  // batch to free the space with one release store.
  Result<std::optional<Frame>> next_frame() noexcept;
  void release() noexcept;

  // --- Message level, per stream, reassembled and copied out ---
  // The next message or end of `stream`. Frames of other streams met on the
  // way are copied into per-stream pending queues (process-local, bounded by
  // max_buffered_bytes; beyond it: ReadStatus::blocked, the frame stays in
  // the ring) and their ring space is released, so one slow stream does not
  // stall the ring. Use either this level or next_frame() on one reader,
  // not both (next_frame() does not see what was set aside).
  Result<ReadStatus> try_read(std::uint32_t stream, std::vector<std::byte>& message);
  // The oldest complete message or end of stream of any stream (pending ones
  // first, in arrival order); `stream` receives its id.
  Result<ReadStatus> try_read_any(std::uint32_t& stream, std::vector<std::byte>& message);

  // Bytes set aside in pending queues and unfinished messages.
  [[nodiscard]] std::size_t buffered_bytes() const noexcept { return buffered_; }
  // Unfinished messages dropped because their stream ended first.
  [[nodiscard]] std::uint64_t dropped_messages() const noexcept { return dropped_; }
  // Published bytes not yet released (racy hint).
  [[nodiscard]] std::uint64_t readable_hint() const noexcept;
  [[nodiscard]] std::uint64_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::uint64_t position() const noexcept { return cursor_; }
  [[nodiscard]] bool attached() const noexcept { return control_ != nullptr; }

 private:
  struct Pending {
    std::vector<std::byte> bytes;
    bool end_of_stream = false;
    std::uint64_t arrival = 0;  // order across streams, for try_read_any
    std::size_t charged = 0;    // what it counts in buffered_
  };
  struct StreamState {
    std::vector<std::byte> partial;  // unfinished message
    std::size_t partial_charged = 0;
    std::deque<Pending> queue;  // complete messages / end of stream, oldest first
  };

  // The frame at cursor_ without consuming it (padding before it is
  // skipped); nullopt if nothing more is published.
  Result<std::optional<Frame>> peek() noexcept;
  void advance(const Frame& f) noexcept { cursor_ = f.position + frame_size(f.payload.size()); }
  Result<void> refresh_tail() noexcept;
  [[gnu::cold]] Failure bad_frame(std::uint64_t pos, const FrameHeader& h, const char* why) const;
  static std::size_t charge(std::size_t bytes) noexcept { return bytes < 64 ? 64 : bytes; }
  // Adds a data frame to its stream's unfinished message, within
  // max_message_bytes and within `limit` for buffered_ in total.
  Result<void> append(std::uint32_t stream, StreamState& s, std::span<const std::byte> payload,
                      std::size_t limit);
  // Moves the front of s.queue to out; forgets the stream if nothing is left.
  ReadStatus take_pending(std::uint32_t stream, StreamState& s, std::vector<std::byte>& out);
  // Drops an unfinished message (its stream ended first).
  void drop_partial(StreamState& s) noexcept;
  void forget_if_idle(std::uint32_t stream, const StreamState& s);

  RingControl* control_ = nullptr;
  const std::byte* data_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::uint64_t mask_ = 0;
  std::uint64_t max_frame_ = 0;
  std::uint64_t head_ = 0;        // released position (mirrors control->head)
  std::uint64_t cursor_ = 0;      // position after the last frame handed out
  std::uint64_t tail_cache_ = 0;  // last tail seen
  ByteRingReaderOptions options_;
  std::unordered_map<std::uint32_t, StreamState> streams_;
  std::size_t buffered_ = 0;
  std::uint64_t arrivals_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace sluice::ring
