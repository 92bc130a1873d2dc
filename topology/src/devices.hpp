// SPDX-License-Identifier: Apache-2.0
// Internal. Which PCI devices are GPUs or accelerators, and the live host's devices read from
// /sys/bus/pci (the live topology does not use hwloc's PCI plugin: its libpciaccess discovery
// leaks a little memory on every load, which the sanitizer builds report).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "onecopy/topology/topology.hpp"

namespace onecopy::detail {

/// The kind of a PCI device by vendor, class and OS device names; std::nullopt when it is
/// neither a GPU nor an accelerator (BMC VGA consoles, NICs, NVSwitches, …).
/// owns_gpu_memory: a GPU-memory NUMA node names this device's bus id.
[[nodiscard]] std::optional<device_kind> classify_pci(std::uint16_t vendor_id, std::uint16_t class_id,
                                                      const std::vector<std::string>& os_devices,
                                                      bool owns_gpu_memory);

/// A name for a device without a recorded model: "3D controller [10de:2330]".
[[nodiscard]] std::string pci_fallback_name(std::uint16_t vendor_id, std::uint16_t device_id, std::uint16_t class_id);

/// Sorts GPUs into PCI bus order and numbers them (gpu_device::index).
void number_gpus(std::vector<gpu_device>& gpus);

/// The GPUs and accelerators under a sysfs PCI device directory (/sys/bus/pci/devices): class,
/// vendor, device, numa_node and local_cpulist of each, DRM devices as OS devices, the model
/// from /proc/driver/nvidia when the NVIDIA driver is loaded. nodes gives home CPUs and GPU
/// memory; a device whose numa_node is -1 is local to the home nodes of its local CPUs.
[[nodiscard]] std::vector<gpu_device> sysfs_gpus(const std::vector<numa_node>& nodes,
                                                 const std::filesystem::path& root = "/sys/bus/pci/devices");

}  // namespace onecopy::detail
