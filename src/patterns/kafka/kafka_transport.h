// The kafka transport's constructor, for the embedded transport (which is the same client
// pointed at an in-process broker). Users open it with Bus::open(wharf::KafkaOptions{...}).
#pragma once

#include <memory>
#include <string_view>

#include "wharf/result.h"
#include "wharf/transport.h"

namespace wharf {

// `name` is what Transport::name() reports ("kafka" or "embedded").
[[nodiscard]] Result<std::shared_ptr<Transport>> make_kafka_transport(const KafkaOptions& options,
                                                                      std::string_view name);

}  // namespace wharf
