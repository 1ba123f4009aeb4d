// The FileSystem conformance suite: the same behaviour tests run against every implementation
// (the real disk under a fresh /tmp directory, the in-memory one, and the fault wrapper with no
// fault armed). A new implementation gets an Env here and must pass all of them.
#include "io/file_system.h"

#include <stdlib.h>

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "io/fault_file_system.h"
#include "io/memory_file_system.h"
#include "io/posix_file_system.h"
#include "io/test_util.h"

namespace wharf::io {
namespace {

class PosixEnv {
 public:
  static constexpr const char* kName = "Posix";
  PosixEnv() {
    std::string dir = "/tmp/wharf_io_test_XXXXXX";
    WHARF_CHECK(::mkdtemp(dir.data()) != nullptr, "mkdtemp failed");
    root_ = dir;
  }
  FileSystem& fs() { return fs_; }
  const std::string& root() const { return root_; }

 private:
  PosixFileSystem fs_;
  std::string root_;
};

class MemoryEnv {
 public:
  static constexpr const char* kName = "Memory";
  FileSystem& fs() { return fs_; }
  const std::string& root() const { return root_; }

 private:
  MemoryFileSystem fs_;
  std::string root_ = "/conformance";
};

class FaultOverMemoryEnv {
 public:
  static constexpr const char* kName = "FaultOverMemory";
  FileSystem& fs() { return fault_; }
  const std::string& root() const { return root_; }

 private:
  MemoryFileSystem memory_;
  FaultFileSystem fault_{memory_};
  std::string root_ = "/conformance";
};

template <typename Env>
class FileSystemConformance : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fs().create_dirs(env_.root())); }
  void TearDown() override { EXPECT_TRUE(fs().remove_all(env_.root())); }

  FileSystem& fs() { return env_.fs(); }
  std::string path(std::string_view name) const { return join_path(env_.root(), name); }

  std::unique_ptr<File> open_or_die(const std::string& p, OpenMode mode) {
    auto file = fs().open(p, mode);
    WHARF_CHECK(file.has_value(), "open {}: {}", p, file.error().to_string());
    return std::move(*file);
  }

  Env env_;
};

struct EnvNames {
  template <typename Env>
  static std::string GetName(int) {
    return Env::kName;
  }
};

using Envs = ::testing::Types<PosixEnv, MemoryEnv, FaultOverMemoryEnv>;
TYPED_TEST_SUITE(FileSystemConformance, Envs, EnvNames);

std::string read_string(File& file, std::uint64_t position, std::size_t length) {
  std::string out(length, '\0');
  auto n = file.read_at(FilePosition(position), {reinterpret_cast<std::byte*>(out.data()), length});
  if (!n) return "<error: " + n.error().to_string() + ">";
  out.resize(*n);
  return out;
}

