// Error values: the definitions are public, in include/wharf/error.h.
#pragma once

#include "wharf/error.h"  // IWYU pragma: export
