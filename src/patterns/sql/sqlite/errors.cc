#include "patterns/sql/sqlite/errors.h"

#include <sqlite3.h>

namespace wharf::sql {

ErrorCode sqlite_error_code(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_SCHEMA:
    case SQLITE_PROTOCOL:
      return ErrorCode::kConflict;
    case SQLITE_CONSTRAINT:
      return ErrorCode::kConstraint;
    case SQLITE_CANTOPEN:
      return ErrorCode::kUnavailable;
    case SQLITE_IOERR:
    case SQLITE_READONLY:
      return ErrorCode::kIoError;
    case SQLITE_FULL:
      return ErrorCode::kNoSpace;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ErrorCode::kCorruption;
    case SQLITE_NOMEM:
      return ErrorCode::kResourceExhausted;
    case SQLITE_TOOBIG:
      return ErrorCode::kMessageTooLarge;
    case SQLITE_ERROR:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_MISUSE:
      return ErrorCode::kInvalidArgument;
    case SQLITE_INTERRUPT:
      return ErrorCode::kShuttingDown;
    default:
      return ErrorCode::kInternal;
  }
}

}  // namespace wharf::sql
