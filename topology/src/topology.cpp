// SPDX-License-Identifier: Apache-2.0
// The topology value: lookups over nodes, CPUs and distances.
#include "onecopy/topology/topology.hpp"

#include <algorithm>

namespace onecopy {

std::string_view to_string(memory_kind k) noexcept {
  switch (k) {
    case memory_kind::dram: return "dram";
    case memory_kind::hbm: return "hbm";
    case memory_kind::mcdram: return "mcdram";
    case memory_kind::gpu_memory: return "gpu_memory";
    case memory_kind::cxl: return "cxl";
    case memory_kind::nvm: return "nvm";
    case memory_kind::other: return "other";
  }
  return "other";
}

std::string_view to_string(device_kind k) noexcept {
  return k == device_kind::gpu ? "gpu" : "accelerator";
}

std::string_view to_string(topology_source s) noexcept {
  switch (s) {
    case topology_source::live: return "live";
    case topology_source::xml: return "xml";
    case topology_source::synthetic: return "synthetic";
  }
  return "live";
}

const page_pool* numa_node::pool(std::uint64_t page_size) const noexcept {
  for (const auto& p : hugepages)
    if (p.page_size == page_size) return &p;
  return nullptr;
}

std::uint64_t numa_node::pool_bytes() const noexcept {
  std::uint64_t bytes = 0;
  for (const auto& p : hugepages) bytes += p.total * p.page_size;
  return bytes;
}

std::uint64_t numa_node::free_base_memory() const noexcept {
  if (free) return *free;
  const std::uint64_t pools = pool_bytes();
  return memory > pools ? memory - pools : 0;
}

topology::topology(parts p) : p_(std::move(p)) {
  std::sort(p_.nodes.begin(), p_.nodes.end(),
            [](const numa_node& a, const numa_node& b) { return a.os_index < b.os_index; });
}

const numa_node* topology::node(int os_index) const noexcept {
  for (const auto& n : p_.nodes)
    if (n.os_index == os_index) return &n;
  return nullptr;
}

const numa_node* topology::home_node_of_cpu(int cpu) const noexcept {
  for (const auto& n : p_.nodes)
    if (std::binary_search(n.cpus.begin(), n.cpus.end(), cpu)) return &n;
  return nullptr;
}

std::optional<std::uint64_t> topology::distance(int from, int to) const noexcept {
  if (p_.distances.size() != p_.nodes.size()) return std::nullopt;
  std::size_t i = p_.nodes.size(), j = p_.nodes.size();
  for (std::size_t k = 0; k < p_.nodes.size(); ++k) {
    if (p_.nodes[k].os_index == from) i = k;
    if (p_.nodes[k].os_index == to) j = k;
  }
  if (i == p_.nodes.size() || j == p_.nodes.size() || p_.distances[i].size() <= j) return std::nullopt;
  const auto d = p_.distances[i][j];
  if (d == 0) return std::nullopt;
  return d;
}

std::uint64_t topology::total_memory() const noexcept {
  std::uint64_t total = 0;
  for (const auto& n : p_.nodes) total += n.memory;
  return total;
}

}  // namespace onecopy
