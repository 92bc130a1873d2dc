// SPDX-License-Identifier: Apache-2.0
// The machine as placement sees it: NUMA nodes (memory, kind, home CPUs, huge-page pools),
// GPUs and accelerators with their local nodes and CPUs, and NUMA distances. A plain value,
// built from the live host (hwloc + /sys), an hwloc XML file or an hwloc synthetic string;
// nothing in it refers to hwloc once built, so it copies freely and tests can make their own.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace onecopy {

/// What memory a NUMA node has, from hwloc's node subtype.
enum class memory_kind {
  dram,        ///< ordinary host memory (no subtype, or "DRAM")
  hbm,         ///< on-package high-bandwidth memory ("HBM")
  mcdram,      ///< Xeon Phi MCDRAM in flat mode ("MCDRAM")
  gpu_memory,  ///< a GPU's memory exposed as a NUMA node ("GPUMemory"): never holds host copies
  cxl,         ///< CXL-attached memory (subtype or info naming CXL)
  nvm,         ///< persistent memory ("NVM")
  other,       ///< any other subtype (e.g. "SPM")
};
/// "dram", "hbm", "mcdram", "gpu_memory", "cxl", "nvm", "other" (the JSON ids).
[[nodiscard]] std::string_view to_string(memory_kind k) noexcept;

/// One huge-page pool of a node: pages of one size.
struct page_pool {
  std::uint64_t page_size = 0;        ///< bytes, e.g. 2 MiB
  std::uint64_t total = 0;            ///< pages in the pool (nr_hugepages)
  std::optional<std::uint64_t> free;  ///< free pages; unknown for XML (it records the pool only)

  /// free when known, else total (what an XML topology lets us assume).
  [[nodiscard]] std::uint64_t free_or_total() const noexcept { return free.value_or(total); }
};

/// One NUMA node.
struct numa_node {
  int os_index = 0;  ///< the kernel's node number; sparse on some machines (0, 8; 250-255)
  memory_kind kind = memory_kind::dram;
  std::string subtype;           ///< hwloc's subtype as recorded ("", "MCDRAM", "GPUMemory", …)
  std::vector<int> cpus;         ///< CPUs whose home node this is; empty for a CPU-less node
  std::vector<int> local_cpus;   ///< CPUs hwloc calls local to it (the cpuset of where it hangs)
  std::uint64_t memory = 0;      ///< local memory in bytes (huge-page pools included)
  std::optional<std::uint64_t> free;  ///< free memory in bytes outside the pools (live only)
  std::vector<page_pool> hugepages;   ///< pools larger than the base page, smallest first
  std::uint64_t base_page_size = 4096;
  bool allowed = true;     ///< false: outside this process's cpuset/cgroup (shown, never used)
  std::string gpu_bus_id;  ///< for GPU memory: the owning GPU's PCI bus id ("0004:05:00.0")

  /// The pool of this page size, or nullptr.
  [[nodiscard]] const page_pool* pool(std::uint64_t page_size) const noexcept;
  /// Bytes of the pools (total pages × page size).
  [[nodiscard]] std::uint64_t pool_bytes() const noexcept;
  /// Memory outside the huge-page pools that is free: the live count, or for an XML or
  /// synthetic topology everything outside the pools (free memory is not recorded there).
  [[nodiscard]] std::uint64_t free_base_memory() const noexcept;
};

/// What a PCI device found as a GPU or accelerator is.
enum class device_kind {
  gpu,          ///< a display or 3D controller from a GPU vendor, or one with GPU OS devices
  accelerator,  ///< a PCI processing accelerator or co-processor (class 0x12, 0x0b40)
};
/// "gpu", "accelerator".
[[nodiscard]] std::string_view to_string(device_kind k) noexcept;

/// A GPU or accelerator found on PCI. Debian's hwloc has no CUDA/NVML plugin, so GPUs are PCI
/// devices matched by bus id (see find_gpu_by_bus_id in pci.hpp).
struct gpu_device {
  int index = 0;               ///< position in topology::gpus(): PCI bus order
  std::string bus_id;          ///< "0000:18:00.0" (domain:bus:device.function, lowercase hex)
  std::uint16_t vendor_id = 0;  ///< 0x10de NVIDIA, 0x1002 AMD, …
  std::uint16_t device_id = 0;
  std::uint16_t class_id = 0;   ///< PCI class and subclass, e.g. 0x0302 (3D controller)
  device_kind kind = device_kind::gpu;
  std::string vendor;  ///< "NVIDIA", "AMD", or the vendor name recorded by hwloc
  std::string name;    ///< model ("Tesla T4") when known, else the PCI device name or ids
  std::vector<std::string> os_devices;  ///< hwloc OS devices under it: cuda0, nvml0, opencl0d0, …
  std::vector<int> local_nodes;   ///< host nodes near it (never GPU memory), by OS index
  std::vector<int> memory_nodes;  ///< its own memory exposed as GPU-memory NUMA nodes
  std::vector<int> local_cpus;    ///< CPUs near it (cpuset of its nearest non-I/O ancestor)
  std::string attached_to;  ///< what it hangs under, e.g. "Package P#0", "L3 (EPYC die)"
};

