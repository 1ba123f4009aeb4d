// The injectable clock: the definitions are public, in include/wharf/clock.h.
#pragma once

#include "wharf/clock.h"  // IWYU pragma: export
