// SPDX-License-Identifier: Apache-2.0
#include "onecopy/engine/memory_usage.hpp"

#include <cinttypes>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "onecopy/sys/calls.hpp"
#include "onecopy/units.hpp"
#include "proc_maps.hpp"

namespace onecopy {
namespace {

std::uint64_t field_kb(const std::string& text, std::string_view key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) == 0 && line.size() > key.size() && line[key.size()] == ':') {
      unsigned long long kb = 0;
      std::sscanf(line.c_str() + key.size() + 1, "%llu", &kb);
      return kb * KiB;
    }
  }
  return 0;
}

}  // namespace

process_memory memory_of(int pid) {
  const std::filesystem::path proc = fmt::format("/proc/{}", pid);
  process_memory m;
  m.pss = field_kb(sys::read_text(proc / "smaps_rollup"), "Pss");
  // Hugetlb pages are not in Pss: find each hugetlb VMA and split it among its mappers.
  const std::string smaps = sys::read_text(proc / "smaps");
  std::istringstream in(smaps);
  std::string line;
  detail::file_id current;
  std::map<std::uint64_t, std::pair<detail::file_id, std::uint64_t>> hugetlb_by_inode;
  while (std::getline(in, line)) {
    unsigned major = 0;
    unsigned minor = 0;
    unsigned long long inode = 0;
    if (std::sscanf(line.c_str(), "%*x-%*x %*s %*s %x:%x %llu", &major, &minor, &inode) == 3) {
      current = {major, minor, inode};
      continue;
    }
    for (std::string_view key : {"Shared_Hugetlb", "Private_Hugetlb"}) {
      if (line.compare(0, key.size(), key) == 0 && line[key.size()] == ':') {
        unsigned long long kb = 0;
        std::sscanf(line.c_str() + key.size() + 1, "%llu", &kb);
        if (kb == 0) continue;
        m.hugetlb += kb * KiB;
        auto& slot = hugetlb_by_inode[current.inode ^ (std::uint64_t{current.major} << 48) ^ (std::uint64_t{current.minor} << 32)];
        slot.first = current;
        slot.second += kb * KiB;
      }
    }
  }
  for (const auto& [key, entry] : hugetlb_by_inode) {
    const auto& [file, bytes] = entry;
    const auto mappers = file.inode == 0 ? 1 : std::max<std::size_t>(1, detail::pids_mapping(file).size());
    m.hugetlb_share += bytes / mappers;
  }
  return m;
}

mapping_pages pages_of_mapping(const void* addr) {
  const std::string text = sys::read_text("/proc/self/smaps");
  const auto target = reinterpret_cast<std::uintptr_t>(addr);
  std::istringstream in(text);
  std::string line;
  bool inside = false;
  mapping_pages v;
  while (std::getline(in, line)) {
    std::uintptr_t lo = 0;
    std::uintptr_t hi = 0;
    // A VMA header line starts "lo-hi perms"; field lines start "Key:".
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
      if (inside) break;
      inside = target >= lo && target < hi;
      continue;
    }
    if (!inside) continue;
    char key[64];
    unsigned long long kb = 0;
    if (std::sscanf(line.c_str(), "%63[^:]: %llu kB", key, &kb) != 2) continue;
    const std::string k = key;
    const std::uint64_t bytes = kb * KiB;
    if (k == "KernelPageSize") v.kernel_page_size = bytes;
    else if (k == "Rss") v.rss = bytes;
    else if (k == "AnonHugePages" || k == "ShmemPmdMapped" || k == "FilePmdMapped") v.pmd_mapped += bytes;
    else if (k == "Shared_Hugetlb" || k == "Private_Hugetlb") v.hugetlb += bytes;
  }
  return v;
}

std::uint64_t total_memory_of(std::span<const int> pids) {
  std::uint64_t total = 0;
  for (int pid : pids) total += memory_of(pid).total();
  return total;
}

}  // namespace onecopy
