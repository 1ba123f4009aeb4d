// A bounded least-recently-used cache of prepared statements for one connection.
//
// Owned by one connection object, used by the one thread that holds that connection; not
// thread-safe. The backend supplies what a statement handle is and how to free one (SQLite:
// sqlite3_finalize; PostgreSQL: DEALLOCATE). The bound keeps long-running processes that build
// SQL text dynamically from growing without limit.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>

#include "base/check.h"

namespace wharf::sql {

template <typename Handle>
class StatementCache {
 public:
  using Finalizer = std::function<void(Handle&)>;

  StatementCache(std::size_t size_max, Finalizer finalize)
      : size_max_(size_max), finalize_(std::move(finalize)) {
    WHARF_CHECK(size_max_ > 0);
  }
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;
  ~StatementCache() { clear(); }

  // The cached handle for `key`, marked most recently used, or nullptr.
  Handle* find(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    entries_.splice(entries_.begin(), entries_, it->second);
    return &it->second->second;
  }

  // Adds a handle (the key must not be cached yet), evicting the least recently used beyond
  // the bound. Returns the stored handle.
  Handle& insert(std::string key, Handle handle) {
    WHARF_DCHECK(index_.find(key) == index_.end());
    while (entries_.size() >= size_max_) evict_last();
    entries_.emplace_front(std::move(key), std::move(handle));
    index_[entries_.front().first] = entries_.begin();
    return entries_.front().second;
  }

  // Drops one entry (a statement that failed in a way that may leave it stale).
  void erase(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    finalize_(it->second->second);
    entries_.erase(it->second);
    index_.erase(it);
  }

  void clear() {
    while (!entries_.empty()) evict_last();
  }

  // Forgets every entry without finalizing (the connection that owned them is gone).
  void forget() {
    index_.clear();
    entries_.clear();
  }

  std::size_t size() const { return entries_.size(); }

 private:
  void evict_last() {
    auto& entry = entries_.back();
    finalize_(entry.second);
    index_.erase(entry.first);
    entries_.pop_back();
  }

  const std::size_t size_max_;
  const Finalizer finalize_;
  std::list<std::pair<std::string, Handle>> entries_;  // most recently used first
  std::unordered_map<std::string, typename std::list<std::pair<std::string, Handle>>::iterator>
      index_;
};

}  // namespace wharf::sql
