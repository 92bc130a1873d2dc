// SPDX-License-Identifier: Apache-2.0
// Names of the files in a store directory, and the walk over the store's directories.
#include "store_files.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "backing.hpp"
#include "onecopy/sys/calls.hpp"

namespace onecopy::detail {
namespace {
constexpr std::string_view temp_suffix = ".tmp";
constexpr std::string_view replica_marker = "@node";
}  // namespace

std::string replica_file_name(std::string_view name, int node) {
  return fmt::format("{}{}{}", name, replica_marker, node);
}

std::string replica_prefix(std::string_view name) { return std::string(name) + std::string(replica_marker); }

int replica_node_of(std::string_view file) {
  const auto at = file.find(replica_marker);
  if (at == std::string_view::npos) return -1;
  const auto digits = file.substr(at + replica_marker.size());
  int node = -1;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), node);
  return ec == std::errc() && end == digits.data() + digits.size() && !digits.empty() ? node : -1;
}

std::string_view base_of(std::string_view file) {
  return file.substr(0, std::min(file.size(), file.find(replica_marker)));
}

std::string temp_file_name(std::string_view file, int pid) {
  return fmt::format(".{}.{}{}", file, pid, temp_suffix);
}

std::string temp_owner(std::string_view file) {
  if (file.size() < 2 + temp_suffix.size() || file.front() != '.' || !file.ends_with(temp_suffix)) return {};
  file.remove_prefix(1);
  file.remove_suffix(temp_suffix.size());
  const auto dot = file.rfind('.');
  if (dot == std::string_view::npos) return {};
  return std::string(file.substr(0, dot));
}

void for_each_file_in(const std::filesystem::path& dir, const store_file_visitor& visit) {
  const sys::unique_fd fd = open_private_dir(dir);
  if (!fd) return;
  for (const auto& name : sys::list_directory(fd.get(), dir)) visit(store_file{dir, fd.get(), name});
}

void for_each_store_file(const std::vector<backing_info>& backings, const store_file_visitor& visit) {
  for (const auto& b : backings) for_each_file_in(b.dir, visit);
}

}  // namespace onecopy::detail
