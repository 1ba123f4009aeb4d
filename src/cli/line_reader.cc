#include "cli/line_reader.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace wharf::cli {

namespace {
constexpr std::size_t kReadBytes = 64 * 1024;
}

LineReader::LineReader(int fd, std::size_t line_bytes_max)
    : fd_(fd), line_bytes_max_(line_bytes_max), buffer_(kReadBytes) {}

LineReader::Next LineReader::next() {
  line_.clear();
  if (ended_) return Next::kEnd;
  bool started = false;  // some byte (or the newline) of this line was seen
  bool too_long = false;
  while (true) {
    if (begin_ == end_) {
      const ssize_t n = ::read(fd_, buffer_.data(), buffer_.size());
      if (n < 0) return Next::kError;
      if (n == 0) {
        ended_ = true;
        if (!started) return Next::kEnd;
        ++number_;
        return too_long ? Next::kTooLong : Next::kLine;
      }
      begin_ = 0;
      end_ = static_cast<std::size_t>(n);
    }
    started = true;
    const char* from = buffer_.data() + begin_;
    const auto* newline = static_cast<const char*>(std::memchr(from, '\n', end_ - begin_));
    const std::size_t take =
        newline != nullptr ? static_cast<std::size_t>(newline - from) : end_ - begin_;
    if (!too_long) {
      if (take > line_bytes_max_ - line_.size()) {
        too_long = true;
        line_.clear();
        line_.shrink_to_fit();
      } else {
        line_.append(from, take);
      }
    }
    begin_ += take;
    if (newline != nullptr) {
      ++begin_;
      ++number_;
      return too_long ? Next::kTooLong : Next::kLine;
    }
  }
}

}  // namespace wharf::cli
