// The crash model of MemoryFileSystem (what survives crash()), and write_file_atomic checked
// against a crash after a failure at each of its steps. Behaviour shared with the other file
// systems is in file_system_test.cc.
#include "io/memory_file_system.h"

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/fault_file_system.h"
#include "io/test_util.h"

namespace wharf::io {
namespace {

std::string durable_text(MemoryFileSystem& fs, const std::string& path) {
  auto contents = fs.durable_contents(path);
  if (!contents) return "<error: " + contents.error().to_string() + ">";
  return std::string(as_chars(*contents));
}

class MemoryCrash : public ::testing::Test {
 protected:
  // /d exists durably and is empty.
  void SetUp() override {
    ASSERT_TRUE(fs_.create_dirs("/d"));
    ASSERT_TRUE(fs_.sync_dir("/"));
  }

  // /d/f exists durably with `text` durable.
  std::unique_ptr<File> durable_file(std::string_view text) {
    auto file = fs_.open("/d/f", OpenMode::kCreate);
    WHARF_CHECK(file.has_value(), "open: {}", file.error().to_string());
    WHARF_CHECK((*file)->append(as_bytes(text)).has_value());
    WHARF_CHECK((*file)->sync().has_value());
    WHARF_CHECK(fs_.sync_dir("/d").has_value());
    return std::move(*file);
  }

  bool exists(const std::string& path) { return fs_.exists(path).value(); }

