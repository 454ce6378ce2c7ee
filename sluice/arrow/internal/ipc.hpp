#pragma once
// Internals shared by the IPC writer and reader: the flatc-generated message
// types (private to this layer), schema <-> flatbuffer conversion, message
// framing and body compression.

#include <sluice/arrow/ipc.hpp>
#include <sluice/base/units.hpp>

#include <sluice_arrow_fb/File_generated.h>
#include <sluice_arrow_fb/Message_generated.h>
#include <sluice_arrow_fb/Schema_generated.h>

#include <cstring>
#include <string>

namespace sluice::arrow::ipc::detail {

namespace fb = ::sluice::arrow::fb;

using FbOffset = flatbuffers::Offset<void>;
using KeyValueVector = flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::KeyValue>>>;

// --- schema <-> flatbuffers --------------------------------------------------------

KeyValueVector encode_metadata(flatbuffers::FlatBufferBuilder& fbb, const KeyValueMetadata& md);
flatbuffers::Offset<fb::Schema> encode_schema_table(flatbuffers::FlatBufferBuilder& fbb,
                                                    const Schema& schema, const DictionaryIds& ids);

// Where each dictionary-encoded field of a decoded schema gets its dictionary:
// the id, and the value type a DictionaryBatch for that id must carry.
struct DictionaryField {
  std::int64_t id;
  TypePtr value_type;
};
struct DecodedSchema {
  SchemaPtr schema;
  DictionaryIds ids;
  std::unordered_map<std::int64_t, TypePtr> value_types;  // id -> dictionary value type
};
Result<DecodedSchema> decode_schema(const fb::Schema* schema);
// For a schema built in memory (open_with_schema, writers).
DecodedSchema describe_schema(SchemaPtr schema);
Result<KeyValueMetadata> decode_metadata(
    const flatbuffers::Vector<flatbuffers::Offset<fb::KeyValue>>* kv);

// --- framing -----------------------------------------------------------------------

// A message whose metadata was copied into private memory and verified.
struct RawMessage {
  Buffer metadata;                       // private, aligned copy of the flatbuffer
  Buffer body;                           // aliasing the input, or owned
  const fb::Message* message = nullptr;  // points into metadata
  std::size_t metadata_length = 0;       // prefix + flatbuffer + padding
};

// Verifies a flatbuffer Message held in `metadata` (private memory).
Result<const fb::Message*> verify_message(const Buffer& metadata);

// Parses the framing at the start of `bytes`: returns the metadata size
// (flatbuffer + padding) and the prefix size (8, or 4 for the pre-1.0 format
// without continuation marker); metadata size 0 is the end-of-stream marker.
struct Prefix {
  std::size_t prefix_size = 0;
  std::size_t metadata_size = 0;
};
Result<Prefix> parse_prefix(std::span<const std::byte> bytes);

// --- compression ---------------------------------------------------------------------

// Compresses `in` into the BUFFER method layout: int64 uncompressed length,
// then the compressed bytes (or -1 and the raw bytes when compressing does
// not pay).
Result<Buffer> compress_buffer(Compression codec, int level, std::span<const std::byte> in);
// Decompresses one body buffer; `budget` is the remaining allowance of
// decompressed bytes for the message (decremented). Length -1 returns a slice
// of `in` (no copy).
Result<Buffer> decompress_buffer(Compression codec, const Buffer& in, std::uint64_t* budget);

// Element i of a flatbuffers vector of structs. The verifier checks the
// vector's 4-byte alignment only, so an 8-byte struct may sit misaligned in
// hostile input: copy it out instead of dereferencing it in place.
template <typename T>
T struct_at(const flatbuffers::Vector<const T*>* v, flatbuffers::uoffset_t i) noexcept {
  T out;
  std::memcpy(static_cast<void*>(&out), v->Data() + static_cast<std::size_t>(i) * sizeof(T),
              sizeof(T));
  return out;
}

inline std::int64_t load_i64(const std::byte* p) noexcept {
  std::int64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline std::int32_t load_i32(const std::byte* p) noexcept {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace sluice::arrow::ipc::detail
