#pragma once
// The Arrow C Data Interface and C Stream Interface.
//
// The three structs below are exactly those of the Arrow specification
// (guarded by the specification's macros, so a translation unit that also
// includes another Arrow implementation's copy sees one definition).
//
// Export (sluice -> consumer, zero-copy): the exported ArrowArray's buffers
// are the arrays' own buffers. Its private data holds a reference to the
// arrays, so the memory they point into - an IPC message, a shared-memory
// mapping, a received sample - stays alive until the consumer calls release;
// release drops that reference. A batch is exported as a struct array ("+s")
// of its columns; batch custom metadata has no place in the C interface.
//
// Import (producer -> sluice, zero-copy, taking ownership as the
// specification says): the struct is moved (the caller's copy is marked
// released) and the imported arrays' buffers point into the producer's memory,
// sharing one lifetime handle that calls the producer's release callback when
// the last array referencing it goes away. Imported arrays are validated
// (full) before they are returned; the producer is in-process and trusted not
// to change the memory after handing it over.

#include <sluice/arrow/array.hpp>

#include <cstdint>
#include <functional>
#include <optional>

extern "C" {

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  // Array type description
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;

  // Release callback
  void (*release)(struct ArrowSchema*);
  // Opaque producer-specific data
  void* private_data;
};

struct ArrowArray {
  // Array data description
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;

  // Release callback
  void (*release)(struct ArrowArray*);
  // Opaque producer-specific data
  void* private_data;
};

#endif  // ARROW_C_DATA_INTERFACE

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE

struct ArrowArrayStream {
  // Callbacks providing stream functionality
  int (*get_schema)(struct ArrowArrayStream*, struct ArrowSchema* out);
  int (*get_next)(struct ArrowArrayStream*, struct ArrowArray* out);
  const char* (*get_last_error)(struct ArrowArrayStream*);

  // Release callback
  void (*release)(struct ArrowArrayStream*);

  // Opaque producer-specific data
  void* private_data;
};

#endif  // ARROW_C_STREAM_INTERFACE

}  // extern "C"

namespace sluice::arrow::c_data {

// "i", "tsu:UTC", "+l", "w:16", ... for a type (the dictionary's index type
// for dictionary-encoded types).
Result<std::string> format_string(const DataType& type);

// --- export: *out is filled in and owned by the consumer afterwards ---------------

Result<void> export_field(const Field& field, ArrowSchema* out);
// The schema as a struct ("+s") of its fields, with the schema's metadata.
Result<void> export_schema(const Schema& schema, ArrowSchema* out);
Result<void> export_array(const ArrayPtr& array, ArrowArray* out);
// The batch as a struct array of its columns (schema_out optional).
Result<void> export_batch(const RecordBatch& batch, ArrowArray* out,
                          ArrowSchema* schema_out = nullptr);

// A stream pulling batches from `next` (nullopt ends the stream). Errors are
// reported to the consumer as EIO with get_last_error() text.
using BatchSource = std::function<Result<std::optional<RecordBatch>>()>;
Result<void> export_stream(SchemaPtr schema, BatchSource next, ArrowArrayStream* out);
Result<void> export_stream(SchemaPtr schema, std::vector<RecordBatch> batches,
                           ArrowArrayStream* out);

// --- import: takes ownership; *in is marked released on return, success or not ----

Result<FieldPtr> import_field(ArrowSchema* in);
Result<SchemaPtr> import_schema(ArrowSchema* in);  // a "+s" schema
Result<ArrayPtr> import_array(ArrowArray* in, const TypePtr& type);
Result<RecordBatch> import_batch(ArrowArray* in, const SchemaPtr& schema);
Result<RecordBatch> import_batch(ArrowArray* in, ArrowSchema* schema);

// A consumer of an ArrowArrayStream (moved in; released on destruction).
class StreamImporter {
 public:
  static Result<StreamImporter> open(ArrowArrayStream* in);
  StreamImporter(StreamImporter&&) noexcept;
  StreamImporter& operator=(StreamImporter&&) noexcept;
  ~StreamImporter();
  [[nodiscard]] const SchemaPtr& schema() const noexcept { return schema_; }
  // The next batch, or nullopt at the end of the stream.
  Result<std::optional<RecordBatch>> next();

 private:
  StreamImporter() = default;
  std::unique_ptr<ArrowArrayStream> stream_;
  SchemaPtr schema_;
};

}  // namespace sluice::arrow::c_data
