// Small helpers for tests that drive a FileSystem with text: whole-file writes and reads as
// strings, with a failed read turned into visible text so that EXPECT_EQ prints the error. Test
// code only; header-only, no GoogleTest. No durability beyond what the caller syncs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "io/file_system.h"

namespace wharf::io {

// Replaces the contents of `path` with `text` (kTruncate + append). Syncs nothing.
[[nodiscard]] inline Status write_text(FileSystem& fs, const std::string& path,
                                       std::string_view text) {
  WHARF_ASSIGN_OR_RETURN(auto file, fs.open(path, OpenMode::kTruncate));
  return file->append(as_bytes(text));
}

// The contents of `path`, or "<error: ...>" if it cannot be read.
inline std::string read_text(FileSystem& fs, const std::string& path) {
  auto contents = read_file(fs, path, std::size_t{64} << 20);
  if (!contents) return "<error: " + contents.error().to_string() + ">";
  return std::string(as_chars(*contents));
}

// The error code of a failed result, nullopt if it succeeded: EXPECT_EQ(error_code_of(r), kNoSpace)
// without dereferencing a success.
template <typename T>
std::optional<ErrorCode> error_code_of(const Result<T>& result) {
  if (result) return std::nullopt;
  return result.error().code();
}

}  // namespace wharf::io