  MemoryFileSystem fs_;
};

TEST_F(MemoryCrash, UnsyncedAppendIsLost) {
  auto file = durable_file("");
  ASSERT_TRUE(file->append(as_bytes("lost")));
  EXPECT_EQ(durable_text(fs_, "/d/f"), "");
  fs_.crash();
  EXPECT_EQ(read_text(fs_, "/d/f"), "");
}

TEST_F(MemoryCrash, SyncedBytesSurviveButLaterUnsyncedBytesDoNot) {
  auto file = durable_file("kept");
  ASSERT_TRUE(file->append(as_bytes("+lost")));
  ASSERT_TRUE(file->write_at(FilePosition(0), as_bytes("K")));
  EXPECT_EQ(read_text(fs_, "/d/f"), "Kept+lost");
  fs_.crash();
  EXPECT_EQ(read_text(fs_, "/d/f"), "kept");
}

TEST_F(MemoryCrash, UnsyncedTruncateIsUndone) {
  auto file = durable_file("abcdef");
  ASSERT_TRUE(file->truncate(2));
  fs_.crash();
  EXPECT_EQ(read_text(fs_, "/d/f"), "abcdef");
}

TEST_F(MemoryCrash, FileCreatedWithoutDirSyncVanishesEvenIfItsDataWasSynced) {
  auto file = fs_.open("/d/new", OpenMode::kCreate);
  ASSERT_TRUE(file);
  ASSERT_TRUE((*file)->append(as_bytes("data")));
  ASSERT_TRUE((*file)->sync());
  EXPECT_EQ(error_code_of(fs_.durable_contents("/d/new")), ErrorCode::kNotFound);
  fs_.crash();
  EXPECT_FALSE(exists("/d/new"));
  EXPECT_TRUE(fs_.list_dir("/d").value().empty());
}

TEST_F(MemoryCrash, FileCreatedWithDirSyncSurvivesWithOnlyItsSyncedBytes) {
  auto file = fs_.open("/d/new", OpenMode::kCreate);
  ASSERT_TRUE(file);
  ASSERT_TRUE(fs_.sync_dir("/d"));
  ASSERT_TRUE((*file)->append(as_bytes("unsynced")));
  fs_.crash();
  EXPECT_EQ(read_text(fs_, "/d/new"), "");
}

TEST_F(MemoryCrash, RenameWithoutDirSyncIsUndone) {
  durable_file("payload");
  ASSERT_TRUE(fs_.rename("/d/f", "/d/g"));
  fs_.crash();
  EXPECT_EQ(read_text(fs_, "/d/f"), "payload");
  EXPECT_FALSE(exists("/d/g"));
}

TEST_F(MemoryCrash, RenameFollowedByDirSyncSurvives) {
  durable_file("payload");
  ASSERT_TRUE(fs_.rename("/d/f", "/d/g"));
  ASSERT_TRUE(fs_.sync_dir("/d"));
  fs_.crash();
  EXPECT_FALSE(exists("/d/f"));
  EXPECT_EQ(read_text(fs_, "/d/g"), "payload");
}

TEST_F(MemoryCrash, RemoveWithoutDirSyncIsUndoneAndTheFileKeepsItsDurableBytes) {
  auto file = durable_file("back");
  ASSERT_TRUE(file->append(as_bytes("+unsynced")));
  ASSERT_TRUE(fs_.remove("/d/f"));
  fs_.crash();
  EXPECT_EQ(read_text(fs_, "/d/f"), "back");
}

TEST_F(MemoryCrash, RemoveFollowedByDirSyncSurvives) {
  durable_file("gone");
  ASSERT_TRUE(fs_.remove("/d/f"));
  ASSERT_TRUE(fs_.sync_dir("/d"));
  fs_.crash();
  EXPECT_FALSE(exists("/d/f"));
}

TEST_F(MemoryCrash, RemoveAllWithoutParentSyncIsUndone) {
  durable_file("deep");
  ASSERT_TRUE(fs_.remove_all("/d"));
  EXPECT_FALSE(exists("/d"));
  fs_.crash();
  EXPECT_EQ(read_text(fs_, "/d/f"), "deep");
}

TEST_F(MemoryCrash, DirectoryIsDurableOnlyAfterItsParentIsSynced) {
  ASSERT_TRUE(fs_.create_dirs("/d/a/b"));
  ASSERT_TRUE(fs_.sync_dir("/d"));  // makes a durable, not b (a itself was not synced)
  fs_.crash();
  EXPECT_TRUE(exists("/d/a"));
  EXPECT_FALSE(exists("/d/a/b"));
}

TEST_F(MemoryCrash, CreateDirsDurableMakesEveryNewLevelSurvive) {
  ASSERT_TRUE(create_dirs_durable(fs_, "/d/a/b/c"));
  fs_.crash();
  EXPECT_TRUE(exists("/d/a/b/c"));
  EXPECT_EQ(fs_.sync_dir_count(), 4u);  // "/" in SetUp, then d, a, b
}

TEST_F(MemoryCrash, FilesOpenedBeforeACrashAreDead) {
  auto file = durable_file("abc");
  fs_.crash();
  std::byte buffer[3];
  auto read = file->read_at(FilePosition(0), buffer);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code(), ErrorCode::kIoError);
  EXPECT_NE(read.error().message().find("file handle invalidated by crash"), std::string::npos);
  EXPECT_FALSE(file->append(as_bytes("x")));
  EXPECT_FALSE(file->write_at(FilePosition(0), as_bytes("x")));
  EXPECT_FALSE(file->size());
  EXPECT_FALSE(file->truncate(0));
  EXPECT_FALSE(file->sync());
  // A handle opened after the crash works and sees the durable bytes.
  auto reopened = fs_.open("/d/f", OpenMode::kReadWrite);
  ASSERT_TRUE(reopened);
  EXPECT_EQ((*reopened)->size().value(), 3u);
}

TEST_F(MemoryCrash, SyncEverythingMakesTheWholeCurrentStateDurable) {
  ASSERT_TRUE(fs_.create_dirs("/d/x/y"));
  ASSERT_TRUE(write_text(fs_, "/d/x/y/f", "all"));
  ASSERT_TRUE(write_text(fs_, "/d/g", "of it"));
  fs_.sync_everything();
  fs_.crash();
  EXPECT_EQ(read_text(fs_, "/d/x/y/f"), "all");
  EXPECT_EQ(read_text(fs_, "/d/g"), "of it");
}

TEST_F(MemoryCrash, DurableContentsIsWhatACrashWouldLeave) {
  auto file = durable_file("v1");
  ASSERT_TRUE(file->append(as_bytes("v2")));
  EXPECT_EQ(durable_text(fs_, "/d/f"), "v1");
  ASSERT_TRUE(fs_.rename("/d/f", "/d/g"));
  EXPECT_EQ(durable_text(fs_, "/d/f"), "v1");  // the rename is not durable yet
  EXPECT_EQ(error_code_of(fs_.durable_contents("/d/g")), ErrorCode::kNotFound);
}

TEST_F(MemoryCrash, CountersTrackSyncsAndBytesWritten) {
  auto file = durable_file("12345");  // one sync, one sync_dir, five bytes
  ASSERT_TRUE(file->write_at(FilePosition(1), as_bytes("ab")));
  ASSERT_TRUE(file->sync());
  EXPECT_EQ(fs_.sync_count(), 2u);
  EXPECT_EQ(fs_.sync_dir_count(), 2u);  // SetUp synced "/"
  EXPECT_EQ(fs_.bytes_written(), 7u);
}

TEST(MemoryCapacity, WriteThatDoesNotFitIsNoSpaceAndWritesNothing) {
  MemoryFileSystem fs;
  fs.set_capacity_bytes(10);
  auto file = fs.open("/f", OpenMode::kCreate);
  ASSERT_TRUE(file);
  ASSERT_TRUE((*file)->append(as_bytes("12345678")));
  auto full = (*file)->append(as_bytes("abc"));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code(), ErrorCode::kNoSpace);
  EXPECT_EQ(read_text(fs, "/f"), "12345678");
  EXPECT_EQ(fs.used_bytes(), 8u);
  // Overwriting in place needs no space; a second file shares the same budget.
  ASSERT_TRUE((*file)->write_at(FilePosition(0), as_bytes("ABCDEFGH")));
  ASSERT_TRUE(write_text(fs, "/g", "xy"));
  EXPECT_EQ(error_code_of(write_text(fs, "/h", "z")), ErrorCode::kNoSpace);
  EXPECT_EQ(error_code_of((*file)->truncate(11)), ErrorCode::kNoSpace);
  // Removing a file gives its bytes back.
  ASSERT_TRUE(fs.remove("/g"));
  EXPECT_TRUE((*file)->append(as_bytes("ab")));
  EXPECT_EQ(fs.used_bytes(), 10u);
}

