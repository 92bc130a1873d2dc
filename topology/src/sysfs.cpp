// SPDX-License-Identifier: Apache-2.0
#include "onecopy/topology/sysfs.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <sstream>

#include <fmt/format.h>

#include "onecopy/sys/calls.hpp"
#include "onecopy/units.hpp"

namespace onecopy::sysfs {
namespace {

const std::filesystem::path node_root = "/sys/devices/system/node";

std::vector<int> read_list(const std::filesystem::path& path) {
  auto text = sys::read_text_if_exists(path);
  if (!text) return {};
  try {
    return sys::parse_cpulist(*text);
  } catch (...) {
    return {};
  }
}

// Directories like "hugepages-2048kB" → 2 MiB pools.
std::vector<hugepage_pool> read_pools(const std::filesystem::path& dir) {
  std::vector<hugepage_pool> pools;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("hugepages-", 0) != 0) continue;
    std::uint64_t kb = 0;
    const char* begin = name.data() + 10;
    auto [end, err] = std::from_chars(begin, name.data() + name.size(), kb);
    if (err != std::errc() || kb == 0) continue;
    hugepage_pool p;
    p.page_size = kb * KiB;
    p.total = sys::read_number(entry.path() / "nr_hugepages").value_or(0);
    p.free = sys::read_number(entry.path() / "free_hugepages").value_or(0);
    pools.push_back(p);
  }
  std::sort(pools.begin(), pools.end(),
            [](const hugepage_pool& a, const hugepage_pool& b) { return a.page_size < b.page_size; });
  return pools;
}

// /proc/mounts writes space, tab, newline and backslash in paths as \ooo octal escapes.
std::string decode_octal(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool escape = s[i] == '\\' && i + 3 < s.size();
    if (escape && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
        s[i + 3] >= '0' && s[i + 3] <= '7') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::vector<int> online_nodes() {
  auto nodes = read_list(node_root / "online");
  if (nodes.empty()) nodes.push_back(0);
  return nodes;
}

std::vector<int> memory_nodes() {
  auto nodes = read_list(node_root / "has_memory");
  return nodes.empty() ? online_nodes() : nodes;
}

std::vector<int> node_cpus(int node) {
  return read_list(node_root / fmt::format("node{}", node) / "cpulist");
}

node_memory node_meminfo(int node) {
  node_memory m;
  auto text = sys::read_text_if_exists(node_root / fmt::format("node{}", node) / "meminfo");
  if (!text) return m;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    // "Node 0 MemTotal:       24684084 kB"
    std::istringstream words(line);
    std::string node_word, id, key;
    std::uint64_t kb = 0;
    if (!(words >> node_word >> id >> key >> kb)) continue;
    if (key == "MemTotal:") m.total = kb * KiB;
    if (key == "MemFree:") m.free = kb * KiB;
  }
  return m;
}

std::vector<hugepage_pool> node_hugepages(int node) {
  return read_pools(node_root / fmt::format("node{}", node) / "hugepages");
}

std::vector<hugepage_pool> host_hugepages() {
  return read_pools("/sys/kernel/mm/hugepages");
}

std::uint64_t free_hugepages(int node, std::uint64_t page_size) {
  for (const auto& p : node_hugepages(node))
    if (p.page_size == page_size) return p.free;
  return 0;
}

std::string thp_shmem_mode() {
  auto text = sys::read_text_if_exists("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
  if (!text) return "unsupported";
  const auto open = text->find('[');
  const auto close = text->find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return "unknown";
  return text->substr(open + 1, close - open - 1);
}

std::uint64_t base_page_size() { return static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)); }

std::string mount_entry::option(std::string_view key) const {
  std::string_view opts = options;
  std::size_t pos = 0;
  while (pos <= opts.size()) {
    std::size_t comma = opts.find(',', pos);
    if (comma == std::string_view::npos) comma = opts.size();
    const auto item = opts.substr(pos, comma - pos);
    if (item.substr(0, key.size()) == key && item.size() > key.size() && item[key.size()] == '=')
      return std::string(item.substr(key.size() + 1));
    pos = comma + 1;
  }
  return {};
}

std::vector<mount_entry> mounts() {
  std::vector<mount_entry> out;
  auto text = sys::read_text_if_exists("/proc/self/mounts");
  if (!text) return out;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string dev, dir, type, opts;
    if (!(words >> dev >> dir >> type >> opts)) continue;
    out.push_back({dev, decode_octal(dir), type, opts});
  }
  return out;
}

std::uint64_t hugetlbfs_page_size(const mount_entry& m) {
  const std::string size = m.option("pagesize");
  if (size.empty()) {
    // The default huge page size ("Hugepagesize:" in /proc/meminfo).
    auto text = sys::read_text_if_exists("/proc/meminfo");
    if (text) {
      const auto pos = text->find("Hugepagesize:");
      if (pos != std::string::npos) {
        std::istringstream in(text->substr(pos + 13));
        std::uint64_t kb = 0;
        if (in >> kb) return kb * KiB;
      }
    }
    return 2 * MiB;
  }
  try {
    return parse_size(size);
  } catch (...) {
    return 0;
  }
}

bool tmpfs_gives_thp(const mount_entry& m) {
  if (m.type != "tmpfs") return false;
  const std::string huge = m.option("huge");
  return huge == "always" || huge == "within_size";
}

int node_distance(int from, int to) {
  if (from < 0 || to < 0) return INT_MAX;
  if (from == to) return 10;
  // One number per online node, in node order.
  const auto online = online_nodes();
  const auto pos = std::find(online.begin(), online.end(), to);
  auto text = sys::read_text_if_exists(node_root / fmt::format("node{}", from) / "distance");
  if (!text || pos == online.end()) return 20;
  std::istringstream in(*text);
  int d = 20;
  for (auto i = online.begin(); i <= pos; ++i)
    if (!(in >> d)) return 20;
  return d;
}

int current_node() {
  unsigned cpu = 0;
  unsigned node = 0;
  if (::getcpu(&cpu, &node) != 0) return 0;
  return static_cast<int>(node);
}

}  // namespace onecopy::sysfs