TYPED_TEST(FileSystemConformance, OpeningAMissingFileWithoutCreateIsNotFound) {
  for (OpenMode mode : {OpenMode::kReadOnly, OpenMode::kReadWrite}) {
    auto file = this->fs().open(this->path("missing"), mode);
    ASSERT_FALSE(file);
    EXPECT_EQ(file.error().code(), ErrorCode::kNotFound);
  }
  auto in_missing_dir = this->fs().open(this->path("no_dir/file"), OpenMode::kCreate);
  ASSERT_FALSE(in_missing_dir);
  EXPECT_EQ(in_missing_dir.error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(this->fs().exists(this->path("missing")).value());
}

TYPED_TEST(FileSystemConformance, CreateExclusiveOnAnExistingFileIsAlreadyExists) {
  auto p = this->path("f");
  ASSERT_TRUE(this->fs().open(p, OpenMode::kCreateExclusive));
  auto again = this->fs().open(p, OpenMode::kCreateExclusive);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
}

TYPED_TEST(FileSystemConformance, CreateKeepsContentsAndTruncateEmptiesThem) {
  auto p = this->path("f");
  ASSERT_TRUE(write_text(this->fs(), p, "hello"));
  ASSERT_EQ(this->open_or_die(p, OpenMode::kCreate)->size().value(), 5u);
  EXPECT_EQ(read_text(this->fs(), p), "hello");
  ASSERT_EQ(this->open_or_die(p, OpenMode::kTruncate)->size().value(), 0u);
  EXPECT_EQ(read_text(this->fs(), p), "");
}

TYPED_TEST(FileSystemConformance, WriteAtPastTheEndFillsTheGapWithZeros) {
  auto file = this->open_or_die(this->path("f"), OpenMode::kCreate);
  ASSERT_TRUE(file->write_at(FilePosition(0), as_bytes("abc")));
  ASSERT_TRUE(file->write_at(FilePosition(5), as_bytes("xy")));
  ASSERT_TRUE(file->write_at(FilePosition(1), as_bytes("B")));
  EXPECT_EQ(file->size().value(), 7u);
  EXPECT_EQ(read_string(*file, 0, 7), std::string("aBc\0\0xy", 7));
  EXPECT_EQ(read_string(*file, 5, 2), "xy");
}

TYPED_TEST(FileSystemConformance, AppendWritesAtTheEndIncludingAfterReopen) {
  auto p = this->path("f");
  {
    auto file = this->open_or_die(p, OpenMode::kCreate);
    ASSERT_TRUE(file->append(as_bytes("one")));
    ASSERT_TRUE(file->append(as_bytes("two")));
    EXPECT_EQ(file->size().value(), 6u);
  }
  auto file = this->open_or_die(p, OpenMode::kReadWrite);
  EXPECT_EQ(file->size().value(), 6u);
  ASSERT_TRUE(file->append(as_bytes("three")));
  EXPECT_EQ(read_text(this->fs(), p), "onetwothree");
}

TYPED_TEST(FileSystemConformance, ReadAtTheEndIsShortAndPastTheEndIsEmpty) {
  auto p = this->path("f");
  ASSERT_TRUE(write_text(this->fs(), p, "abcdef"));
  auto file = this->open_or_die(p, OpenMode::kReadOnly);
  EXPECT_EQ(read_string(*file, 4, 10), "ef");
  EXPECT_EQ(read_string(*file, 6, 4), "");
  EXPECT_EQ(read_string(*file, 100, 4), "");
  std::byte one{};
  Status exact = read_exact(*file, FilePosition(6), {&one, 1});
  ASSERT_FALSE(exact);
  EXPECT_EQ(exact.error().code(), ErrorCode::kCorruption);
}

TYPED_TEST(FileSystemConformance, TruncateShrinksOrExtendsWithZerosAndMovesTheAppendPoint) {
  auto p = this->path("f");
  auto file = this->open_or_die(p, OpenMode::kCreate);
  ASSERT_TRUE(file->append(as_bytes("abcdef")));
  ASSERT_TRUE(file->truncate(2));
  EXPECT_EQ(file->size().value(), 2u);
  ASSERT_TRUE(file->append(as_bytes("X")));
  EXPECT_EQ(read_text(this->fs(), p), "abX");
  ASSERT_TRUE(file->truncate(5));
  EXPECT_EQ(read_text(this->fs(), p), std::string("abX\0\0", 5));
}

TYPED_TEST(FileSystemConformance, ReadOnlyFileRefusesWrites) {
  auto p = this->path("f");
  ASSERT_TRUE(write_text(this->fs(), p, "keep"));
  auto file = this->open_or_die(p, OpenMode::kReadOnly);
  auto status = file->append(as_bytes("more"));
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kIoError);
  EXPECT_EQ(read_text(this->fs(), p), "keep");
}

TYPED_TEST(FileSystemConformance, OpeningADirectoryAsAFileFails) {
  ASSERT_TRUE(this->fs().create_dirs(this->path("d")));
  EXPECT_FALSE(this->fs().open(this->path("d"), OpenMode::kReadOnly));
  EXPECT_FALSE(this->fs().open(this->path("d"), OpenMode::kCreate));
}

