// Each FaultFileSystem plan does exactly what it says, no more: it fires on the n-th call from
// when it was armed, once; failed calls leave the inner file system untouched; torn writes leave
// exactly the kept prefix durable and kill the wrapper.
#include "io/fault_file_system.h"

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "io/memory_file_system.h"
#include "io/test_util.h"

namespace wharf::io {
namespace {

bool mentions(const Error& error, std::string_view text) {
  return error.message().find(text) != std::string::npos;
}

class FaultTest : public ::testing::Test {
 protected:
  // /d/f exists durably and is empty; `file_` is open on it through the wrapper.
  void SetUp() override {
    ASSERT_TRUE(memory_.create_dirs("/d"));
    ASSERT_TRUE(write_text(memory_, "/d/f", ""));
    memory_.sync_everything();
    auto file = fault_.open("/d/f", OpenMode::kReadWrite);
    ASSERT_TRUE(file);
    file_ = std::move(*file);
  }

  std::string durable_text(const std::string& path) {
    auto contents = memory_.durable_contents(path);
    if (!contents) return "<error: " + contents.error().to_string() + ">";
    return std::string(as_chars(*contents));
  }

  MemoryFileSystem memory_;
  FaultFileSystem fault_{memory_};
  std::unique_ptr<File> file_;
};

TEST_F(FaultTest, NoFaultArmedPassesEverythingThroughAndCounts) {
  ASSERT_TRUE(file_->append(as_bytes("ab")));
  ASSERT_TRUE(file_->write_at(FilePosition(2), as_bytes("cd")));
  ASSERT_TRUE(file_->sync());
  ASSERT_TRUE(fault_.rename("/d/f", "/d/g"));
  ASSERT_TRUE(fault_.sync_dir("/d"));
  EXPECT_EQ(durable_text("/d/g"), "abcd");
  EXPECT_EQ(fault_.writes(), 2u);
  EXPECT_EQ(fault_.syncs(), 1u);
  EXPECT_EQ(fault_.renames(), 1u);
  EXPECT_EQ(fault_.sync_dirs(), 1u);
  EXPECT_EQ(fault_.opens(), 1u);  // SetUp's
}

TEST_F(FaultTest, FailNthWriteFailsOnlyThatWriteWithTheGivenCodeAndWritesNothing) {
  ASSERT_TRUE(file_->append(as_bytes("before-")));  // counted before arming: not the first
  fault_.fail_nth_write(2, ErrorCode::kNoSpace);
  ASSERT_TRUE(file_->append(as_bytes("a")));
  auto failed = file_->append(as_bytes("b"));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kNoSpace);
  EXPECT_TRUE(mentions(failed.error(), "injected write failure"));
  ASSERT_TRUE(file_->append(as_bytes("c")));  // fired once, now disarmed
  EXPECT_EQ(read_text(memory_, "/d/f"), "before-ac");
  EXPECT_EQ(fault_.writes(), 4u);
  EXPECT_FALSE(fault_.dead());
}

TEST_F(FaultTest, FailNthWriteAppliesToWriteAtToo) {
  ASSERT_TRUE(file_->append(as_bytes("xxxx")));
  fault_.fail_nth_write(1);
  auto failed = file_->write_at(FilePosition(1), as_bytes("YY"));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kIoError);
  EXPECT_EQ(read_text(memory_, "/d/f"), "xxxx");
}

TEST_F(FaultTest, ShortWriteWritesTheKeptPrefixThenFailsWithoutDying) {
  ASSERT_TRUE(file_->append(as_bytes("12")));
  fault_.short_write_nth(1, 3);
  auto failed = file_->append(as_bytes("abcdef"));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kIoError);
  EXPECT_TRUE(mentions(failed.error(), "short write of 3 of 6 bytes"));
  EXPECT_EQ(read_text(memory_, "/d/f"), "12abc");
  EXPECT_EQ(durable_text("/d/f"), "");  // nothing was synced
  EXPECT_FALSE(fault_.dead());
  ASSERT_TRUE(file_->append(as_bytes("!")));
  EXPECT_EQ(read_text(fault_, "/d/f"), "12abc!");
}

