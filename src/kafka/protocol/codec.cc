#include "kafka/protocol/codec.h"

namespace wharf::kafka::protocol::detail {

Error unsupported_version(std::string_view message, std::int16_t version) {
  return make_error(ErrorCode::kUnsupported, "{} version {} is not supported", message, version);
}

}  // namespace wharf::kafka::protocol::detail
