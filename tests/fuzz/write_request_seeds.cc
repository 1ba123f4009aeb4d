// Writes the fuzz seed corpus for fuzz_request_decode: one valid request frame body (header +
// body, without the int32 size) per generated API at its lowest, first flexible (if generated)
// and highest version, filled by the generated fill_sample. Deterministic.
// Usage: write_request_seeds <dir>   (normally tests/fuzz/corpus/request_decode)

#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include "kafka/protocol/generated/messages.h"
#include "kafka/protocol/generated/test_samples.h"
#include "kafka/protocol/header.h"
#include "kafka/protocol/writer.h"

using namespace wharf::kafka::protocol;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  int written = 0;
  bool failed = false;
  for_each_api([&](auto api) {
    using Req = typename decltype(api)::Request;
    std::set<std::int16_t> versions{Req::kMinVersion, Req::kMaxVersion};
    if (Req::kFirstFlexibleVersion != kNeverFlexible &&
        Req::kFirstFlexibleVersion <= Req::kMaxVersion) {
      versions.insert(Req::kFirstFlexibleVersion);
    }
    for (std::int16_t v : versions) {
      testing::SampleSource source(static_cast<std::uint64_t>(Req::kApiKey) * 100 + v);
      Req request;
      fill_sample(request, v, source);
      wharf::Bytes frame;
      Writer w(frame);
      RequestHeader header;
      header.request_api_key = Req::kApiKey;
      header.request_api_version = v;
      header.correlation_id = 1;
      header.client_id = "seed";
      encode_request_header(w, header);
      request.encode(w, v);
      if (!w.status()) {
        std::fprintf(stderr, "%s v%d: %s\n", std::string(Req::kName).c_str(), v,
                     w.status().error().to_string().c_str());
        failed = true;
        continue;
      }
      std::string path = dir + "/" + std::string(Req::kName) + "_v" + std::to_string(v) + ".bin";
      std::ofstream out(path, std::ios::binary);
      out.write(reinterpret_cast<const char*>(frame.data()),
                static_cast<std::streamsize>(frame.size()));
      failed = failed || !out.good();
      ++written;
    }
  });
  std::printf("wrote %d seeds to %s\n", written, dir.c_str());
  return failed ? 1 : 0;
}
