#pragma once
// Validation of arrays whose bytes came from outside the program (IPC input,
// shared memory, the C Data Interface). After validate() succeeds, every
// accessor of Array stays within the buffers.
//
//  - structure: buffer count, each buffer large enough for length + offset,
//    child counts and lengths, dictionary presence and type, the first and
//    last offset of variable-size layouts in bounds; cost independent of the
//    number of values.
//  - full: structure plus every offset (monotonic, in bounds) and every
//    dictionary index (in range); linear in the offset/index buffers only,
//    fixed-width data is never scanned. UTF-8 is not checked (values are
//    bytes to sluice).

#include <sluice/arrow/array.hpp>

namespace sluice::arrow {

enum class ValidationLevel : std::uint8_t { structure, full };

Result<void> validate(const Array& array, ValidationLevel level = ValidationLevel::full);
Result<void> validate(const RecordBatch& batch, ValidationLevel level = ValidationLevel::full);

}  // namespace sluice::arrow
