// Lines of a producer command's input (`wharf produce`, `wharf local produce`), bounded: a line
// longer than the bound is reported as soon as it passes the bound and its rest skipped, so memory
// stays within the bound and an endless line (/dev/zero) is reported at once instead of read for
// ever. Reads the descriptor directly, so an interactive line is handed on as soon as it is typed.
// Bytes are kept as they are (NUL and '\r' included); only the '\n' is dropped. Not thread-safe;
// one reader per descriptor.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace wharf::cli {

// No record can be larger than the broker's largest batch (kBatchBytesHardMax, 64 MiB).
inline constexpr std::size_t kInputLineBytesMax = 64u << 20;

class LineReader {
 public:
  enum class Next { kLine, kTooLong, kEnd, kError };

  // `stop`, if given, is checked before every read: once true, next() returns kError with errno
  // EINTR (a signal handler sets it; skipping an endless line would otherwise never return).
  explicit LineReader(int fd, std::size_t line_bytes_max = kInputLineBytesMax,
                      const std::atomic<bool>* stop = nullptr);

  // kLine: line() is the next line. kTooLong: the next line has more than line_bytes_max bytes;
  // line() is empty, and the next call first skips the rest of that line. kEnd: no more input (a
  // last line without '\n' is returned as a line first). kError: the read failed or `stop` was
  // set; errno says why (EINTR when a signal arrived). After kError the reader is not reusable.
  Next next();
  std::string_view line() const { return {line_.data(), line_.size()}; }
  // The number of the line next() just returned, from 1.
  std::int64_t number() const { return number_; }

 private:
  // Fills the buffer if it is empty. False at the end of input (ended_ set) or on an error.
  bool fill(bool& error);

  int fd_;
  std::size_t line_bytes_max_;
  const std::atomic<bool>* stop_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;  // unread bytes are buffer_[begin_, end_)
  std::size_t end_ = 0;
  std::vector<char> line_;  // grown by hand, never past line_bytes_max_
  std::int64_t number_ = 0;
  bool ended_ = false;
  bool skipping_ = false;  // the rest of a too-long line is still to be skipped
};

}  // namespace wharf::cli
