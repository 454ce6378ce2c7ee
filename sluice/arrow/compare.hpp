#pragma once
// Logical equality of arrays and batches: same type, length, null positions
// and values, whatever the physical offsets, slices, padding bytes or bytes
// under null slots. Floats compare bitwise (NaN equals the same NaN).

#include <sluice/arrow/array.hpp>

namespace sluice::arrow {

[[nodiscard]] bool array_equals(const Array& a, const Array& b);
// Elements [a_start, a_start + length) of a against [b_start, ...) of b; both
// ranges must lie within the arrays.
[[nodiscard]] bool array_range_equals(const Array& a, std::int64_t a_start, const Array& b,
                                      std::int64_t b_start, std::int64_t length);
[[nodiscard]] bool batch_equals(const RecordBatch& a, const RecordBatch& b,
                                bool check_metadata = false);

}  // namespace sluice::arrow
