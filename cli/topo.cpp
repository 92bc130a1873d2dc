// SPDX-License-Identifier: Apache-2.0
// onecopy topo (interim): a short summary of this machine's NUMA nodes and huge pages from sysfs.
#include <fmt/format.h>

#include "cli.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "onecopy/units.hpp"

namespace onecopy::cli {

void add_topo(CLI::App& app, registry& r) {
  auto summary = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("topo", "Show this machine's NUMA nodes and huge-page pools");
  sub->add_flag("--summary", *summary, "A few lines only");
  r.add(sub, [] {
    const auto nodes = sysfs::online_nodes();
    fmt::print("{} NUMA node{}, THP shmem mode '{}'\n", nodes.size(), nodes.size() == 1 ? "" : "s",
               sysfs::thp_shmem_mode());
    for (int n : nodes) {
      const auto mem = sysfs::node_meminfo(n);
      std::string pools;
      for (const auto& p : sysfs::node_hugepages(n))
        pools += fmt::format("  {} pages {}/{} free", format_page_size(p.page_size), p.free, p.total);
      fmt::print("node {}: CPUs {}, {} ({} free){}\n", n, sys::format_cpulist(sysfs::node_cpus(n)),
                 format_bytes(mem.total), format_bytes(mem.free), pools);
    }
    return 0;
  });
}

}  // namespace onecopy::cli
