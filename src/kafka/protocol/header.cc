#include "kafka/protocol/header.h"

namespace wharf::kafka::protocol {

Result<RequestHeader> decode_request_header(Reader& r) {
  // Peek at api_key and api_version (the first four bytes of every header version >= 1), then
  // decode the whole header from the start in the version they select.
  Reader peek = r;
  std::int16_t api_key = 0;
  std::int16_t api_version = 0;
  WHARF_RETURN_IF_ERROR(peek.read(api_key));
  WHARF_RETURN_IF_ERROR(peek.read(api_version));
  auto header_version = request_header_version(api_key, api_version);
  if (!header_version) {
    return fail(ErrorCode::kUnsupported, "request for unknown api key {} version {}", api_key,
                api_version);
  }
  RequestHeader header;
  WHARF_RETURN_IF_ERROR(header.decode(r, *header_version));
  return header;
}

void encode_request_header(Writer& w, const RequestHeader& header) {
  auto header_version = request_header_version(header.request_api_key, header.request_api_version);
  if (!header_version) {
    w.set_error(make_error(ErrorCode::kUnsupported, "request header for unknown api key {} v{}",
                           header.request_api_key, header.request_api_version));
    return;
  }
  header.encode(w, *header_version);
}

Result<ResponseHeader> decode_response_header(Reader& r, std::int16_t api_key,
                                              std::int16_t api_version) {
  auto header_version = response_header_version(api_key, api_version);
  if (!header_version) {
    return fail(ErrorCode::kUnsupported, "response for unknown api key {} version {}", api_key,
                api_version);
  }
  ResponseHeader header;
  WHARF_RETURN_IF_ERROR(header.decode(r, *header_version));
  return header;
}

void encode_response_header(Writer& w, std::int16_t api_key, std::int16_t api_version,
                            std::int32_t correlation_id) {
  auto header_version = response_header_version(api_key, api_version);
  if (!header_version) {
    w.set_error(make_error(ErrorCode::kUnsupported, "response header for unknown api key {} v{}",
                           api_key, api_version));
    return;
  }
  ResponseHeader header;
  header.correlation_id = correlation_id;
  header.encode(w, *header_version);
}

}  // namespace wharf::kafka::protocol