TEST_F(FaultTest, TornWriteKeepsExactlyThePrefixDurableAndKillsTheFileSystem) {
  ASSERT_TRUE(file_->append(as_bytes("hello")));
  ASSERT_TRUE(file_->sync());
  ASSERT_TRUE(file_->append(as_bytes("-unsynced-")));
  fault_.tear_nth_write(1, 3);
  auto torn = file_->append(as_bytes("world"));
  ASSERT_FALSE(torn);
  EXPECT_EQ(torn.error().code(), ErrorCode::kIoError);
  EXPECT_TRUE(mentions(torn.error(), "torn write kept 3 of 5 bytes"));
  EXPECT_TRUE(fault_.dead());
  // The inner sync made the torn prefix durable, and what was written before it with it.
  EXPECT_EQ(durable_text("/d/f"), "hello-unsynced-wor");
  memory_.crash();
  EXPECT_EQ(read_text(memory_, "/d/f"), "hello-unsynced-wor");
}

TEST_F(FaultTest, TornWriteAtKeepsThePrefixAtItsPosition) {
  ASSERT_TRUE(file_->append(as_bytes("0123456789")));
  fault_.tear_nth_write(1, 2);
  ASSERT_FALSE(file_->write_at(FilePosition(4), as_bytes("abcd")));
  EXPECT_EQ(durable_text("/d/f"), "0123ab6789");
}

TEST_F(FaultTest, TornWriteWithZeroKeptBytesWritesNothingButStillSyncsAndDies) {
  ASSERT_TRUE(file_->append(as_bytes("abc")));
  fault_.tear_nth_write(1, 0);
  ASSERT_FALSE(file_->append(as_bytes("def")));
  EXPECT_EQ(durable_text("/d/f"), "abc");
  EXPECT_TRUE(fault_.dead());
}

TEST_F(FaultTest, DeadFileSystemFailsEveryOperation) {
  fault_.tear_nth_write(1, 0);
  ASSERT_FALSE(file_->append(as_bytes("x")));
  ASSERT_TRUE(fault_.dead());

  std::vector<Status> statuses;
  std::byte buffer[1];
  statuses.push_back(file_->read_at(FilePosition(0), buffer).map([](std::size_t) {}));
  statuses.push_back(file_->write_at(FilePosition(0), as_bytes("x")));
  statuses.push_back(file_->append(as_bytes("x")));
  statuses.push_back(file_->size().map([](std::uint64_t) {}));
  statuses.push_back(file_->truncate(0));
  statuses.push_back(file_->sync());
  statuses.push_back(fault_.open("/d/f", OpenMode::kReadOnly).map([](auto&&) {}));
  statuses.push_back(fault_.exists("/d/f").map([](bool) {}));
  statuses.push_back(fault_.list_dir("/d").map([](auto&&) {}));
  statuses.push_back(fault_.create_dirs("/e"));
  statuses.push_back(fault_.remove("/d/f"));
  statuses.push_back(fault_.remove_all("/d"));
  statuses.push_back(fault_.rename("/d/f", "/d/g"));
  statuses.push_back(fault_.sync_dir("/d"));
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    ASSERT_FALSE(statuses[i]) << "operation " << i << " succeeded on a dead file system";
    EXPECT_EQ(statuses[i].error().code(), ErrorCode::kIoError) << i;
    EXPECT_TRUE(mentions(statuses[i].error(), "file system is dead after injected crash")) << i;
  }
  // Nothing reached the inner file system.
  EXPECT_TRUE(memory_.exists("/d/f").value());
  EXPECT_FALSE(memory_.exists("/e").value());
  EXPECT_EQ(fault_.writes(), 1u);
}

TEST_F(FaultTest, ReviveLetsNewCallsThroughButOldFilesStayDead) {
  fault_.tear_nth_write(1, 0);
  ASSERT_FALSE(file_->append(as_bytes("x")));
  fault_.revive();
  EXPECT_FALSE(fault_.dead());
  auto stale = file_->append(as_bytes("x"));
  ASSERT_FALSE(stale);
  EXPECT_TRUE(mentions(stale.error(), "file handle invalidated by injected crash"));
  auto fresh = fault_.open("/d/f", OpenMode::kReadWrite);
  ASSERT_TRUE(fresh);
  ASSERT_TRUE((*fresh)->append(as_bytes("ok")));
  EXPECT_EQ(read_text(fault_, "/d/f"), "ok");
}

