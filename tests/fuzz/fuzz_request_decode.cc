// libFuzzer target: arbitrary bytes as a request frame body (what follows the int32 size).
// Decodes the request header, then the body of whichever generated API and version the header
// names (so every API/version is reachable), and the same bytes as that API's response. Any
// crash, sanitizer report, or huge allocation is a bug: client bytes must only ever produce an
// error. A successful decode must also survive a round trip: encode, decode again, compare.
//
// Build: see tests/fuzz/CMakeLists.txt. Seeds: tests/fuzz/corpus/request_decode/.

#include <cstddef>
#include <cstdint>

#include "base/check.h"
#include "kafka/protocol/generated/messages.h"
#include "kafka/protocol/header.h"
#include "kafka/protocol/reader.h"
#include "kafka/protocol/writer.h"

namespace {

using namespace wharf::kafka::protocol;

// Small limits: a fuzz input is at most a few KB, and this keeps out-of-memory reports real.
constexpr ReaderLimits kLimits{.array_elements_max = 4096, .elements_total_max = 65536};

template <typename Message>
void decode_and_round_trip(wharf::ByteView body, std::int16_t version) {
  auto decoded = decode_message<Message>(body, version, kLimits);
  if (!decoded) return;
  auto encoded = encode_message(*decoded, version);
  WHARF_CHECK(encoded.has_value(), "{} v{} decoded but does not encode: {}", Message::kName,
              version, encoded.error().to_string());
  auto again = decode_message<Message>(*encoded, version, kLimits);
  WHARF_CHECK(again.has_value(), "{} v{} re-decode failed: {}", Message::kName, version,
              again.error().to_string());
  WHARF_CHECK(*again == *decoded, "{} v{} changed in a round trip", Message::kName, version);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wharf::ByteView frame(reinterpret_cast<const std::byte*>(data), size);
  Reader reader(frame, kLimits);
  auto header = decode_request_header(reader);
  if (!header) return 0;
  auto body = frame.subspan(reader.position());
  const std::int16_t version = header->request_api_version;
  for_each_api([&](auto api) {
    using Api = decltype(api);
    if (Api::Request::kApiKey != header->request_api_key) return;
    decode_and_round_trip<typename Api::Request>(body, version);
    decode_and_round_trip<typename Api::Response>(body, version);
  });
  return 0;
}
