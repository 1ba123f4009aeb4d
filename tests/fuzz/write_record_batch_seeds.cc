// Writes the fuzz seed corpus for fuzz_record_batch: a few valid v2 batches from
// storage::build_batch (one record; several with headers and null keys and values; an
// idempotent batch; a transactional one) and one marked gzip-compressed, each under 1 KiB.
// Deterministic. The corpus also keeps inputs that once crashed (regression_*.bin), added by
// hand from build-fuzz/fuzz-artifacts/; this writer leaves them alone.
// Usage: write_record_batch_seeds <dir>   (normally tests/fuzz/corpus/record_batch)

#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "storage/record_batch.h"

using namespace wharf;

namespace {

storage::Record record(
    std::optional<std::string> key, std::optional<std::string> value, std::int64_t timestamp_ms,
    std::vector<std::pair<std::string, std::optional<std::string>>> headers = {}) {
  storage::Record r;
  if (key) r.key = to_bytes(*key);
  if (value) r.value = to_bytes(*value);
  r.timestamp_ms = timestamp_ms;
  for (auto& [name, v] : headers) {
    r.headers.emplace_back(name, v ? std::optional<Bytes>(to_bytes(*v)) : std::nullopt);
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  constexpr std::int64_t kTime = 1'700'000'000'000;
  std::vector<std::pair<std::string, Bytes>> seeds;

  seeds.emplace_back("one_record", storage::build_batch({record("key", "value", kTime)}));
  seeds.emplace_back(
      "headers_and_nulls",
      storage::build_batch({record("k0", "v0", kTime, {{"trace", "abc"}, {"empty", std::nullopt}}),
                            record(std::nullopt, "no key", kTime + 5),
                            record("tombstone", std::nullopt, kTime + 3),
                            record("", "", kTime + 1000, {{"a", "1"}, {"b", "2"}, {"c", "3"}})}));
  storage::BatchOptions idempotent;
  idempotent.producer_id = ProducerId(4242);
  idempotent.producer_epoch = ProducerEpoch(3);
  idempotent.base_sequence = 17;
  idempotent.partition_leader_epoch = 0;
  std::vector<storage::Record> many;
  for (int i = 0; i < 12; ++i)
    many.push_back(record("key-" + std::to_string(i % 3), std::string(i * 4, 'x'), kTime + i));
  seeds.emplace_back("idempotent", storage::build_batch(many, idempotent));
  storage::BatchOptions transactional = idempotent;
  transactional.transactional = true;
  seeds.emplace_back("transactional",
                     storage::build_batch({record("k", "v", kTime)}, transactional));
  // Marked gzip (attribute bits 0-2 = 1) with the CRC recomputed: validates without being
  // decompressed; read_records refuses it.
  Bytes gzip = storage::build_batch({record("k", "v", kTime), record("k", "w", kTime)});
  store_be<std::int16_t>(gzip, storage::batch_layout::kAttributes, 1);
  store_be<std::uint32_t>(gzip, storage::batch_layout::kCrc, storage::compute_crc(gzip));
  seeds.emplace_back("marked_gzip", gzip);

  bool failed = false;
  for (const auto& [name, batch] : seeds) {
    auto valid = storage::validate_batch(batch, {});
    if (!valid || batch.size() >= 1024) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(),
                   valid ? "1 KiB or larger" : valid.error().to_string().c_str());
      failed = true;
      continue;
    }
    std::ofstream out(dir + "/" + name + ".bin", std::ios::binary);
    out.write(reinterpret_cast<const char*>(batch.data()),
              static_cast<std::streamsize>(batch.size()));
    failed = failed || !out.good();
  }
  std::printf("wrote %zu seeds to %s\n", seeds.size(), dir.c_str());
  return failed ? 1 : 0;
}
