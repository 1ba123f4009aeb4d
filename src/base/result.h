// Result<T> and Status: the definitions are public, in include/wharf/result.h.
#pragma once

#include "wharf/result.h"  // IWYU pragma: export
