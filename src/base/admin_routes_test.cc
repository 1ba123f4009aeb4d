#include "base/admin_routes.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace wharf::admin_routes {
namespace {

using namespace std::chrono_literals;

TEST(AdminRoutes, FindsByExactPathAndForgetsRemovedRoutes) {
  const auto id = add("/v1/test-a", [] { return Result<std::string>("a"); });
  ASSERT_TRUE(find("/v1/test-a"));
  EXPECT_EQ(*(*find("/v1/test-a"))(), "a");
  EXPECT_FALSE(find("/v1/test"));
  auto earlier = find("/v1/test-a");
  remove(id);
  EXPECT_FALSE(find("/v1/test-a"));
  // A handler found before the removal no longer calls into what registered it.
  auto r = (*earlier)();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
}

// remove() waits for a call in progress: the owner may free what the handler uses right after.
TEST(AdminRoutes, RemoveWaitsForACallInProgress) {
  std::atomic<bool> entered{false}, release{false}, finished{false};
  const auto id = add("/v1/test-slow", [&] {
    entered = true;
    while (!release) std::this_thread::sleep_for(1ms);
    finished = true;
    return Result<std::string>("slow");
  });
  auto h = find("/v1/test-slow");
  ASSERT_TRUE(h);
  std::thread call([&] { EXPECT_EQ(*(*h)(), "slow"); });
  while (!entered) std::this_thread::sleep_for(1ms);
  std::atomic<bool> removed{false};
  std::thread remover([&] {
    remove(id);
    removed = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(removed) << "remove() returned while the handler was running";
  release = true;
  remover.join();
  call.join();
  EXPECT_TRUE(finished);
  EXPECT_TRUE(removed);
}

}  // namespace
}  // namespace wharf::admin_routes
