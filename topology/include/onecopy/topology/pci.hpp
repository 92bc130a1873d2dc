// SPDX-License-Identifier: Apache-2.0
// PCI bus ids as CUDA, nvidia-smi, sysfs and hwloc write them, and the lookup of a GPU by its
// bus id: the bridge from "CUDA device N" (cudaDeviceGetPCIBusId) to the topology's GPU entry.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "onecopy/topology/topology.hpp"

namespace onecopy {

/// A PCI address: domain:bus:device.function.
struct pci_address {
  std::uint32_t domain = 0;
  std::uint8_t bus = 0;
  std::uint8_t device = 0;    ///< 0-31
  std::uint8_t function = 0;  ///< 0-7

  /// Parses "0000:18:00.0", "00000000:18:00.0" (nvidia-smi), "18:00.0" (domain 0), any case.
  /// @throws usage_error naming the text and the expected form
  [[nodiscard]] static pci_address parse(std::string_view text);
  /// "0000:18:00.0" (4-digit domain unless it needs more, lowercase hex).
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const pci_address&, const pci_address&) = default;
  friend auto operator<=>(const pci_address&, const pci_address&) = default;
};

/// The GPU whose PCI bus id is bus_id (any form pci_address::parse accepts), or nullptr.
/// For CUDA device N: find_gpu_by_bus_id(t, id) with id from cudaDeviceGetPCIBusId(N).
/// @throws usage_error when bus_id is not a PCI bus id
[[nodiscard]] const gpu_device* find_gpu_by_bus_id(const topology& t, std::string_view bus_id);

/// A vendor's short name for well-known PCI vendor ids ("NVIDIA", "AMD", "Intel"), else "".
[[nodiscard]] std::string_view pci_vendor_name(std::uint16_t vendor_id) noexcept;

}  // namespace onecopy
