// A plain-text table for the client commands' output: left-aligned columns separated by two
// spaces, a header row in capitals, no borders, so it stays readable and easy to cut or awk.
// Pure code; any thread; a Table is a value.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace wharf::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  // REQUIRES: as many cells as the header has columns.
  void add(std::vector<std::string> row);
  // Prints every row; the last column is not padded.
  void print(std::FILE* out) const;
  std::size_t rows() const { return rows_.size() - 1; }

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] is the header
};

// Text safe for a table cell or a terminal line: printable ASCII and well-formed UTF-8 as they
// are, control bytes and invalid UTF-8 as \xNN, cut after `max` bytes (then "…").
std::string cell_text(std::string_view s, std::size_t max);
// Milliseconds since the epoch as 2026-11-30T09:48:01Z (UTC, whole seconds).
std::string utc_time_text(std::int64_t ms);

}  // namespace wharf::cli
