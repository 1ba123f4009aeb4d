#include "base/admin_routes.h"

namespace wharf::admin_routes {
namespace {

struct Registry {
  std::mutex mu;
  std::uint64_t next = 1;
  std::map<std::uint64_t, std::pair<std::string, Handler>> routes;
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
  r.routes.emplace(id, std::make_pair(std::move(path), std::move(handler)));
  return id;
}

void remove(std::uint64_t id) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  r.routes.erase(id);
}

std::optional<Handler> find(const std::string& path) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  for (const auto& [id, route] : r.routes) {
    if (route.first == path) return route.second;
  }
  return std::nullopt;
}

std::vector<std::string> paths() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<std::string> out;
  for (const auto& [id, route] : r.routes) out.push_back(route.first);
  return out;
}

}  // namespace wharf::admin_routes
