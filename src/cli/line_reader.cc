#include "cli/line_reader.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace wharf::cli {

namespace {
constexpr std::size_t kReadBytes = 64 * 1024;
}

LineReader::LineReader(int fd, std::size_t line_bytes_max, const std::atomic<bool>* stop)
    : fd_(fd), line_bytes_max_(line_bytes_max), stop_(stop), buffer_(kReadBytes) {}

bool LineReader::fill(bool& error) {
  if (begin_ != end_) return true;
  if (stop_ != nullptr && stop_->load()) {
    errno = EINTR;
    error = true;
    return false;
  }
  const ssize_t n = ::read(fd_, buffer_.data(), buffer_.size());
  if (n < 0) {
    error = true;
    return false;
  }
  if (n == 0) {
    ended_ = true;
    return false;
  }
  begin_ = 0;
  end_ = static_cast<std::size_t>(n);
  return true;
}

LineReader::Next LineReader::next() {
  line_.clear();
  bool error = false;
  while (skipping_) {  // the rest of the line reported too long
    if (!fill(error)) {
      if (error) return Next::kError;
      skipping_ = false;
      return Next::kEnd;
    }
    const char* from = buffer_.data() + begin_;
    const auto* newline = static_cast<const char*>(std::memchr(from, '\n', end_ - begin_));
    if (newline == nullptr) {
      begin_ = end_;
    } else {
      begin_ += static_cast<std::size_t>(newline - from) + 1;
      skipping_ = false;
    }
  }
  if (ended_) return Next::kEnd;
  bool started = false;  // some byte (or the newline) of this line was seen
  while (true) {
    if (!fill(error)) {
      if (error) return Next::kError;
      if (!started) return Next::kEnd;
      ++number_;
      return Next::kLine;
    }
    started = true;
    const char* from = buffer_.data() + begin_;
    const auto* newline = static_cast<const char*>(std::memchr(from, '\n', end_ - begin_));
    const std::size_t take =
        newline != nullptr ? static_cast<std::size_t>(newline - from) : end_ - begin_;
    if (take > line_bytes_max_ - line_.size()) {
      // Past the bound: reported now; the rest of the line is skipped by the next call.
      line_.clear();
      if (newline != nullptr) {
        begin_ += take + 1;
      } else {
        begin_ = end_;
        skipping_ = true;
      }
      ++number_;
      return Next::kTooLong;
    }
    if (line_.size() + take > line_.capacity()) {  // double, but never past the bound
      line_.reserve(std::min(line_bytes_max_, std::max(2 * line_.capacity(), line_.size() + take)));
    }
    line_.insert(line_.end(), from, from + take);
    begin_ += take;
    if (newline != nullptr) {
      ++begin_;
      ++number_;
      return Next::kLine;
    }
  }
}

}  // namespace wharf::cli
