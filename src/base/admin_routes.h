// Extra read-only JSON endpoints for the admin HTTP API, registered by code the admin module
// cannot know about (the pattern library sits above it): KeyParking adds /v1/parked-keys to the
// admin API of the process it runs in. Process-wide and thread-safe, like the metrics registry;
// a handler runs on the admin API's thread for each GET and returns the JSON body, or an Error
// (answered 500 with its message).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "wharf/result.h"

namespace wharf::admin_routes {

using Handler = std::function<Result<std::string>()>;

// Adds `path` (exact match, e.g. "/v1/parked-keys"); returns an id for remove(). A second
// handler for the same path is served after the first is removed.
std::uint64_t add(std::string path, Handler handler);
// Returns once no call of the route's handler is running (never call it from the handler);
// calls through a handler find() returned earlier then fail with kNotFound.
void remove(std::uint64_t id);
// The handler for `path`, if one is registered.
std::optional<Handler> find(const std::string& path);
// The registered paths, for the admin API's "no such endpoint" hint.
std::vector<std::string> paths();

}  // namespace wharf::admin_routes
