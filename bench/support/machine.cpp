// SPDX-License-Identifier: Apache-2.0
#include "machine.hpp"

#include <sys/utsname.h>

#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "onecopy/units.hpp"

namespace onecopy::bench {
namespace {

// The selected word of a sysfs mode file: "always [madvise] never" → "madvise".
std::string selected(const std::string& path) {
  const auto text = sys::read_text_if_exists(path).value_or("");
  const auto open = text.find('[');
  const auto close = text.find(']', open);
  if (open == std::string::npos || close == std::string::npos) return "unsupported";
  return text.substr(open + 1, close - open - 1);
}

std::string cpu_model() {
  std::istringstream in(sys::read_text_if_exists("/proc/cpuinfo").value_or(""));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string mem_total() {
  std::istringstream in(sys::read_text_if_exists("/proc/meminfo").value_or(""));
  std::string key;
  unsigned long long kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemTotal:") return format_bytes(kb * KiB);
  return "unknown";
}

}  // namespace

std::string load_average() {
  std::istringstream in(sys::read_text_if_exists("/proc/loadavg").value_or(""));
  std::string a, b, c;
  in >> a >> b >> c;
  return fmt::format("{} {} {}", a, b, c);
}

std::vector<std::pair<std::string, std::string>> machine_facts() {
  std::vector<std::pair<std::string, std::string>> f;
  const auto nodes = sysfs::memory_nodes();
  std::string node_text;
  for (int n : nodes)
    node_text += fmt::format("{}node {}: CPUs {}, {}", node_text.empty() ? "" : "; ", n,
                             sys::format_cpulist(sysfs::node_cpus(n)),
                             format_bytes(sysfs::node_meminfo(n).total));
  f.emplace_back("topology", fmt::format("{} NUMA node{}, {} CPUs ({}), {} RAM; {}", nodes.size(),
                                         nodes.size() == 1 ? "" : "s", std::thread::hardware_concurrency(),
                                         cpu_model(), mem_total(), node_text));
  std::string pools;
  for (const auto& p : sysfs::host_hugepages())
    pools += fmt::format("{}{}: {} ({} free)", pools.empty() ? "" : ", ", format_page_size(p.page_size),
                         p.total, p.free);
  f.emplace_back("base_page_size", format_page_size(sysfs::base_page_size()));
  f.emplace_back("hugepage_pools", pools.empty() ? "none" : pools);
  f.emplace_back("thp_enabled", selected("/sys/kernel/mm/transparent_hugepage/enabled"));
  f.emplace_back("thp_defrag", selected("/sys/kernel/mm/transparent_hugepage/defrag"));
  f.emplace_back("thp_shmem_enabled", sysfs::thp_shmem_mode());
  struct ::utsname u {};
  ::uname(&u);
  f.emplace_back("kernel", fmt::format("{} {}", u.sysname, u.release));
  f.emplace_back("load_average", load_average());
  return f;
}

}  // namespace onecopy::bench
