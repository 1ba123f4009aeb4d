// `wharf dump-segment`: prints the contents of one storage file, by its extension.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "io/posix_file_system.h"
#include "storage/index.h"
#include "storage/limits.h"
#include "storage/producer_state.h"
#include "storage/record_batch.h"

namespace wharf::cli {
namespace {

int dump_log(io::File& file, bool records) {
  auto size = file.size();
  if (!size)
    return std::fprintf(stderr, "wharf dump-segment: %s\n", size.error().to_string().c_str()), 1;
  std::uint64_t pos = 0;
  Bytes batch;
  int bad = 0;
  while (pos < *size) {
    std::array<std::byte, storage::batch_layout::kHeaderBytes> raw;
    if (*size - pos < raw.size() || !io::read_exact(file, FilePosition(pos), raw)) {
      std::printf("position %llu: %llu trailing bytes (torn tail)\n",
                  static_cast<unsigned long long>(pos),
                  static_cast<unsigned long long>(*size - pos));
      return 1;
    }
    auto h = storage::parse_header(raw);
    if (!h || h->total_bytes() > storage::kBatchBytesHardMax || pos + h->total_bytes() > *size) {
      std::printf("position %llu: unreadable batch header%s%s\n",
                  static_cast<unsigned long long>(pos), h ? "" : ": ",
                  h ? "" : h.error().message().c_str());
      return 1;
    }
    batch.resize(h->total_bytes());
    if (!io::read_exact(file, FilePosition(pos), batch)) return 1;
    const bool crc_ok = storage::check_batch_crc(batch).has_value();
    bad += crc_ok ? 0 : 1;
    std::printf(
        "position %llu: offsets %lld..%lld count %d size %zu compression %d "
        "timestamps %lld..%lld%s producer %lld epoch %d sequence %d crc %s\n",
        static_cast<unsigned long long>(pos), static_cast<long long>(h->base_offset.value()),
        static_cast<long long>(h->last_offset().value()), h->record_count, h->total_bytes(),
        static_cast<int>(h->compression()), static_cast<long long>(h->base_timestamp),
        static_cast<long long>(h->max_timestamp),
        (h->attributes & storage::batch_attributes::kLogAppendTime) ? " (log append time)" : "",
        static_cast<long long>(h->producer_id.value()), h->producer_epoch.value(), h->base_sequence,
        crc_ok ? "ok" : "MISMATCH");
    if (records && h->compression() == storage::Compression::kNone) {
      auto rs = storage::read_records(batch);
      if (rs) {
        for (const auto& r : *rs) {
          std::printf("  offset %lld timestamp %lld key %s value %s\n",
                      static_cast<long long>(r.offset.value()),
                      static_cast<long long>(r.timestamp_ms),
                      r.key ? std::string(as_chars(*r.key)).c_str() : "(null)",
                      r.value ? std::string(as_chars(*r.value)).c_str() : "(null)");
        }
      }
    }
    pos += h->total_bytes();
  }
  return bad ? 1 : 0;
}

}  // namespace

void register_dump_segment(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "dump-segment",
      "Print a storage file: batch headers of a .log (with --records, uncompressed records too), "
      "entries of a .index or .timeindex, producers of a .snapshot.");
  static std::string path;
  static bool records = false;
  cmd->add_option("file", path, "A .log, .index, .timeindex or .snapshot file")->required();
  cmd->add_flag("--records", records, "Also print each record of uncompressed batches");
  cmd->callback([&exit_code] {
    io::PosixFileSystem fs;
    auto file = fs.open(path, io::OpenMode::kReadOnly);
    if (!file) {
      std::fprintf(stderr, "wharf dump-segment: %s\n", file.error().to_string().c_str());
      exit_code = 1;
      return;
    }
    if (path.ends_with(".log")) {
      exit_code = dump_log(**file, records);
    } else if (path.ends_with(".index") || path.ends_with(".timeindex")) {
      const bool time = path.ends_with(".timeindex");
      storage::OffsetIndex oi;
      storage::TimeIndex ti;
      auto loaded = time ? ti.load(**file, storage::index_entries_max())
                         : oi.load(**file, storage::index_entries_max());
      if (!loaded) {
        std::fprintf(stderr, "wharf dump-segment: %s\n", loaded.error().to_string().c_str());
        exit_code = 1;
        return;
      }
      if (time) {
        for (const auto& e : ti.entries())
          std::printf("timestamp %lld relative offset %u\n", static_cast<long long>(e.timestamp_ms),
                      e.relative_offset);
      } else {
        for (const auto& e : oi.entries())
          std::printf("relative offset %u position %u\n", e.relative_offset, e.position);
      }
    } else if (path.ends_with(".snapshot")) {
      auto bytes = io::read_file(fs, path, storage::ProducerStateTable::kSnapshotBytesMax);
      auto snap = bytes
                      ? storage::ProducerStateTable::decode_snapshot(*bytes)
                      : Result<std::pair<Offset, storage::ProducerStateTable>>(fail(bytes.error()));
      if (!snap) {
        std::fprintf(stderr, "wharf dump-segment: %s\n", snap.error().to_string().c_str());
        exit_code = 1;
        return;
      }
      std::printf("producer state as of offset %lld: %zu producer(s)\n",
                  static_cast<long long>(snap->first.value()), snap->second.size());
      for (const auto& [id, e] : snap->second.producers()) {
        std::printf("producer %lld epoch %d last timestamp %lld\n",
                    static_cast<long long>(id.value()), e.epoch.value(),
                    static_cast<long long>(e.last_timestamp_ms));
        for (const auto& b : e.batches) {
          std::printf("  sequences %d..%d offsets %lld..%lld\n", b.first_sequence, b.last_sequence,
                      static_cast<long long>(b.first_offset.value()),
                      static_cast<long long>(b.last_offset.value()));
        }
      }
    } else {
      std::fprintf(stderr,
                   "wharf dump-segment: %s: unknown file type (want .log, .index, .timeindex or "
                   ".snapshot)\n",
                   path.c_str());
      exit_code = 1;
    }
  });
}

}  // namespace wharf::cli
