#include "base/admin_routes.h"

#include <condition_variable>
#include <memory>

namespace wharf::admin_routes {
namespace {

// A route and the calls of it in progress: remove() waits for them, so that a handler never
// runs after the object it points at (a saga coordinator, a projection) was destroyed.
struct Entry {
  std::string path;
  Handler handler;
  int active = 0;        // guarded by Registry::mu
  bool removed = false;  // guarded by Registry::mu
};

struct Registry {
  std::mutex mu;
  std::condition_variable idle;
  std::uint64_t next = 1;
  std::map<std::uint64_t, std::shared_ptr<Entry>> routes;
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

std::uint64_t add(std::string path, Handler handler) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  const std::uint64_t id = r.next++;
  auto e = std::make_shared<Entry>();
  e->path = std::move(path);
  e->handler = std::move(handler);
  r.routes.emplace(id, std::move(e));
  return id;
}

void remove(std::uint64_t id) {
  Registry& r = registry();
  std::unique_lock lock(r.mu);
  auto it = r.routes.find(id);
  if (it == r.routes.end()) return;
  std::shared_ptr<Entry> e = it->second;
  r.routes.erase(it);
  e->removed = true;
  r.idle.wait(lock, [&] { return e->active == 0; });
}

std::optional<Handler> find(const std::string& path) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  for (const auto& route : r.routes) {
    const std::shared_ptr<Entry>& e = route.second;
    if (e->path != path) continue;
    // The returned handler counts itself in while it runs; once the route is removed it
    // answers an error instead of calling into what registered it.
    return Handler([e]() -> Result<std::string> {
      Registry& reg = registry();
      {
        std::lock_guard l(reg.mu);
        if (e->removed) return fail(ErrorCode::kNotFound, "{} is no longer served", e->path);
        ++e->active;
      }
      struct Leave {
        Registry& reg;
        Entry& e;
        ~Leave() {
          {
            std::lock_guard l(reg.mu);
            --e.active;
          }
          reg.idle.notify_all();
        }
      } leave{reg, *e};
      return e->handler();
    });
  }
  return std::nullopt;
}

std::vector<std::string> paths() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<std::string> out;
  for (const auto& [id, e] : r.routes) out.push_back(e->path);
  return out;
}

}  // namespace wharf::admin_routes