/// Where a topology came from.
enum class topology_source { live, xml, synthetic };
/// "live", "xml", "synthetic".
[[nodiscard]] std::string_view to_string(topology_source s) noexcept;

/// A mount that gives onecopy's files huge pages (live topologies only).
struct hugepage_mount {
  std::filesystem::path dir;
  std::uint64_t page_size = 0;  ///< hugetlbfs page size; 2 MiB for a THP tmpfs
  bool thp = false;             ///< a tmpfs mounted huge=always|within_size
};

/// The machine: NUMA nodes sorted by OS index, GPUs in PCI bus order, distances.
class topology {
 public:
  /// Everything a topology holds; build one by hand in tests, or with the loaders below.
  struct parts {
    topology_source source = topology_source::synthetic;
    std::string origin;  ///< the XML path or synthetic string; "" for live
    std::string host;    ///< host name (recorded in XML, or this host)
    std::string model;   ///< the machine's product name (DMI or platform model) when recorded
    std::string architecture;
    std::string cpu_model;
    std::string hwloc_version;  ///< the hwloc that wrote the XML (if recorded) or loaded it
    int packages = 0;
    int cores = 0;
    std::vector<int> cpus;          ///< every CPU (PU) the topology has, allowed or not
    std::vector<int> allowed_cpus;  ///< the CPUs this process may use
    std::vector<numa_node> nodes;
    std::vector<gpu_device> gpus;
    /// NUMA distances (relative latency, 10 = local) in nodes order; empty when not recorded.
    std::vector<std::vector<std::uint64_t>> distances;
    std::string distances_name;  ///< "NUMALatency", or "" when unnamed (hwloc v1 files)
    // Live only:
    std::string thp_shmem_mode;             ///< "never", "advise", …; "" when not live
    std::vector<hugepage_mount> mounts;     ///< hugetlbfs and THP tmpfs mounts
    int current_node = -1;                  ///< node of the calling thread at load time
    double load_seconds = 0;                ///< how long loading took
    std::vector<std::string> notes;         ///< oddities found while loading, one line each
  };

  /// This host: hwloc's native topology with disallowed nodes included (and marked), then live
  /// free memory, huge-page pools (total and free per node), THP mode and mounts from /sys.
  /// @throws os_error when hwloc cannot read the host (errno from hwloc_topology_load)
  [[nodiscard]] static topology live();
  /// An hwloc XML export (v1 or v2 format) of some machine; "not this system".
  /// @throws os_error (ENOENT, EACCES) naming the file; format_error naming the file when
  ///         hwloc cannot import it (e.g. a v3 export, or not XML at all)
  [[nodiscard]] static topology from_xml(const std::filesystem::path& file);
  /// An hwloc synthetic description, e.g. "pack:2 [numa(memory=64GiB)] core:8 pu:2".
  /// @throws usage_error naming the description when hwloc rejects it
  [[nodiscard]] static topology from_synthetic(std::string_view description);

  explicit topology(parts p);

  [[nodiscard]] const parts& info() const noexcept { return p_; }
  [[nodiscard]] topology_source source() const noexcept { return p_.source; }
  [[nodiscard]] const std::vector<numa_node>& nodes() const noexcept { return p_.nodes; }
  [[nodiscard]] const std::vector<gpu_device>& gpus() const noexcept { return p_.gpus; }

  /// The node with this OS index, or nullptr.
  [[nodiscard]] const numa_node* node(int os_index) const noexcept;
  /// The home node of a CPU (the node the kernel counts it in), or nullptr when unknown.
  [[nodiscard]] const numa_node* home_node_of_cpu(int cpu) const noexcept;
  /// NUMA distance between two nodes (OS indexes), or std::nullopt when not recorded.
  [[nodiscard]] std::optional<std::uint64_t> distance(int from, int to) const noexcept;
  /// Total memory of every node.
  [[nodiscard]] std::uint64_t total_memory() const noexcept;

 private:
  parts p_;
};

}  // namespace onecopy
