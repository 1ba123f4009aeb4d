// Typed events: a plain struct, one registration line, and a registry of upcasters.
//
//   struct OrderPlaced { std::string order_id; std::int64_t total_cents = 0; };
//   WHARF_EVENT(OrderPlaced, "checkout.OrderPlaced", 2, order_id, total_cents);
//   WHARF_UPCAST("checkout.OrderPlaced", 1, [](wharf::json& e) {   // v1 -> v2
//     e["total_cents"] = e["amount"].get<std::int64_t>() * 100; e.erase("amount"); });
//
// WHARF_EVENT works in any namespace: it defines, beside the type, the JSON codec
// (nlohmann-json) and a `wharf_event_info` function found by argument-dependent lookup. A type
// may bring its own codec instead: define `wharf_event_encode(const T&) -> std::string` and
// `wharf_event_decode(std::string_view, T&) -> wharf::Status` beside it, plus
// WHARF_EVENT_INFO(T, name, version, content_type) for the registration.
//
// Decoding checks the message's type name, brings an older JSON payload up to the current
// version through the registered upcasters (one step at a time), and returns a classified
// error, never throws and never aborts: kNotFound for another type, kUnsupported for a version
// newer than the code knows or with no upcaster path, kInvalidArgument for a payload that does
// not parse. Upcasters are registered at static-initialisation time; the registry is
// thread-safe for reads after that and guarded by a mutex for writes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "wharf/message.h"
#include "wharf/result.h"

namespace wharf {

using json = nlohmann::json;

struct EventInfo {
  std::string_view type;
  std::int32_t version = 1;
  std::string_view content_type = "application/json";
};

// An upcaster takes a JSON payload of version `from` to `from + 1`, in place.
using Upcaster = std::function<void(json&)>;

class EventRegistry {
 public:
  EventRegistry();
  ~EventRegistry();
  EventRegistry(const EventRegistry&) = delete;
  EventRegistry& operator=(const EventRegistry&) = delete;
  // The registry WHARF_UPCAST writes to and decode_event reads by default.
  static EventRegistry& global();
  // Registers the step from `from_version` to `from_version + 1` of `type`. Returns true (for
  // static registration); registering the same step twice replaces it.
  bool add_upcaster(std::string type, std::int32_t from_version, Upcaster upcaster);
  // Brings `payload` from `from_version` to `to_version`. kUnsupported when a step is missing
  // or from_version > to_version; kInvalidArgument when an upcaster throws (a payload it
  // could not handle).
  [[nodiscard]] Status upcast(std::string_view type, std::int32_t from_version,
                              std::int32_t to_version, json& payload) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace detail {
template <typename T>
concept HasEventInfo = requires(const T* p) {
  { wharf_event_info(p) } -> std::convertible_to<EventInfo>;
};
template <typename T>
concept HasCustomCodec = requires(const T& v, std::string_view s, T& out) {
  { wharf_event_encode(v) } -> std::convertible_to<std::string>;
  { wharf_event_decode(s, out) } -> std::same_as<Status>;
};
[[nodiscard]] Result<json> parse_payload(const Message& message);
}  // namespace detail

template <typename T>
requires detail::HasEventInfo<T>
constexpr EventInfo event_info() { return wharf_event_info(static_cast<const T*>(nullptr)); }

// A Message carrying `event` with its registered type, version and content type; the caller
// (or publish()) fills key, ids and timestamp.
template <typename T>
requires detail::HasEventInfo<T> Message make_message(const T& event, std::string key = {}) {
  constexpr EventInfo info = event_info<T>();
  Message m;
  m.type = std::string(info.type);
  m.version = info.version;
  m.content_type = std::string(info.content_type);
  m.key = std::move(key);
  if constexpr (detail::HasCustomCodec<T>) {
    m.payload = wharf_event_encode(event);
  } else {
    m.payload = json(event).dump();
  }
  return m;
}

// The event in `message`, upcast to T's current version. See the header comment for errors.
template <typename T>
requires detail::HasEventInfo<T>
[[nodiscard]] Result<T> decode_event(const Message& message,
                                     const EventRegistry& registry = EventRegistry::global()) {
  constexpr EventInfo info = event_info<T>();
  if (message.type != info.type) {
    return fail(ErrorCode::kNotFound, "message {} is of type '{}', not '{}'", message.id,
                message.type, info.type);
  }
  if (message.version > info.version) {
    return fail(ErrorCode::kUnsupported, "{} version {} is newer than this code knows ({})",
                info.type, message.version, info.version);
  }
  T out{};
  if constexpr (detail::HasCustomCodec<T>) {
    if (message.version != info.version) {
      return fail(ErrorCode::kUnsupported, "{} version {}: a custom codec reads only version {}",
                  info.type, message.version, info.version);
    }
    WHARF_RETURN_IF_ERROR(wharf_event_decode(message.payload, out));
    return out;
  } else {
    WHARF_ASSIGN_OR_RETURN(json doc, detail::parse_payload(message));
    if (message.version < info.version) {
      WHARF_RETURN_IF_ERROR(registry.upcast(info.type, message.version, info.version, doc));
    }
    try {
      doc.get_to(out);
    } catch (const std::exception& e) {
      return fail(ErrorCode::kInvalidArgument,
                  "{} version {} of message {} does not fit the type: {}", info.type, info.version,
                  message.id, e.what());
    }
    return out;
  }
}

}  // namespace wharf

#define WHARF_EVENT_INFO(Type, Name, Version, ContentType)                      \
  [[maybe_unused]] constexpr ::wharf::EventInfo wharf_event_info(const Type*) { \
    return ::wharf::EventInfo{Name, Version, ContentType};                      \
  }

// Registers a struct as an event with a JSON codec over the listed fields.
#define WHARF_EVENT(Type, Name, Version, ...)           \
  NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Type, __VA_ARGS__) \
  WHARF_EVENT_INFO(Type, Name, Version, "application/json")

#define WHARF_UPCAST_CONCAT_INNER_(a, b) a##b
#define WHARF_UPCAST_CONCAT_(a, b) WHARF_UPCAST_CONCAT_INNER_(a, b)
// Registers the upcaster of `Name` from version `From` to `From + 1` at static initialisation.
#define WHARF_UPCAST(Name, From, ...)                                                   \
  [[maybe_unused]] static const bool WHARF_UPCAST_CONCAT_(wharf_upcast_, __COUNTER__) = \
      ::wharf::EventRegistry::global().add_upcaster(Name, From, __VA_ARGS__)
