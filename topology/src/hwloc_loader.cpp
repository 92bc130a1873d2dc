// SPDX-License-Identifier: Apache-2.0
// Builds a topology value from hwloc (native, XML or synthetic), then for the live host
// overlays what hwloc does not keep current: free memory, huge-page pools with free counts,
// THP mode and mounts (from /sys and /proc). The only file that includes hwloc.
#include <hwloc.h>
#include <hwloc/distances.h>

#include <fcntl.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <tuple>

#include <fmt/format.h>

#include "devices.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/pci.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "onecopy/topology/topology.hpp"
#include "onecopy/units.hpp"

namespace onecopy {
namespace {

struct hwloc_deleter {
  void operator()(hwloc_topology* t) const noexcept { hwloc_topology_destroy(t); }
};
using hwloc_ptr = std::unique_ptr<hwloc_topology, hwloc_deleter>;

// A topology handle configured the way onecopy needs it: I/O devices that matter (GPUs; the
// live host reads them from sysfs instead, see devices.hpp), and objects outside our cgroup
// included so they can be shown and marked rather than vanish.
hwloc_ptr make_handle(bool io = true) {
  hwloc_topology_t t = nullptr;
  if (hwloc_topology_init(&t) != 0) sys::throw_errno("hwloc_topology_init");
  hwloc_ptr p(t);
  hwloc_topology_set_io_types_filter(t, io ? HWLOC_TYPE_FILTER_KEEP_IMPORTANT : HWLOC_TYPE_FILTER_KEEP_NONE);
  hwloc_topology_set_flags(t, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
  return p;
}

std::vector<int> ids_of(hwloc_const_bitmap_t set) {
  std::vector<int> out;
  if (set == nullptr || hwloc_bitmap_weight(set) < 0) return out;  // empty or infinite
  for (int id = hwloc_bitmap_first(set); id >= 0; id = hwloc_bitmap_next(set, id)) out.push_back(id);
  return out;
}

std::string info_of(hwloc_obj_t obj, const char* name) {
  if (obj == nullptr) return {};
  const char* v = hwloc_obj_get_info_by_name(obj, name);
  return v != nullptr ? v : "";
}

std::string lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

memory_kind kind_of(hwloc_obj_t node) {
  const std::string sub = node->subtype != nullptr ? node->subtype : "";
  const std::string low = lowercase(sub);
  if (low.find("cxl") != std::string::npos || !info_of(node, "CXLDevice").empty()) return memory_kind::cxl;
  if (low.empty() || low == "dram") return memory_kind::dram;
  if (low == "hbm") return memory_kind::hbm;
  if (low == "mcdram") return memory_kind::mcdram;
  if (low == "gpumemory") return memory_kind::gpu_memory;
  if (low == "nvm") return memory_kind::nvm;
  return memory_kind::other;
}

// "Package P#0", "L3 L#3", "Group0 L#1": what an object is, as lstopo names it.
std::string describe(hwloc_obj_t obj) {
  char type[64];
  hwloc_obj_type_snprintf(type, sizeof type, obj, 0);
  if (obj->type == HWLOC_OBJ_MACHINE) return type;
  if (obj->os_index != HWLOC_UNKNOWN_INDEX && obj->type == HWLOC_OBJ_PACKAGE)
    return fmt::format("{} P#{}", type, obj->os_index);
  return fmt::format("{} L#{}", type, obj->logical_index);
}

std::vector<numa_node> read_nodes(hwloc_topology_t t) {
  std::vector<numa_node> nodes;
  hwloc_const_nodeset_t allowed = hwloc_topology_get_allowed_nodeset(t);
  const int count = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
  for (int i = 0; i < count; ++i) {
    hwloc_obj_t obj = hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
    numa_node n;
    n.os_index = static_cast<int>(obj->os_index);
    n.kind = kind_of(obj);
    n.subtype = obj->subtype != nullptr ? obj->subtype : "";
    n.local_cpus = ids_of(obj->cpuset);
    n.memory = obj->attr->numanode.local_memory;
    n.allowed = hwloc_bitmap_isset(allowed, obj->os_index) != 0;
    if (n.kind == memory_kind::gpu_memory) {
      const std::string bus = info_of(obj, "PCIBusID");
      try {
        n.gpu_bus_id = bus.empty() ? "" : pci_address::parse(bus).to_string();
      } catch (const usage_error&) {
        n.gpu_bus_id = bus;
      }
    }
    // page_types[0] is the base page; the others are huge-page pools (their size, not free).
    // hwloc 3 drops page_types: this is the one place that reads them.
    const auto& attr = obj->attr->numanode;
    for (unsigned k = 0; k < attr.page_types_len; ++k) {
      if (k == 0) {
        if (attr.page_types[0].size != 0) n.base_page_size = attr.page_types[0].size;
        continue;
      }
      n.hugepages.push_back({attr.page_types[k].size, attr.page_types[k].count, std::nullopt});
    }
    std::sort(n.hugepages.begin(), n.hugepages.end(),
              [](const page_pool& a, const page_pool& b) { return a.page_size < b.page_size; });
    nodes.push_back(std::move(n));
  }
  return nodes;
}

// The kernel counts each CPU in exactly one node; hwloc gives every node the cpuset of where it
// hangs, so MCDRAM/HBM/GPU memory share their neighbours' CPUs and a CXL node hanging off the
// machine gets all of them. The home node is the ordinary-memory node with the smallest cpuset.
void assign_home_cpus(std::vector<numa_node>& nodes, const std::vector<int>& cpus) {
  for (int cpu : cpus) {
    numa_node* best = nullptr;
    auto rank = [](const numa_node& n) {
      return std::tuple(n.kind != memory_kind::dram, n.local_cpus.size(), n.os_index);
    };
    for (auto& n : nodes) {
      if (!std::binary_search(n.local_cpus.begin(), n.local_cpus.end(), cpu)) continue;
      if (best == nullptr || rank(n) < rank(*best)) best = &n;
    }
    if (best != nullptr) best->cpus.push_back(cpu);
  }
}

std::vector<gpu_device> read_gpus(hwloc_topology_t t, const std::vector<numa_node>& nodes) {
  std::vector<gpu_device> gpus;
  for (hwloc_obj_t pci = hwloc_get_next_pcidev(t, nullptr); pci != nullptr;
       pci = hwloc_get_next_pcidev(t, pci)) {
    const auto& a = pci->attr->pcidev;
    gpu_device g;
    g.bus_id = pci_address{a.domain, a.bus, a.dev, a.func}.to_string();
    g.vendor_id = a.vendor_id;
    g.device_id = a.device_id;
    g.class_id = a.class_id;
    std::string model;
    for (hwloc_obj_t c = pci->io_first_child; c != nullptr; c = c->next_sibling) {
      if (c->type != HWLOC_OBJ_OS_DEVICE || c->name == nullptr) continue;
      g.os_devices.emplace_back(c->name);
      if (model.empty()) model = info_of(c, "GPUModel");
    }
    const bool owns_memory = std::any_of(nodes.begin(), nodes.end(), [&](const numa_node& n) {
      return n.kind == memory_kind::gpu_memory && n.gpu_bus_id == g.bus_id;
    });
    const auto kind = detail::classify_pci(a.vendor_id, a.class_id, g.os_devices, owns_memory);
    if (!kind) continue;
    g.kind = *kind;
    g.vendor = std::string(pci_vendor_name(a.vendor_id));
    if (g.vendor.empty()) g.vendor = info_of(pci, "PCIVendor");
    if (g.vendor.empty()) g.vendor = fmt::format("vendor {:04x}", a.vendor_id);
    g.name = !model.empty() ? model : info_of(pci, "PCIDevice");
    if (g.name.empty()) g.name = detail::pci_fallback_name(a.vendor_id, a.device_id, a.class_id);

    // Locality: the nearest non-I/O ancestor (a Package, Group, L3 cache or the Machine). When
    // its nodeset holds no host node (a restricted export can leave it empty), go up.
    hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(t, pci);
    g.attached_to = anc != nullptr ? describe(anc) : "";
    for (hwloc_obj_t o = anc; o != nullptr; o = o->parent) {
      std::vector<int> host;
      for (int id : ids_of(o->nodeset)) {
        const auto it = std::find_if(nodes.begin(), nodes.end(), [&](const numa_node& n) { return n.os_index == id; });
        if (it != nodes.end() && it->kind != memory_kind::gpu_memory) host.push_back(id);
      }
      if (!host.empty()) {
        g.local_nodes = std::move(host);
        g.local_cpus = ids_of(o->cpuset);
        break;
      }
    }
    for (const auto& n : nodes)
      if (n.kind == memory_kind::gpu_memory && n.gpu_bus_id == g.bus_id) g.memory_nodes.push_back(n.os_index);
    gpus.push_back(std::move(g));
  }
  detail::number_gpus(gpus);
  return gpus;
}

void read_distances(hwloc_topology_t t, topology::parts& p) {
  unsigned nr = 0;
  if (hwloc_distances_get_by_type(t, HWLOC_OBJ_NUMANODE, &nr, nullptr, 0, 0) != 0 || nr == 0) return;
  std::vector<hwloc_distances_s*> all(nr, nullptr);
  if (hwloc_distances_get_by_type(t, HWLOC_OBJ_NUMANODE, &nr, all.data(), 0, 0) != 0) return;
  all.resize(std::min<std::size_t>(nr, all.size()));
  // Prefer the OS's latency matrix (ACPI SLIT, "NUMALatency"); v1 imports have no name.
  hwloc_distances_s* best = nullptr;
  int best_rank = 3;
  for (auto* d : all) {
    const char* name = hwloc_distances_get_name(t, d);
    const int rank = name != nullptr && std::strcmp(name, "NUMALatency") == 0 ? 0
                     : (d->kind & HWLOC_DISTANCES_KIND_MEANS_LATENCY) != 0 ? 1 : 2;
    if (rank < best_rank) {
      best = d;
      best_rank = rank;
    }
  }
  if (best != nullptr && (best->kind & HWLOC_DISTANCES_KIND_MEANS_LATENCY) != 0) {
    std::map<unsigned, std::size_t> position;
    for (std::size_t k = 0; k < p.nodes.size(); ++k) position[static_cast<unsigned>(p.nodes[k].os_index)] = k;
    p.distances.assign(p.nodes.size(), std::vector<std::uint64_t>(p.nodes.size(), 0));
    for (unsigned i = 0; i < best->nbobjs; ++i) {
      for (unsigned j = 0; j < best->nbobjs; ++j) {
        const auto a = position.find(best->objs[i]->os_index);
        const auto b = position.find(best->objs[j]->os_index);
        if (a == position.end() || b == position.end()) continue;
        p.distances[a->second][b->second] = best->values[i * best->nbobjs + j];
      }
    }
    const char* name = hwloc_distances_get_name(t, best);
    p.distances_name = name != nullptr ? name : "";
  }
  for (auto* d : all) hwloc_distances_release(t, d);
}

// The hwloc library we load with (HWLOC_VERSION is the release; the API version lags behind).
std::string library_version() {
#ifdef HWLOC_VERSION
  return HWLOC_VERSION;
#else
  const unsigned v = hwloc_get_api_version();
  return fmt::format("{}.{}.{} (API)", v >> 16, (v >> 8) & 0xff, v & 0xff);
#endif
}

// Everything hwloc knows, as a value.
topology::parts extract(hwloc_topology_t t) {
  topology::parts p;
  hwloc_obj_t root = hwloc_get_root_obj(t);
  p.host = info_of(root, "HostName");
  p.architecture = info_of(root, "Architecture");
  p.model = info_of(root, "DMIProductName");
  if (p.model.empty()) p.model = info_of(root, "PlatformModel");
  while (!p.model.empty() && p.model.back() == ' ') p.model.pop_back();
  p.hwloc_version = info_of(root, "hwlocVersion");
  if (hwloc_obj_t pkg = hwloc_get_obj_by_type(t, HWLOC_OBJ_PACKAGE, 0)) p.cpu_model = info_of(pkg, "CPUModel");
  if (p.cpu_model.empty()) p.cpu_model = info_of(root, "CPUModel");
  while (!p.cpu_model.empty() && p.cpu_model.back() == ' ') p.cpu_model.pop_back();
  p.packages = std::max(0, hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE));
  p.cores = std::max(0, hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE));
  p.cpus = ids_of(hwloc_topology_get_topology_cpuset(t));
  p.allowed_cpus = ids_of(hwloc_topology_get_allowed_cpuset(t));
  p.nodes = read_nodes(t);
  assign_home_cpus(p.nodes, p.cpus);
  p.gpus = read_gpus(t, p.nodes);
  std::sort(p.nodes.begin(), p.nodes.end(), [](const numa_node& a, const numa_node& b) { return a.os_index < b.os_index; });
  read_distances(t, p);
  return p;
}

// /sys knows the current free memory and the pools with their free pages; hwloc only the
// pool sizes at load time.
void overlay_live(topology::parts& p) {
  const std::uint64_t base = sysfs::base_page_size();
  for (auto& n : p.nodes) {
    n.base_page_size = base;
    const auto mem = sysfs::node_meminfo(n.os_index);
    if (mem.total > 0) n.free = mem.free;
    n.hugepages.clear();
    for (const auto& pool : sysfs::node_hugepages(n.os_index))
      n.hugepages.push_back({pool.page_size, pool.total, pool.free});
  }
  // Seen in a Firecracker VM (kernel 6.18): node0/meminfo counts 7.8 GiB while /proc/meminfo
  // counts 23.5 GiB. On a one-node host the host-wide numbers are the better truth.
  if (p.nodes.size() == 1) {
    if (auto text = sys::read_text_if_exists("/proc/meminfo")) {
      std::uint64_t total = 0, free = 0;
      std::istringstream in(*text);
      std::string key;
      std::uint64_t kb = 0;
      std::string unit;
      while (in >> key >> kb) {
        if (key == "MemTotal:") total = kb * KiB;
        if (key == "MemFree:") free = kb * KiB;
        std::getline(in, unit);
      }
      auto& n = p.nodes.front();
      if (total > n.memory + n.memory / 10) {
        p.notes.push_back(fmt::format("node {} meminfo counts {} but /proc/meminfo {}: using the host-wide "
                                      "figures for this one-node host", n.os_index, format_bytes(n.memory),
                                      format_bytes(total)));
        n.memory = total;
        n.free = free;
      }
    }
  }
  p.thp_shmem_mode = sysfs::thp_shmem_mode();
  for (const auto& m : sysfs::mounts()) {
    if (m.type == "hugetlbfs") p.mounts.push_back({m.dir, sysfs::hugetlbfs_page_size(m), false});
    else if (sysfs::tmpfs_gives_thp(m)) p.mounts.push_back({m.dir, 2 * MiB, true});
  }
  p.current_node = sysfs::current_node();
  if (p.host.empty()) p.host = sys::host_name();
}

using clock = std::chrono::steady_clock;

topology finish(hwloc_topology_t t, topology_source source, std::string origin, clock::time_point start) {
  topology::parts p = extract(t);
  p.source = source;
  p.origin = std::move(origin);
  if (p.hwloc_version.empty() || source != topology_source::xml)
    p.hwloc_version = library_version();
  if (source == topology_source::live) {
    overlay_live(p);
    p.gpus = detail::sysfs_gpus(p.nodes);
  }
  p.load_seconds = std::chrono::duration<double>(clock::now() - start).count();
  return topology(std::move(p));
}

}  // namespace

