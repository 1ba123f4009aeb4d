// Lines of a producer command's input (`wharf produce`, `wharf local produce`), bounded: a line
// longer than the bound is skipped to its newline and reported, so memory stays within the bound
// whatever the input (a binary file without newlines, /dev/zero). Reads the descriptor directly,
// so an interactive line is handed on as soon as it is typed. Bytes are kept as they are (NUL
// and '\r' included); only the '\n' is dropped. Not thread-safe; one reader per descriptor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wharf::cli {

// No record can be larger than the broker's largest batch (kBatchBytesHardMax, 64 MiB).
inline constexpr std::size_t kInputLineBytesMax = 64u << 20;

class LineReader {
 public:
  enum class Next { kLine, kTooLong, kEnd, kError };

  explicit LineReader(int fd, std::size_t line_bytes_max = kInputLineBytesMax);

  // kLine: line() is the next line. kTooLong: the next line had more than line_bytes_max bytes;
  // it was read to its end and dropped (line() is empty). kEnd: no more input (a last line
  // without '\n' is returned as a line first). kError: the read failed, errno says why (EINTR
  // when a signal arrived).
  Next next();
  std::string_view line() const { return line_; }
  // The number of the line next() just returned, from 1.
  std::int64_t number() const { return number_; }

 private:
  int fd_;
  std::size_t line_bytes_max_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;  // unread bytes are buffer_[begin_, end_)
  std::size_t end_ = 0;
  std::string line_;
  std::int64_t number_ = 0;
  bool ended_ = false;
};

}  // namespace wharf::cli
