#pragma once
// Human- and machine-readable renderings of values and batches (tests, the
// `sluice arrow cat` command, error messages).
//
// Text: null, 42, 1.5, "abc" (utf8, escaped), 0x00ff (binary), [1, 2] (lists),
// {a: 1, b: "x"} (structs), {"k": 1} (maps), 1970-01-02, 12:00:00.001,
// 1970-01-01T00:00:01.000000Z, 123.45 (decimal), 3M, 2d5ms, 1M2d3ns.
// JSON: numbers as numbers (64-bit integers beyond 2^53 as strings), binary as
// hex strings, temporal values as ISO-8601 strings, decimals as strings.

#include <sluice/arrow/array.hpp>

#include <string>

namespace sluice::arrow {

[[nodiscard]] std::string format_value(const Array& array, std::int64_t i);
[[nodiscard]] std::string value_to_json(const Array& array, std::int64_t i);
// A table with a header of "name: type" and at most max_rows rows.
[[nodiscard]] std::string format_table(const RecordBatch& batch, std::int64_t max_rows = 100);
// One JSON object per row, one row per line (JSON Lines).
[[nodiscard]] std::string batch_to_json_rows(const RecordBatch& batch);
// A decimal128 value as text with its scale ("-123.45").
[[nodiscard]] std::string decimal128_to_string(const Decimal128& v, std::int32_t scale);

}  // namespace sluice::arrow
