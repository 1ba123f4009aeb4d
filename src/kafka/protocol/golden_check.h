// Test support: checks a message against hand-built golden bytes in both directions (encode
// gives exactly the bytes; decoding the bytes gives back the message). Returns "" on success
// or what differed, so that it works in any test framework. Test-only; no threads; no
// durability.
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "base/bytes.h"
#include "kafka/protocol/reader.h"
#include "kafka/protocol/wire_builder.h"
#include "kafka/protocol/writer.h"

namespace wharf::kafka::protocol::testing {

template <typename Message>
std::string golden_mismatch(const Message& message, std::int16_t version, const Bytes& golden) {
  std::string out;
  auto encoded = encode_message(message, version);
  if (!encoded) {
    out += fmt::format("encode failed: {}\n", encoded.error().to_string());
  } else if (*encoded != golden) {
    out += fmt::format("encode differs:\n  got      {}\n  expected {}\n", to_hex(*encoded),
                       to_hex(golden));
  }
  auto decoded = decode_message<Message>(golden, version);
  if (!decoded) {
    out += fmt::format("decode failed: {}\n", decoded.error().to_string());
  } else if (!(*decoded == message)) {
    auto again = encode_message(*decoded, version);
    out += fmt::format("decode differs (re-encoded: {})\n", again ? to_hex(*again) : "error");
  }
  if (!out.empty()) out = fmt::format("{} v{}: {}", Message::kName, version, out);
  return out;
}

}  // namespace wharf::kafka::protocol::testing
