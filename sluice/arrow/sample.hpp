#pragma once
// A deterministic record batch with a column of every supported type, for
// tests, the interop suite (the JavaScript side recomputes the same formulas
// independently) and `sluice arrow gen`.
//
// Row i (0-based). Nullable columns are null where i % 5 == 4 (null slots of
// fixed-width columns hold zeros). k is the running index of a child value.
//
//   null               null
//   bool               i % 3 != 0
//   int8               (i * 37) % 200 - 100
//   int16              (i * 1237) % 60000 - 30000
//   int32              (i * 7919) % 2000000000 - 1000000000
//   int64              i * 1000000000039 - 2^62
//   uint8              (i * 13) % 256
//   uint16             (i * 2531) % 65536
//   uint32             (i * 2654435761) % 2^32
//   uint64             (i * 11400714819323198485) % 2^64
//   float16            (i % 64) * 0.5 - 8
//   float32            i * 0.25 - 10
//   float64            i * 0.1
//   utf8               ("v" + i + "\u00e9") repeated i % 4 times
//   large_utf8         "L" + i
//   binary             i % 5 bytes: (i + j) % 256
//   large_binary       i % 3 bytes: (i * 7 + j) % 256
//   fixed_size_binary  4 bytes: i % 256, (i + 1) % 256, (i * 2) % 256, 255 - i % 256
//   decimal128(20, 3)  unscaled i * 1000003 - 500000
//   date32             i * 37 - 10000 (days)
//   date64             (i * 37 - 10000) * 86400000
//   time32_s           (i * 3727) % 86400
//   time32_ms          (i * 3727001) % 86400000
//   time64_us          (i * 3727000123) % 86400000000
//   time64_ns          (i * 3727000123457) % 86400000000000
//   ts_s_tz            timestamp[s, "+07:30"]             1700000000 + i * 3601
//   ts_ms_tz           timestamp[ms, "America/New_York"]  1700000000000 + i * 3600001
//   ts_us_utc          timestamp[us, "UTC"]               1700000000000000 + i * 1000001
//   ts_ns              timestamp[ns]                      1700000000000000000 + i * 999999937
//   dur_s / ms / us / ns   i * 1000 - 7, i * 1000003 - 11, i * 1000000007 - 13, i * 1000000000039 -
//   17 interval_ym        i - 50 (months) interval_dt        days i, milliseconds i * 1000 - 500
//   interval_mdn       months i % 13, days -i, nanoseconds i * 1000000007
//   list_i32           list<int32>, i % 4 values; value k: k * 2 - 1, null where k % 6 == 5
//   large_list_utf8    large_list<utf8>, i % 3 values; value k: "e" + k
//   fsl_f64            fixed_size_list<float64>[3]; value j of row i: (i * 3 + j) * 0.5
//   struct             struct<a: int32 (i * 11, null where i % 3 == 1), b: utf8 not null ("b" + i),
//                             c: struct<d: bool (i % 2 == 0)> (null where i % 7 == 6)>
//   map                map<utf8, int64>, i % 3 entries; entry k: "k" + k -> k * 100 (null where k %
//   4 == 3) dict_utf8          dictionary<int32, utf8>: index i % 5 of [alpha, beta, gamma, delta,
//   epsilon] dict_i64           dictionary<int8, int64>: index (i * 3) % 4 of [10, 20, 30, 40]

#include <sluice/arrow/array.hpp>

#include <string>
#include <vector>

namespace sluice::arrow {

struct SampleOptions {
  // Column names to leave out (e.g. types a peer implementation lacks).
  std::vector<std::string> exclude;
  // Schema and batch custom metadata to attach.
  KeyValueMetadata schema_metadata;
  KeyValueMetadata batch_metadata;
};

// Rows [first_row, first_row + rows) of the sample table.
RecordBatch make_sample_batch(std::int64_t rows, const SampleOptions& options = {},
                              std::int64_t first_row = 0);
// Names of every sample column, in order.
std::vector<std::string> sample_column_names();

}  // namespace sluice::arrow
