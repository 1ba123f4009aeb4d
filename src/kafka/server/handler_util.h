// Small helpers shared by the handle_*.cc files: decode a request body (malformed → close the
// connection, as Kafka does), encode a response body (unencodable → close the connection).
// Network thread only. Client strings quoted in error messages go through `excerpt`
// (base/text.h), so that a response stays encodable whatever the client sent.
#pragma once

#include <optional>

#include "base/log.h"
#include "base/text.h"
#include "kafka/protocol/reader.h"
#include "kafka/protocol/writer.h"
#include "kafka/server/handler_context.h"
#include "kafka/server/handlers.h"

namespace wharf::kafka {

template <typename Request>
std::optional<Request> decode_body(const RequestContext& ctx, protocol::Reader& body) {
  Request req;
  auto status = req.decode(body, ctx.version());
  if (status && body.remaining() != 0) {
    // Kafka reads what the version defines and ignores the rest, and real clients rely on it:
    // librdkafka 2.0.2 sends three stray bytes after some OffsetFetch v7 requests.
    WHARF_LOG_DEBUG("ignoring {} bytes after a {} v{} from client '{}'", body.remaining(),
                    Request::kName, ctx.version(), excerpt(ctx.header.client_id.value_or("")));
  }
  if (!status) {
    WHARF_LOG_WARN("closing: malformed {} v{} from client '{}': {}", Request::kName, ctx.version(),
                   excerpt(ctx.header.client_id.value_or("")), status.error().message());
    return std::nullopt;
  }
  return req;
}

template <typename Response>
HandlerResult respond(const Response& response, std::int16_t version) {
  Bytes out;
  protocol::Writer w(out);
  response.encode(w, version);
  if (!w.status()) {
    // A response can hold strings the client sent (names echoed back); if one has no wire form
    // in this version, this request fails alone: its connection is closed, as for a malformed
    // request. Never a check: client input must not be able to stop the broker.
    WHARF_LOG_WARN("closing: the {} v{} response cannot be encoded: {}", Response::kName, version,
                   w.status().error().to_string());
    return HandlerResult{std::nullopt, true};
  }
  return HandlerResult{std::move(out), false};
}

// The same, without copying large byte strings (a Fetch response's record sets) into the body:
// they are written from the response's own memory, which the result keeps alive.
template <typename Response>
HandlerResult respond_gathered(std::shared_ptr<const Response> response, std::int16_t version) {
  // Smaller values are copied: a gathered write of many tiny pieces costs more than the copy.
  constexpr std::size_t kGatherMinBytes = 4096;
  HandlerResult out{Bytes(), false, {}, response};
  protocol::Writer w(*out.body);
  w.gather(&out.externals, kGatherMinBytes);
  response->encode(w, version);
  if (!w.status()) {
    WHARF_LOG_WARN("closing: the {} v{} response cannot be encoded: {}", Response::kName, version,
                   w.status().error().to_string());
    return HandlerResult{std::nullopt, true};
  }
  return out;
}

inline HandlerResult close_connection() { return HandlerResult{std::nullopt, true}; }

}  // namespace wharf::kafka