topology topology::live() {
  const auto start = clock::now();
  // HWLOC_XMLFILE / HWLOC_SYNTHETIC in the environment replace the host: then it is not live.
  const char* xml = std::getenv("HWLOC_XMLFILE");
  const bool replaced = (xml != nullptr && *xml != '\0') || std::getenv("HWLOC_SYNTHETIC") != nullptr;
  hwloc_ptr h = make_handle(replaced);
  if (hwloc_topology_load(h.get()) != 0) sys::throw_errno("hwloc_topology_load(this host)");
  if (!hwloc_topology_is_thissystem(h.get()))
    return finish(h.get(), topology_source::xml, xml != nullptr ? xml : "HWLOC_* environment", start);
  return finish(h.get(), topology_source::live, "", start);
}

topology topology::from_xml(const std::filesystem::path& file) {
  const auto start = clock::now();
  { sys::unique_fd probe = sys::open(file, O_RDONLY); }  // ENOENT/EACCES named, before hwloc
  hwloc_ptr h = make_handle();
  if (hwloc_topology_set_xml(h.get(), file.c_str()) != 0) {
    const int err = errno;
    throw format_error(fmt::format("{}: hwloc {} cannot import it as an XML topology ({}; hwloc "
                                   "2.x reads v1 and v2 exports, not v3)", file.string(),
                                   library_version(), sys::errno_text(err)));
  }
  if (hwloc_topology_load(h.get()) != 0) {
    const int err = errno;
    throw format_error(fmt::format("{}: hwloc_topology_load failed: {}", file.string(), sys::errno_text(err)));
  }
  if (hwloc_get_nbobjs_by_type(h.get(), HWLOC_OBJ_NUMANODE) <= 0)
    throw format_error(fmt::format("{}: the topology has no NUMA node", file.string()));
  return finish(h.get(), topology_source::xml, file.string(), start);
}

topology topology::from_synthetic(std::string_view description) {
  const auto start = clock::now();
  hwloc_ptr h = make_handle();
  const std::string text(description);
  if (hwloc_topology_set_synthetic(h.get(), text.c_str()) != 0 || hwloc_topology_load(h.get()) != 0)
    throw usage_error(fmt::format("bad hwloc synthetic topology '{}' (e.g. \"pack:2 [numa(memory=64GiB)] "
                                  "core:8 pu:2\"; see hwloc's synthetic documentation)", text));
  return finish(h.get(), topology_source::synthetic, text, start);
}

}  // namespace onecopy