TEST_F(FaultTest, FailNthSyncFailsWithoutSyncingTheInnerFile) {
  ASSERT_TRUE(file_->append(as_bytes("data")));
  fault_.fail_nth_sync(1);
  auto failed = file_->sync();
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kIoError);
  EXPECT_TRUE(mentions(failed.error(), "injected fsync failure"));
  EXPECT_EQ(durable_text("/d/f"), "");
  EXPECT_EQ(memory_.sync_count(), 0u);
  ASSERT_TRUE(file_->sync());  // disarmed after firing
  EXPECT_EQ(durable_text("/d/f"), "data");
  EXPECT_EQ(fault_.syncs(), 2u);
}

TEST_F(FaultTest, FailNthSyncCountsFromWhenArmed) {
  ASSERT_TRUE(file_->sync());
  ASSERT_TRUE(file_->sync());
  fault_.fail_nth_sync(2);
  ASSERT_TRUE(file_->sync());
  EXPECT_FALSE(file_->sync());
  EXPECT_TRUE(file_->sync());
  EXPECT_EQ(fault_.syncs(), 5u);
}

TEST_F(FaultTest, FailNthSyncDirLeavesTheEntriesNotDurable) {
  ASSERT_TRUE(write_text(fault_, "/d/new", "x"));
  fault_.fail_nth_sync_dir(1);
  auto failed = fault_.sync_dir("/d");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kIoError);
  EXPECT_EQ(memory_.sync_dir_count(), 0u);
  memory_.crash();
  EXPECT_FALSE(memory_.exists("/d/new").value());
  EXPECT_EQ(fault_.sync_dirs(), 1u);
}

TEST_F(FaultTest, FailNthRenameLeavesBothNamesAsTheyWere) {
  ASSERT_TRUE(write_text(fault_, "/d/a", "A"));
  ASSERT_TRUE(write_text(fault_, "/d/b", "B"));
  fault_.fail_nth_rename(1);
  auto failed = fault_.rename("/d/a", "/d/b");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kIoError);
  EXPECT_EQ(read_text(memory_, "/d/a"), "A");
  EXPECT_EQ(read_text(memory_, "/d/b"), "B");
  ASSERT_TRUE(fault_.rename("/d/a", "/d/b"));
  EXPECT_EQ(read_text(memory_, "/d/b"), "A");
}

TEST_F(FaultTest, FailNthOpenCreatesNothing) {
  fault_.fail_nth_open(1);
  auto failed = fault_.open("/d/new", OpenMode::kCreate);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kIoError);
  EXPECT_FALSE(memory_.exists("/d/new").value());
  EXPECT_TRUE(fault_.open("/d/new", OpenMode::kCreate));
  EXPECT_TRUE(memory_.exists("/d/new").value());
}

TEST_F(FaultTest, ArmingAWriteFaultReplacesTheArmedOne) {
  fault_.fail_nth_write(1);
  fault_.short_write_nth(2, 1);
  ASSERT_TRUE(file_->append(as_bytes("ab")));
  ASSERT_FALSE(file_->append(as_bytes("cd")));
  EXPECT_EQ(read_text(memory_, "/d/f"), "abc");
}

TEST_F(FaultTest, ClearFaultsDisarmsEveryPlan) {
  fault_.fail_nth_write(1);
  fault_.fail_nth_sync(1);
  fault_.fail_nth_sync_dir(1);
  fault_.fail_nth_rename(1);
  fault_.fail_nth_open(1);
  fault_.clear_faults();
  EXPECT_TRUE(file_->append(as_bytes("x")));
  EXPECT_TRUE(file_->sync());
  EXPECT_TRUE(fault_.sync_dir("/d"));
  EXPECT_TRUE(fault_.rename("/d/f", "/d/g"));
  EXPECT_TRUE(fault_.open("/d/g", OpenMode::kReadOnly));
}

TEST_F(FaultTest, HeldSyncsBlockUntilReleasedAndThenReachTheInnerFileSystem) {
  ASSERT_TRUE(file_->append(as_bytes("ab")));
  fault_.hold_syncs();
  std::thread syncer([&] { EXPECT_TRUE(file_->sync()); });
  while (fault_.syncs_waiting() == 0) std::this_thread::yield();
  EXPECT_EQ(durable_text("/d/f"), "") << "held: nothing synced yet";
  fault_.release_syncs();
  syncer.join();
  EXPECT_EQ(fault_.syncs_waiting(), 0u);
  EXPECT_EQ(durable_text("/d/f"), "ab");
}

}  // namespace
}  // namespace wharf::io
