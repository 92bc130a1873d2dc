// SPDX-License-Identifier: Apache-2.0
#include "proc_maps.hpp"

#include <sys/sysmacros.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>

#include "onecopy/sys/calls.hpp"

namespace onecopy::detail {

file_id file_id_of(std::uint64_t device, std::uint64_t inode) noexcept {
  return {gnu_dev_major(device), gnu_dev_minor(device), inode};
}

namespace {
bool maps_contain(const std::string& maps, const file_id& file) {
  std::istringstream in(maps);
  std::string line;
  while (std::getline(in, line)) {
    unsigned major = 0;
    unsigned minor = 0;
    unsigned long long inode = 0;
    // "lo-hi perms offset MAJ:MIN inode path"
    if (std::sscanf(line.c_str(), "%*s %*s %*s %x:%x %llu", &major, &minor, &inode) == 3 &&
        inode == file.inode && major == file.major && minor == file.minor)
      return true;
  }
  return false;
}
}  // namespace

std::vector<int> pids_mapping(const file_id& file) {
  std::vector<int> pids;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto maps = sys::read_text_if_exists(entry.path() / "maps");
    if (maps && maps_contain(*maps, file)) pids.push_back(std::stoi(name));
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

}  // namespace onecopy::detail
