// Request and response headers: the few fields in front of every Kafka request and response
// body, whose layout depends on the API and version they belong to (kafka-protocol.md §1.7):
//
//   request header v1 = api_key int16, api_version int16, correlation_id int32,
//                       client_id nullable int16-length string (never compact, even in v2)
//   request header v2 = v1 + a tagged-field section (flexible versions)
//   response header v0 = correlation_id int32; v1 = v0 + a tagged-field section
//
// The ApiVersions response always uses header v0. Versions come from the generated api table,
// so an API becomes usable here as soon as it is generated. Stateless functions; any thread;
// no durability.
#pragma once

#include <cstdint>

#include "base/result.h"
#include "kafka/protocol/generated/api_table.h"
#include "kafka/protocol/generated/message_headers.h"
#include "kafka/protocol/reader.h"
#include "kafka/protocol/writer.h"

namespace wharf::kafka::protocol {

// Reads the request header at `r`'s position (just after the frame's int32 size), choosing its
// version from its own api_key and api_version. Fails with kUnsupported for an api_key the
// codec does not know (Kafka closes such connections) and kInvalidArgument for malformed
// bytes. An api_version above the generated range is not an error here: the header of a
// too-new ApiVersions request must still be read so that the broker can answer it.
[[nodiscard]] Result<RequestHeader> decode_request_header(Reader& r);

// Writes `header` in the version its api_key and api_version call for; an unknown api_key
// puts `w` into its error state.
void encode_request_header(Writer& w, const RequestHeader& header);

// Reads a response header for a request of (api_key, api_version).
[[nodiscard]] Result<ResponseHeader> decode_response_header(Reader& r, std::int16_t api_key,
                                                            std::int16_t api_version);

// Writes the response header for a request of (api_key, api_version).
void encode_response_header(Writer& w, std::int16_t api_key, std::int16_t api_version,
                            std::int32_t correlation_id);

}  // namespace wharf::kafka::protocol
