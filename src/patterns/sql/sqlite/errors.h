// How SQLite result codes become wharf ErrorCodes (docs/decisions/0003-sql-stores.md).
// Pure; used by the SQLite backend and its tests. Takes plain ints so callers need no sqlite3.h.
#pragma once

#include "base/error.h"

namespace wharf::sql {

// `rc` is an SQLite result code, primary or extended (only the primary byte matters):
// BUSY/LOCKED/SCHEMA/PROTOCOL -> kConflict, CONSTRAINT -> kConstraint, CANTOPEN -> kUnavailable,
// IOERR -> kIoError, FULL -> kNoSpace, CORRUPT/NOTADB -> kCorruption, NOMEM -> kResourceExhausted,
// READONLY -> kIoError, TOOBIG -> kMessageTooLarge, ERROR/RANGE/MISMATCH -> kInvalidArgument,
// INTERRUPT -> kShuttingDown, anything else -> kInternal.
ErrorCode sqlite_error_code(int rc);

}  // namespace wharf::sql
