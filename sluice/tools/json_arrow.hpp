#pragma once
// Arrow arrays from JSON values, for the CLI's `sluice rpc call -p name=VALUE`:
// the parameter's type (from the server's description) says how to read the
// value. Internal to the tools layer.
//
//   null                      null (nullable fields only)
//   true / false              boolean
//   numbers                   integers (range-checked) and floats
//   "text"                    utf8, large_utf8, binary, large_binary (the
//                             string's bytes), fixed_size_binary (exact size),
//                             dictionary<int, utf8> (an enum name)
//   "123.4567" or 12.5        decimal128(p, s), exactly, without rounding
//   "2024-01-31" or 19753     date32 (or days since the epoch)
//   integers                  time, timestamp, duration (in the type's unit)
//   [ ... ]                   list, large_list, fixed_size_list
//   { "k": v, ... }           map<utf8, ...>, struct (by field name)

#include <sluice/arrow/array.hpp>
#include <sluice/base/result.hpp>

#include <nlohmann/json_fwd.hpp>

#include <vector>

namespace sluice::tools {

// One array of `type` holding `values` in order; `nullable` says whether a
// JSON null is allowed at this level. Errors name the offending value.
Result<arrow::ArrayPtr> array_from_json(const arrow::TypePtr& type, bool nullable,
                                        const std::vector<const nlohmann::json*>& values);

// A one-row batch of `schema` from the named JSON values: absent names are
// null (a nullable parameter, or one with a server-side default).
Result<arrow::RecordBatch> row_from_json(const arrow::SchemaPtr& schema, const nlohmann::json& row);

}  // namespace sluice::tools
