// Test support for wharf_kafka_protocol_test: replaces global operator new/delete to record the
// largest single allocation, so that malformed-input tests can check that lying lengths are
// rejected BEFORE anything big is allocated. Kept in its own translation unit so that the
// compiler never sees a new and its matching free together. Thread-safe (one atomic).

#include <atomic>
#include <cstdlib>
#include <new>

namespace wharf::kafka::protocol::testing {

namespace {
std::atomic<std::size_t> g_largest_allocation{0};
}  // namespace

void reset_largest_allocation() { g_largest_allocation.store(0); }
std::size_t largest_allocation() { return g_largest_allocation.load(); }

}  // namespace wharf::kafka::protocol::testing

void* operator new(std::size_t size) {
  auto& largest = wharf::kafka::protocol::testing::g_largest_allocation;
  std::size_t seen = largest.load(std::memory_order_relaxed);
  while (size > seen && !largest.compare_exchange_weak(seen, size)) {
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
