// The umbrella header of Wharf's pattern library: everything a service needs to publish and
// consume events. Finer headers: message.h (the envelope), event.h (typed events, upcasters),
// transport.h (Bus and the transports' options), router.h (consumer groups and handlers),
// middleware.h, reliability.h (retry, retry topics, dead letters), inbox.h (idempotent
// consumers), parking.h (per-key parking), outbox.h (transactional outbox and its relay),
// event_store.h (event sourcing, aggregates, projections), saga.h (orchestrated sagas), sql.h.
// Link wharf_patterns_core plus the transports you open (wharf_patterns_memory,
// wharf_patterns_kafka, wharf_patterns_embedded) and the leaves you use; or Wharf::wharf for
// all of them. docs/library.md is the tutorial.
#pragma once

#include "wharf/clock.h"        // IWYU pragma: export
#include "wharf/error.h"        // IWYU pragma: export
#include "wharf/event.h"        // IWYU pragma: export
#include "wharf/event_store.h"  // IWYU pragma: export
#include "wharf/inbox.h"        // IWYU pragma: export
#include "wharf/message.h"      // IWYU pragma: export
#include "wharf/middleware.h"   // IWYU pragma: export
#include "wharf/outbox.h"       // IWYU pragma: export
#include "wharf/parking.h"      // IWYU pragma: export
#include "wharf/reliability.h"  // IWYU pragma: export
#include "wharf/result.h"       // IWYU pragma: export
#include "wharf/router.h"       // IWYU pragma: export
#include "wharf/saga.h"         // IWYU pragma: export
#include "wharf/transport.h"    // IWYU pragma: export
