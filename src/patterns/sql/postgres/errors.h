// How PostgreSQL SQLSTATEs become wharf ErrorCodes (docs/decisions/0003-sql-stores.md).
// Pure; used by the PostgreSQL backend and its tests.
#pragma once

#include <string_view>

#include "base/error.h"

namespace wharf::sql {

// 40001 serialization failure, 40P01 deadlock, 55P03 lock not available -> kConflict;
// 23xxx (and 40002) -> kConstraint; 08xxx, 57P01-57P05 -> kUnavailable; 53100 -> kNoSpace,
// other 53xxx -> kResourceExhausted; 57014 (statement timeout, cancel) -> kTimeout;
// 22xxx, 42xxx, 25xxx, 28xxx -> kInvalidArgument; 3D000 -> kNotFound; 0A000 -> kUnsupported;
// 58xxx -> kIoError; XX001/XX002 -> kCorruption; anything else (incl. XX000) -> kInternal.
ErrorCode sqlstate_error_code(std::string_view sqlstate);

}  // namespace wharf::sql
