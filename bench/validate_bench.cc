// What checking a batch on produce costs (issue 9): storage::validate_batch on one batch,
// uncompressed and with each codec, each call timed alone for about a second: the median and
// the fastest (which other work on a shared machine can only slow down). Three shapes: 1,000
// records of ~1 KiB of JSON-like text, ~9,500 of 100 B in ~1 MiB (where the per-record walk
// outweighs the CRC) and 595 of 100 B in 64 KiB. Compressed batches are decompressed and every
// record walked, so this is the added CPU per produced batch. Prints a Markdown table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "storage/record_batch.h"
#include "tests/support/compressed_batch.h"

using namespace wharf;

namespace {

// `count` records whose values are JSON-like text of about `value_bytes` bytes.
std::vector<storage::Record> make_records(std::size_t count, std::size_t value_bytes) {
  std::vector<storage::Record> records(count);
  for (std::size_t i = 0; i < records.size(); ++i) {
    std::string value = "{\"order_id\":" + std::to_string(100000 + i) + ",\"customer\":\"c-" +
                        std::to_string(i % 97) + "\",\"items\":[";
    while (value.size() < value_bytes)
      value += "{\"sku\":\"SKU-" + std::to_string((i * 7 + value.size()) % 9973) + "\",\"qty\":2},";
    value += "{}]}";
    records[i].key = to_bytes("order-" + std::to_string(i));
    records[i].value = to_bytes(value);
    records[i].timestamp_ms = 1'700'000'000'000 + static_cast<std::int64_t>(i);
  }
  return records;
}

}  // namespace

int main() {
  storage::ValidationLimits limits;
  limits.batch_bytes_max = 64 << 20;
  std::printf(
      "| records | codec | batch bytes | validate µs per batch, median | fastest | MB/s of "
      "records (median) |\n"
      "|---|---|---|---|---|---|\n");
  const std::pair<const char*, storage::Compression> codecs[] = {
      {"none", storage::Compression::kNone},
      {"gzip", storage::Compression::kGzip},
      {"snappy", storage::Compression::kSnappy},
      {"lz4", storage::Compression::kLz4},
      {"zstd", storage::Compression::kZstd}};
  const std::tuple<const char*, std::size_t, std::size_t> shapes[] = {
      {"1,000 × ~1 KiB", 1000, 1000}, {"9,500 × ~100 B", 9500, 80}, {"595 × ~100 B", 595, 80}};
  for (const auto& [shape, count, value_bytes] : shapes) {
    const Bytes plain = storage::build_batch(make_records(count, value_bytes));
    for (const auto& [name, codec] : codecs) {
      const Bytes batch =
          codec == storage::Compression::kNone ? plain : test::compress_batch(plain, codec);
      // Each call timed alone for a second: the median, and the fastest, which other work on a
      // shared machine can only slow down.
      std::vector<double> us;
      const auto start = std::chrono::steady_clock::now();
      while (std::chrono::steady_clock::now() - start < std::chrono::seconds(1)) {
        const auto t0 = std::chrono::steady_clock::now();
        auto h = storage::validate_batch(batch, limits);
        const auto t1 = std::chrono::steady_clock::now();
        if (!h) {
          std::fprintf(stderr, "%s: %s\n", name, h.error().to_string().c_str());
          return 1;
        }
        us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
      std::sort(us.begin(), us.end());
      const double median = us[us.size() / 2];
      std::printf("| %s | %s | %zu | %.1f | %.1f | %.0f |\n", shape, name, batch.size(), median,
                  us.front(), static_cast<double>(plain.size()) / median);
    }
  }
  return 0;
}
