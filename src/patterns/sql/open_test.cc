// wharf::sql::open_existing: a missing SQLite file is an error and stays missing.
#include <gtest/gtest.h>

#include <filesystem>

#include "wharf/sql/open.h"

namespace wharf::sql {
namespace {

namespace fs = std::filesystem;

class OpenExistingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("wharf-open-existing-" +
            std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(OpenExistingTest, AMissingSqliteFileIsNotFoundAndNotCreated) {
  const auto path = dir_ / "typo.db";
  for (const std::string& url : {"sqlite:" + path.string(), "sqlite://" + path.string()}) {
    auto db = open_existing(url);
    ASSERT_FALSE(db.has_value()) << url;
    EXPECT_EQ(db.error().code(), ErrorCode::kNotFound) << url;
    EXPECT_NE(db.error().to_string().find("no such SQLite file"), std::string::npos)
        << db.error().to_string();
    EXPECT_FALSE(fs::exists(path)) << url;
  }
}

TEST_F(OpenExistingTest, ANameTooLongForTheFileSystemIsAnErrorNotAnException) {
  const std::string url = "sqlite:" + (dir_ / std::string(32 * 1024, 'x')).string();
  auto db = open_existing(url);
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.error().code(), ErrorCode::kNotFound) << db.error().to_string();
}

TEST_F(OpenExistingTest, AnExistingFileOpensAndOpenStillCreates) {
  const auto created = dir_ / "created.db";
  ASSERT_TRUE(open("sqlite:" + created.string()).has_value());  // open() creates it
  EXPECT_TRUE(fs::exists(created));
  auto db = open_existing("sqlite:" + created.string());
  ASSERT_TRUE(db.has_value()) << db.error().to_string();
  EXPECT_TRUE(open_existing("sqlite::memory:").has_value());
}

}  // namespace
}  // namespace wharf::sql
