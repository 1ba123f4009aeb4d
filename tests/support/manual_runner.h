// Test support: a storage::TaskRunner whose tasks wait until the test runs them, so that every
// step of a partition's scheduled syncs or a connection's read-ahead is deterministic. With
// `refuse` set it refuses tasks, as a stopped server's pool does. Test thread only.
#pragma once

#include <deque>
#include <functional>

#include "storage/partition.h"

namespace wharf::test {

struct ManualRunner {
  std::deque<std::function<void()>> tasks;
  bool refuse = false;

  storage::TaskRunner runner() {
    return [this](std::function<void()> f) {
      if (refuse) return false;
      tasks.push_back(std::move(f));
      return true;
    };
  }
  // Runs the queued tasks, and those they queue, in order; how many ran.
  int run_all() {
    int n = 0;
    while (!tasks.empty()) {
      auto f = std::move(tasks.front());
      tasks.pop_front();
      f();
      ++n;
    }
    return n;
  }
};

}  // namespace wharf::test
