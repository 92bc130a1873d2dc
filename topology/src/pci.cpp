// SPDX-License-Identifier: Apache-2.0
// PCI bus id parsing and GPU lookup by bus id.
#include "onecopy/topology/pci.hpp"

#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "onecopy/error.hpp"

namespace onecopy {
namespace {

// Parses one hex field of at most max_digits digits; false when empty or not hex.
bool hex_field(std::string_view s, std::size_t max_digits, std::uint32_t& out) {
  if (s.empty() || s.size() > max_digits) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

pci_address pci_address::parse(std::string_view text) {
  auto bad = [&] {
    return usage_error(fmt::format("bad PCI bus id '{}': expected domain:bus:device.function in "
                                   "hex, e.g. 0000:18:00.0", text));
  };
  std::string_view s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  const auto dot = s.rfind('.');
  if (dot == std::string_view::npos) throw bad();
  const std::string_view func_text = s.substr(dot + 1);
  s = s.substr(0, dot);
  const auto last_colon = s.rfind(':');
  if (last_colon == std::string_view::npos) throw bad();
  const std::string_view dev_text = s.substr(last_colon + 1);
  s = s.substr(0, last_colon);
  std::string_view domain_text = "0";
  std::string_view bus_text = s;
  if (const auto colon = s.rfind(':'); colon != std::string_view::npos) {
    domain_text = s.substr(0, colon);
    bus_text = s.substr(colon + 1);
  }
  std::uint32_t domain = 0, bus = 0, dev = 0, func = 0;
  if (!hex_field(domain_text, 8, domain) || !hex_field(bus_text, 2, bus) ||
      !hex_field(dev_text, 2, dev) || !hex_field(func_text, 1, func) || dev > 31 || func > 7)
    throw bad();
  return {domain, static_cast<std::uint8_t>(bus), static_cast<std::uint8_t>(dev),
          static_cast<std::uint8_t>(func)};
}

std::string pci_address::to_string() const {
  return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", domain, bus, device, function);
}

const gpu_device* find_gpu_by_bus_id(const topology& t, std::string_view bus_id) {
  const pci_address wanted = pci_address::parse(bus_id);
  for (const auto& g : t.gpus())
    if (pci_address::parse(g.bus_id) == wanted) return &g;
  return nullptr;
}

std::string_view pci_vendor_name(std::uint16_t vendor_id) noexcept {
  switch (vendor_id) {
    case 0x10de: return "NVIDIA";
    case 0x1002: return "AMD";
    case 0x8086: return "Intel";
    default: return "";
  }
}

}  // namespace onecopy
