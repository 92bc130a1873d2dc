// SPDX-License-Identifier: Apache-2.0
// sysfs_topology() and memory_of(pid). The topology is what onecopy/topology/sysfs.hpp reads
// today; the Python layer (onecopy.topology()) owns the shape of the dict it returns.
#include "system_binding.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "onecopy/engine/memory_usage.hpp"
#include "onecopy/engine/write_fault.hpp"
#include "onecopy/topology/sysfs.hpp"

namespace nb = nanobind;

namespace onecopy::python {
namespace {

nb::list pools_list(const std::vector<sysfs::hugepage_pool>& pools) {
  nb::list l;
  for (const auto& p : pools) {
    nb::dict d;
    d["page_size"] = p.page_size;
    d["total"] = p.total;
    d["free"] = p.free;
    l.append(d);
  }
  return l;
}

nb::dict sysfs_topology() {
  nb::dict t;
  nb::list nodes;
  const auto with_memory = sysfs::memory_nodes();
  for (int node : sysfs::online_nodes()) {
    nb::dict n;
    n["id"] = node;
    n["cpus"] = sysfs::node_cpus(node);
    const auto mem = sysfs::node_meminfo(node);
    n["memory_total"] = mem.total;
    n["memory_free"] = mem.free;
    n["has_memory"] = std::find(with_memory.begin(), with_memory.end(), node) != with_memory.end();
    n["hugepages"] = pools_list(sysfs::node_hugepages(node));
    nodes.append(n);
  }
  t["nodes"] = nodes;
  t["hugepages"] = pools_list(sysfs::host_hugepages());
  t["thp_shmem"] = sysfs::thp_shmem_mode();
  t["base_page_size"] = sysfs::base_page_size();
  t["current_node"] = sysfs::current_node();
  return t;
}

nb::dict memory_of(int pid) {
  process_memory m;
  {
    nb::gil_scoped_release release;
    m = onecopy::memory_of(pid);
  }
  nb::dict d;
  d["pss"] = m.pss;
  d["hugetlb"] = m.hugetlb;
  d["hugetlb_share"] = m.hugetlb_share;
  d["total"] = m.total();
  return d;
}

}  // namespace

void bind_system(nb::module_& m) {
  m.def("sysfs_topology", &sysfs_topology,
        "NUMA nodes (CPUs, memory, huge-page pools), host pools, THP mode, from /sys.");
  m.def("memory_of", &memory_of, nb::arg("pid"),
        "A process's memory: Pss (smaps_rollup) plus its share of hugetlb mappings, in bytes.");
  m.def("pages_of_mapping",
        [](std::uintptr_t addr) {
          mapping_pages p;
          {
            nb::gil_scoped_release release;
            p = pages_of_mapping(reinterpret_cast<const void*>(addr));
          }
          nb::dict d;
          d["kernel_page_size"] = p.kernel_page_size;
          d["rss"] = p.rss;
          d["pmd_mapped"] = p.pmd_mapped;
          d["hugetlb"] = p.hugetlb;
          return d;
        },
        nb::arg("address"), "What this process maps of the VMA holding address (smaps).");
  m.def("install_write_fault_report", &install_write_fault_report,
        "SIGSEGV handler naming the segment and tensor a write faulted in (then dies as before).");
  m.def("uninstall_write_fault_report", &uninstall_write_fault_report);
  m.def("write_fault_report_installed", &write_fault_report_installed);
}

}  // namespace onecopy::python
