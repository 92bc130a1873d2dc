// SPDX-License-Identifier: Apache-2.0
// The store: its construction from the environment, a config or one directory, its backings,
// and the lookups every operation shares (lock paths, the files of a name). Creating lives in
// store_create.cpp, attaching in store_attach.cpp, list/problems/remove/gc in store_listing.cpp
// (design §2, §4, §5).
#include "onecopy/engine/store.hpp"

#include <cstdlib>

#include "backing.hpp"
#include "internals.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "store_files.hpp"

namespace onecopy {

// ---- store::impl ------------------------------------------------------------------------------

std::filesystem::path store::impl::lock_path(std::string_view name) const {
  return lock_dir / (std::string(name) + ".lock");
}

void store::impl::ensure_lock_dir() const {
  // The lock directory sits inside a store directory (ONECOPY_DIR or /dev/shm/onecopy-$UID):
  // both must be private.
  detail::ensure_private_dir(lock_dir.parent_path());
  detail::ensure_private_dir(lock_dir);
}

namespace {
// The nodes a replica file can name: the kernel's possible nodes, read once per process
// (empty when there are too many to probe one by one: then the directory is listed instead).
const std::vector<int>& replica_nodes() {
  static const std::vector<int> nodes = [] {
    std::vector<int> out;
    try {
      if (auto text = sys::read_text_if_exists("/sys/devices/system/node/possible")) out = sys::parse_cpulist(*text);
    } catch (const std::exception&) {
      out.clear();
    }
    if (out.empty()) out.push_back(0);
    if (out.size() > 64) out.clear();
    return out;
  }();
  return nodes;
}
}  // namespace

std::vector<std::filesystem::path> store::impl::files_of(std::string_view name) const {
  // By name, not by listing the directory: a store of 10,000 segments would make every
  // create and open_or_create read 10,000 entries.
  std::vector<std::filesystem::path> out;
  const std::string prefix = detail::replica_prefix(name);
  const auto& nodes = replica_nodes();
  if (nodes.empty()) {
    detail::for_each_store_file(backings, [&](const detail::store_file& f) {
      if (f.name == name || f.name.starts_with(prefix)) out.push_back(f.path());
    });
    return out;
  }
  for (const auto& b : backings) {
    const sys::unique_fd dir = detail::open_private_dir(b.dir);
    if (!dir) continue;
    if (sys::stat_at_if_exists(dir.get(), b.dir, name)) out.push_back(b.dir / std::string(name));
    for (int node : nodes) {
      const std::string replica = detail::replica_file_name(name, node);
      if (sys::stat_at_if_exists(dir.get(), b.dir, replica)) out.push_back(b.dir / replica);
    }
  }
  return out;
}

std::string store::impl::directories() const {
  std::string list;
  for (const auto& b : backings) list += (list.empty() ? "" : ", ") + b.dir.string();
  return list;
}

// ---- construction -----------------------------------------------------------------------------

store::store(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
store::store(const store& other) : impl_(std::make_unique<impl>(*other.impl_)) {}
store& store::operator=(const store& other) {
  if (this != &other) impl_ = std::make_unique<impl>(*other.impl_);
  return *this;
}
store::store(store&&) noexcept = default;
store& store::operator=(store&&) noexcept = default;
store::~store() = default;

store store::from_environment() {
  if (const char* dir = std::getenv("ONECOPY_DIR"); dir != nullptr && *dir != '\0') return at(dir);
  const char* conf = std::getenv("ONECOPY_CONF");
  const std::filesystem::path file = conf != nullptr && *conf != '\0' ? conf : "/etc/onecopy.conf";
  if (auto config = detail::read_config(file)) return from_config(*config);
  return from_config(detail::discover_config());
}

store store::at(const std::filesystem::path& dir) {
  store_config config;
  config.roots = {dir};
  config.single_directory = true;
  return from_config(config);
}

store store::from_config(const store_config& config) {
  if (config.roots.empty()) throw usage_error("store configuration lists no store directories");
  auto p = std::make_unique<impl>();
  p->config = config;
  for (const auto& root : config.roots) {
    backing_info b = detail::probe_backing(root);
    b.dir = config.single_directory ? root : root / detail::user_dir_name();
    p->backings.push_back(b);
  }
  detail::sort_backings(p->backings);
  if (config.single_directory) p->lock_dir = config.roots.front() / ".locks";
  else if (!config.lock_root.empty()) p->lock_dir = config.lock_root / ".locks";
  else p->lock_dir = std::filesystem::path("/dev/shm") / detail::user_dir_name() / ".locks";
  return store(std::move(p));
}

const std::vector<backing_info>& store::backings() const noexcept { return impl_->backings; }

std::filesystem::path store::runtime_dir() const {
  impl_->ensure_lock_dir();
  return impl_->lock_dir;
}

}  // namespace onecopy
