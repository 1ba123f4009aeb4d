// Placeholder until the command lands: registers nothing.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace wharf::cli {
void register_bench(CLI::App&, int&) {}
}  // namespace wharf::cli