// write_file_atomic must leave either the old or the new contents after a crash, whichever of
// its steps fails. Each case arms one fault, lets the write fail, then crashes the memory file
// system underneath and looks at what survived.
struct AtomicWriteFault {
  const char* step;
  std::function<void(FaultFileSystem&)> arm;
};

void PrintTo(const AtomicWriteFault& fault, std::ostream* os) { *os << fault.step; }

class WriteFileAtomicCrash : public ::testing::TestWithParam<AtomicWriteFault> {};

TEST_P(WriteFileAtomicCrash, FailedStepThenCrashLeavesTheOldContentsAndNoTemporary) {
  MemoryFileSystem memory;
  ASSERT_TRUE(memory.create_dirs("/d"));
  ASSERT_TRUE(memory.sync_dir("/"));
  ASSERT_TRUE(write_file_atomic(memory, "/d/meta", as_bytes("old")));

  FaultFileSystem fault(memory);
  GetParam().arm(fault);
  Status status = write_file_atomic(fault, "/d/meta", as_bytes("new contents"));
  ASSERT_FALSE(status) << "the armed fault at " << GetParam().step << " did not fire";
  EXPECT_EQ(status.error().code(), ErrorCode::kIoError);

  memory.crash();
  EXPECT_EQ(read_text(memory, "/d/meta"), "old");
  EXPECT_EQ(memory.list_dir("/d").value(), std::vector<std::string>{"meta"});
}

INSTANTIATE_TEST_SUITE_P(
    EachStep, WriteFileAtomicCrash,
    ::testing::Values(
        AtomicWriteFault{"open", [](FaultFileSystem& f) { f.fail_nth_open(1); }},
        AtomicWriteFault{"write", [](FaultFileSystem& f) { f.fail_nth_write(1); }},
        AtomicWriteFault{"torn_write", [](FaultFileSystem& f) { f.tear_nth_write(1, 4); }},
        AtomicWriteFault{"sync", [](FaultFileSystem& f) { f.fail_nth_sync(1); }},
        AtomicWriteFault{"rename", [](FaultFileSystem& f) { f.fail_nth_rename(1); }},
        AtomicWriteFault{"sync_dir", [](FaultFileSystem& f) { f.fail_nth_sync_dir(1); }}),
    [](const auto& info) { return std::string(info.param.step); });

TEST(WriteFileAtomicCrashAfterSuccess, CompletedWriteSurvivesACrash) {
  MemoryFileSystem memory;
  ASSERT_TRUE(memory.create_dirs("/d"));
  ASSERT_TRUE(memory.sync_dir("/"));
  ASSERT_TRUE(write_file_atomic(memory, "/d/meta", as_bytes("old")));
  ASSERT_TRUE(write_file_atomic(memory, "/d/meta", as_bytes("new contents")));
  memory.crash();
  EXPECT_EQ(read_text(memory, "/d/meta"), "new contents");
  EXPECT_EQ(memory.list_dir("/d").value(), std::vector<std::string>{"meta"});
}

}  // namespace
}  // namespace wharf::io