TYPED_TEST(FileSystemConformance, ListDirReturnsSortedNamesOfFilesAndDirectories) {
  for (auto name : {"b", "c", "a"}) ASSERT_TRUE(write_text(this->fs(), this->path(name), name));
  ASSERT_TRUE(this->fs().create_dirs(this->path("sub/deeper")));
  EXPECT_EQ(this->fs().list_dir(this->env_.root()).value(),
            (std::vector<std::string>{"a", "b", "c", "sub"}));
  EXPECT_EQ(this->fs().list_dir(this->path("sub")).value(), std::vector<std::string>{"deeper"});
  EXPECT_TRUE(this->fs().list_dir(this->path("sub/deeper")).value().empty());
  auto missing = this->fs().list_dir(this->path("nope"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TYPED_TEST(FileSystemConformance, RenameReplacesTheTarget) {
  auto from = this->path("from");
  auto to = this->path("to");
  ASSERT_TRUE(write_text(this->fs(), from, "new"));
  ASSERT_TRUE(write_text(this->fs(), to, "old"));
  ASSERT_TRUE(this->fs().rename(from, to));
  EXPECT_EQ(read_text(this->fs(), to), "new");
  EXPECT_FALSE(this->fs().exists(from).value());
  EXPECT_EQ(this->fs().list_dir(this->env_.root()).value(), std::vector<std::string>{"to"});

  auto missing = this->fs().rename(this->path("nope"), to);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(read_text(this->fs(), to), "new");
}

TYPED_TEST(FileSystemConformance, RenameMovesADirectoryWithItsContents) {
  ASSERT_TRUE(this->fs().create_dirs(this->path("a")));
  ASSERT_TRUE(write_text(this->fs(), this->path("a/f"), "x"));
  ASSERT_TRUE(this->fs().rename(this->path("a"), this->path("b")));
  EXPECT_FALSE(this->fs().exists(this->path("a")).value());
  EXPECT_EQ(read_text(this->fs(), this->path("b/f")), "x");
}

TYPED_TEST(FileSystemConformance, RemoveDeletesFilesAndEmptyDirectoriesOnly) {
  auto f = this->path("f");
  ASSERT_TRUE(write_text(this->fs(), f, "x"));
  ASSERT_TRUE(this->fs().remove(f));
  EXPECT_FALSE(this->fs().exists(f).value());

  auto again = this->fs().remove(f);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kNotFound);

  ASSERT_TRUE(this->fs().create_dirs(this->path("d")));
  ASSERT_TRUE(write_text(this->fs(), this->path("d/f"), "x"));
  EXPECT_FALSE(this->fs().remove(this->path("d")));
  EXPECT_EQ(read_text(this->fs(), this->path("d/f")), "x");
  ASSERT_TRUE(this->fs().remove(this->path("d/f")));
  ASSERT_TRUE(this->fs().remove(this->path("d")));
  EXPECT_FALSE(this->fs().exists(this->path("d")).value());
}

TYPED_TEST(FileSystemConformance, RemovedFileStaysUsableThroughAnOpenHandle) {
  auto p = this->path("f");
  ASSERT_TRUE(write_text(this->fs(), p, "abc"));
  auto file = this->open_or_die(p, OpenMode::kReadWrite);
  ASSERT_TRUE(this->fs().remove(p));
  ASSERT_TRUE(file->append(as_bytes("d")));
  EXPECT_EQ(read_string(*file, 0, 10), "abcd");
  EXPECT_FALSE(this->fs().exists(p).value());
}

TYPED_TEST(FileSystemConformance, RemoveAllDeletesATreeAndIgnoresMissingPaths) {
  ASSERT_TRUE(this->fs().create_dirs(this->path("t/a/b")));
  ASSERT_TRUE(write_text(this->fs(), this->path("t/a/b/f"), "x"));
  ASSERT_TRUE(write_text(this->fs(), this->path("t/g"), "y"));
  ASSERT_TRUE(write_text(this->fs(), this->path("keep"), "z"));
  ASSERT_TRUE(this->fs().remove_all(this->path("t")));
  EXPECT_FALSE(this->fs().exists(this->path("t")).value());
  EXPECT_EQ(this->fs().list_dir(this->env_.root()).value(), std::vector<std::string>{"keep"});
  EXPECT_TRUE(this->fs().remove_all(this->path("t")));
  ASSERT_TRUE(this->fs().remove_all(this->path("keep")));  // a plain file too
  EXPECT_FALSE(this->fs().exists(this->path("keep")).value());
}

TYPED_TEST(FileSystemConformance, CreateDirsMakesParentsAndIsIdempotent) {
  auto deep = this->path("x/y/z");
  ASSERT_TRUE(this->fs().create_dirs(deep));
  ASSERT_TRUE(this->fs().create_dirs(deep));
  ASSERT_TRUE(this->fs().create_dirs(this->path("x/y")));
  EXPECT_TRUE(this->fs().exists(deep).value());
  EXPECT_EQ(this->fs().list_dir(this->path("x")).value(), std::vector<std::string>{"y"});

  ASSERT_TRUE(write_text(this->fs(), this->path("file"), ""));
  auto over_file = this->fs().create_dirs(this->path("file/sub"));
  ASSERT_FALSE(over_file);
  EXPECT_EQ(over_file.error().code(), ErrorCode::kAlreadyExists);
}

TYPED_TEST(FileSystemConformance, SyncAndSyncDirSucceedAndSyncDirOfMissingIsNotFound) {
  auto file = this->open_or_die(this->path("f"), OpenMode::kCreate);
  ASSERT_TRUE(file->append(as_bytes("x")));
  EXPECT_TRUE(file->sync());
  EXPECT_TRUE(this->fs().sync_dir(this->env_.root()));
  auto missing = this->fs().sync_dir(this->path("nope"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TYPED_TEST(FileSystemConformance, WriteFileAtomicReplacesContentsAndLeavesNoTemporary) {
  auto p = this->path("meta");
  ASSERT_TRUE(write_file_atomic(this->fs(), p, as_bytes("first")));
  EXPECT_EQ(read_text(this->fs(), p), "first");
  ASSERT_TRUE(write_file_atomic(this->fs(), p, as_bytes("second, longer")));
  EXPECT_EQ(read_text(this->fs(), p), "second, longer");
  ASSERT_TRUE(write_file_atomic(this->fs(), p, as_bytes("3")));
  EXPECT_EQ(read_text(this->fs(), p), "3");
  EXPECT_EQ(this->fs().list_dir(this->env_.root()).value(), std::vector<std::string>{"meta"});

  auto missing = read_file(this->fs(), this->path("nope"), 100);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TYPED_TEST(FileSystemConformance, ReadFileRefusesAFileLargerThanItsKindHolds) {
  auto p = this->path("meta");
  ASSERT_TRUE(write_text(this->fs(), p, std::string(101, 'x')));
  auto read = read_file(this->fs(), p, 100);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(read.error().message().find("is 101 bytes, more than the 100"), std::string::npos)
      << read.error().message();
  auto exact = read_file(this->fs(), p, 101);
  ASSERT_TRUE(exact) << exact.error().to_string();
  EXPECT_EQ(exact->size(), 101u);
}

TYPED_TEST(FileSystemConformance, ConcurrentReadersSeeTheSameBytes) {
  constexpr int kThreads = 4;
  constexpr int kReadsPerThread = 200;
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>('a' + i % 26));
  auto p = this->path("f");
  ASSERT_TRUE(write_text(this->fs(), p, data));
  auto file = this->open_or_die(p, OpenMode::kReadOnly);
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kReadsPerThread; ++i) {
        std::size_t at = static_cast<std::size_t>((t * 131 + i * 17) % 990);
        if (read_string(*file, at, 10) != data.substr(at, 10)) ++mismatches[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(kThreads, 0));
}

}  // namespace
}  // namespace wharf::io
