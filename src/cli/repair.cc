// `wharf repair`: cut a refused partition's log at a named position (storage/repair.h does the
// work), after showing what will be cut and asking for confirmation. The broker must be stopped.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "io/posix_file_system.h"
#include "storage/repair.h"

namespace wharf::cli {

void register_repair(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "repair",
      "Cut a partition's log at POSITION of FILE (the damaged batch a refused start or check-data "
      "named), keeping the cut bytes and any later segments in DATA_DIR/repair/. Asks for "
      "confirmation unless --yes. Stop the broker first.");
  static std::string data_dir;
  static std::string file;
  static std::uint64_t position = 0;
  static bool yes = false;
  cmd->add_option("--data-dir", data_dir, "The broker's data directory")->required();
  cmd->add_option("--file", file, "The segment's .log file, as the error named it")->required();
  cmd->add_option("--position", position, "Byte position to cut at (a batch boundary)")->required();
  cmd->add_flag("-y,--yes", yes, "Do not ask for confirmation");
  cmd->callback([&exit_code] {
    io::PosixFileSystem fs;
    // "./data" and "data/topics/..." name the same place: compare normalised absolute paths.
    auto normal = [](const std::string& p) {
      auto n = std::filesystem::absolute(p).lexically_normal().string();
      while (n.size() > 1 && n.back() == '/') n.pop_back();
      return n;
    };
    auto plan = storage::plan_repair(fs, normal(data_dir), normal(file), position);
    if (!plan) {
      std::fprintf(stderr, "wharf repair: %s\n", plan.error().message().c_str());
      exit_code = 1;
      return;
    }
    std::printf(
        "will cut %s at position %llu: %lld intact batch(es) before it stay, %llu byte(s) from it "
        "on are\n"
        "moved to %s; the partition's log will end at offset %lld\n",
        plan->log_path.c_str(), static_cast<unsigned long long>(plan->position),
        static_cast<long long>(plan->batches_kept),
        static_cast<unsigned long long>(plan->cut_bytes), plan->side_dir.c_str(),
        static_cast<long long>(plan->log_end_after.value()));
    if (!plan->later_files.empty()) {
      std::printf("and %zu later file(s) (%llu bytes) are moved there whole\n",
                  plan->later_files.size(), static_cast<unsigned long long>(plan->later_bytes));
    }
    if (!yes) {
      std::printf("type 'yes' to go on: ");
      std::fflush(stdout);
      std::string answer;
      if (!std::getline(std::cin, answer) || answer != "yes") {
        std::printf("nothing changed\n");
        exit_code = 1;
        return;
      }
    }
    auto done = storage::apply_repair(fs, *plan);
    if (!done) {
      std::fprintf(stderr, "wharf repair: %s\n", done.error().to_string().c_str());
      exit_code = 1;
      return;
    }
    std::printf("done; the next start rebuilds the indexes with a full recovery\n");
    exit_code = 0;
  });
}

}  // namespace wharf::cli
