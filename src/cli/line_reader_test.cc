#include "cli/line_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace wharf::cli {
namespace {

// The lines a reader returns for `input` written into a pipe, as "line" or "<too long>".
std::vector<std::string> read_all(const std::string& input, std::size_t max_bytes) {
  ::signal(SIGPIPE, SIG_IGN);  // a reader that stops early must fail the test, not kill it
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  std::thread writer([&] {
    std::size_t done = 0;
    while (done < input.size()) {
      const ssize_t n = ::write(fds[1], input.data() + done, input.size() - done);
      if (n <= 0) break;  // EPIPE once the reader's end is closed
      done += static_cast<std::size_t>(n);
    }
    ::close(fds[1]);
  });
  LineReader reader(fds[0], max_bytes);
  std::vector<std::string> out;
  std::int64_t number = 0;
  while (true) {
    const auto next = reader.next();
    if (next == LineReader::Next::kEnd) break;
    EXPECT_NE(next, LineReader::Next::kError) << std::strerror(errno);
    if (next == LineReader::Next::kError) break;
    EXPECT_EQ(reader.number(), ++number);
    out.push_back(next == LineReader::Next::kLine ? std::string(reader.line()) : "<too long>");
  }
  ::close(fds[0]);  // before join: a writer still blocked on a full pipe gets EPIPE
  writer.join();
  return out;
}

TEST(LineReaderTest, SplitsAtNewlinesAndKeepsEveryOtherByte) {
  using V = std::vector<std::string>;
  EXPECT_EQ(read_all("", 10), V{});
  EXPECT_EQ(read_all("\n", 10), V{""});
  EXPECT_EQ(read_all("a\nb\n", 10), (V{"a", "b"}));
  EXPECT_EQ(read_all("a\nlast", 10), (V{"a", "last"})) << "a last line without a newline counts";
  EXPECT_EQ(read_all(std::string("n\0l\r\n\n", 6), 10), (V{std::string("n\0l\r", 4), ""}));
}

TEST(LineReaderTest, ALineOverTheBoundIsDroppedWholeAndTheNextOnesAreRead) {
  using V = std::vector<std::string>;
  EXPECT_EQ(read_all("0123456789\n", 10), V{"0123456789"}) << "exactly the bound is a line";
  EXPECT_EQ(read_all("0123456789X\nnext\n", 10), (V{"<too long>", "next"}));
  EXPECT_EQ(read_all("0123456789X", 10), V{"<too long>"});
  // Longer than one read of the descriptor (64 KiB) on either side of the bound.
  const std::string big(200'000, 'b');
  EXPECT_EQ(read_all(big + "\nx\n" + big + "\n", 150'000), (V{"<too long>", "x", "<too long>"}));
  EXPECT_EQ(read_all(big + "\n" + big, 200'000), (V{big, big}));
}

// A line that never ends (/dev/zero) is reported once it passes the bound, not read for ever;
// skipping its rest stops when the stop flag is set.
TEST(LineReaderTest, AnEndlessLineIsReportedAtTheBoundAndItsSkipStopsOnTheFlag) {
  const int fd = ::open("/dev/zero", O_RDONLY);
  ASSERT_GE(fd, 0);
  std::atomic<bool> stop{false};
  LineReader reader(fd, 1000, &stop);
  EXPECT_EQ(reader.next(), LineReader::Next::kTooLong);
  EXPECT_EQ(reader.number(), 1);
  EXPECT_TRUE(reader.line().empty());
  stop = true;
  EXPECT_EQ(reader.next(), LineReader::Next::kError);
  EXPECT_EQ(errno, EINTR);
  ::close(fd);
}

}  // namespace
}  // namespace wharf::cli
