#include "wharf/event.h"

#include <map>
#include <mutex>
#include <shared_mutex>

namespace wharf {

struct EventRegistry::Impl {
  mutable std::shared_mutex mu;
  std::map<std::pair<std::string, std::int32_t>, Upcaster, std::less<>> steps;
};

EventRegistry& EventRegistry::global() {
  static EventRegistry registry;
  return registry;
}

EventRegistry::EventRegistry() : impl_(std::make_unique<Impl>()) {}
EventRegistry::~EventRegistry() = default;

bool EventRegistry::add_upcaster(std::string type, std::int32_t from_version, Upcaster upcaster) {
  Impl& s = *impl_;
  std::unique_lock lock(s.mu);
  s.steps[{std::move(type), from_version}] = std::move(upcaster);
  return true;
}

Status EventRegistry::upcast(std::string_view type, std::int32_t from_version,
                             std::int32_t to_version, json& payload) const {
  if (from_version > to_version) {
    return fail(ErrorCode::kUnsupported, "{}: cannot upcast from version {} down to {}", type,
                from_version, to_version);
  }
  Impl& s = *impl_;
  std::shared_lock lock(s.mu);
  for (std::int32_t v = from_version; v < to_version; ++v) {
    auto it = s.steps.find(std::pair<std::string, std::int32_t>(std::string(type), v));
    if (it == s.steps.end()) {
      return fail(ErrorCode::kUnsupported, "{}: no upcaster from version {} to {}", type, v, v + 1);
    }
    try {
      it->second(payload);
    } catch (const std::exception& e) {
      return fail(ErrorCode::kInvalidArgument, "{}: upcaster from version {} failed: {}", type, v,
                  e.what());
    }
  }
  return ok();
}

namespace detail {
Result<json> parse_payload(const Message& message) {
  json doc = json::parse(message.payload, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return fail(ErrorCode::kInvalidArgument, "message {} ({} v{}): payload is not valid JSON",
                message.id, message.type, message.version);
  }
  return doc;
}
}  // namespace detail

}  // namespace wharf
