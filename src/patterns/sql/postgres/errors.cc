#include "patterns/sql/postgres/errors.h"

namespace wharf::sql {

ErrorCode sqlstate_error_code(std::string_view s) {
  if (s.size() != 5) return ErrorCode::kInternal;
  const std::string_view cls = s.substr(0, 2);
  if (s == "40001" || s == "40P01" || s == "55P03") return ErrorCode::kConflict;
  if (cls == "23" || s == "40002") return ErrorCode::kConstraint;
  if (cls == "08") return ErrorCode::kUnavailable;
  if (s.starts_with("57P0"))
    return ErrorCode::kUnavailable;  // admin/crash shutdown, cannot connect now
  if (s == "53100") return ErrorCode::kNoSpace;
  if (cls == "53") return ErrorCode::kResourceExhausted;
  if (s == "57014") return ErrorCode::kTimeout;
  if (cls == "22" || cls == "42" || cls == "25" || cls == "28" || cls == "2B" || cls == "34" ||
      cls == "3B" || cls == "44") {
    return ErrorCode::kInvalidArgument;
  }
  if (s == "3D000" || s == "3F000") return ErrorCode::kNotFound;
  if (cls == "0A") return ErrorCode::kUnsupported;
  if (cls == "58") return ErrorCode::kIoError;
  if (s == "XX001" || s == "XX002") return ErrorCode::kCorruption;
  return ErrorCode::kInternal;
}

}  // namespace wharf::sql
