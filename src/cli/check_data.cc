// `wharf check-data`: offline verification of a data directory (storage/check.h does the work).
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "io/posix_file_system.h"
#include "storage/check.h"

namespace wharf::cli {

void register_check_data(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "check-data",
      "Verify every batch CRC and offset chain, index, time index, producer snapshot and topic "
      "metadata in a data directory. Read-only. Exits 1 if any problem is found.");
  static std::string data_dir;
  static bool quiet = false;
  cmd->add_option("--data-dir", data_dir, "The broker's data directory")->required();
  cmd->add_flag("-q,--quiet", quiet, "Print only problems and the summary");
  cmd->callback([&exit_code] {
    io::PosixFileSystem fs;
    auto report = storage::check_data_dir(fs, data_dir, [](const std::string& dir) {
      if (!quiet) std::fprintf(stderr, "checking %s\n", dir.c_str());
    });
    if (!report) {
      std::fprintf(stderr, "wharf check-data: %s\n", report.error().to_string().c_str());
      exit_code = 1;
      return;
    }
    for (const auto& p : report->problems) {
      std::printf("PROBLEM %s position %llu: %s\n", p.file.c_str(),
                  static_cast<unsigned long long>(p.position), p.what.c_str());
    }
    std::printf(
        "%lld topics, %lld partitions, %lld segments, %lld batches, %llu log bytes: %zu "
        "problem(s)\n",
        static_cast<long long>(report->topics), static_cast<long long>(report->partitions),
        static_cast<long long>(report->segments), static_cast<long long>(report->batches),
        static_cast<unsigned long long>(report->log_bytes), report->problems.size());
    exit_code = report->problems.empty() ? 0 : 1;
  });
}

}  // namespace wharf::cli
