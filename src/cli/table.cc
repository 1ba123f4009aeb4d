#include "cli/table.h"

#include <algorithm>

#include "base/check.h"

namespace wharf::cli {

void Table::add(std::vector<std::string> row) {
  WHARF_CHECK(row.size() == rows_[0].size());
  rows_.push_back(std::move(row));
}

void Table::print(std::FILE* out) const {
  std::vector<std::size_t> width(rows_[0].size(), 0);
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string line;
  for (const auto& row : rows_) {
    line.clear();
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 2, ' ');
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), out);
  }
}

}  // namespace wharf::cli
