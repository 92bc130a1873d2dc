// SPDX-License-Identifier: Apache-2.0
#include "onecopy/units.hpp"

#include <cctype>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "onecopy/error.hpp"

namespace onecopy {

std::uint64_t parse_size(std::string_view text) {
  const std::string original(text);
  auto bad = [&](std::string_view why) {
    return usage_error(fmt::format("bad size '{}': {} (examples: 4096, 64K, 512MiB, 1.5G)",
                                   original, why));
  };
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  if (text.empty()) throw bad("empty");
  std::size_t digits = 0;
  while (digits < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.'))
    ++digits;
  if (digits == 0) throw bad("no number");
  const std::string_view number = text.substr(0, digits);
  std::string_view unit = text.substr(digits);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  std::string u;
  for (char c : unit) u += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::uint64_t multiplier = 1;
  if (u.empty() || u == "b") multiplier = 1;
  else if (u == "k" || u == "kb" || u == "kib") multiplier = KiB;
  else if (u == "m" || u == "mb" || u == "mib") multiplier = MiB;
  else if (u == "g" || u == "gb" || u == "gib") multiplier = GiB;
  else if (u == "t" || u == "tb" || u == "tib") multiplier = 1024 * GiB;
  else throw bad("unknown unit '" + std::string(unit) + "'");

  if (number.find('.') == std::string_view::npos) {
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || end != number.data() + number.size()) throw bad("not a number");
    if (value != 0 && multiplier > UINT64_MAX / value) throw bad("too large");
    return value * multiplier;
  }
  double value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || end != number.data() + number.size()) throw bad("not a number");
  const long double bytes = static_cast<long double>(value) * static_cast<long double>(multiplier);
  if (bytes >= 18446744073709551615.0L) throw bad("too large");
  return static_cast<std::uint64_t>(std::llround(bytes));
}

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < KiB) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 5) {
    value /= 1024.0;
    ++unit;
  }
  const double rounded = std::round(value * 10.0) / 10.0;
  if (rounded == std::floor(rounded)) return fmt::format("{:.0f} {}", rounded, units[unit]);
  return fmt::format("{:.1f} {}", rounded, units[unit]);
}

std::string format_page_size(std::uint64_t bytes) { return format_bytes(bytes); }

std::string format_seconds(double seconds) {
  if (seconds < 1e-3) return fmt::format("{:.0f} µs", seconds * 1e6);
  if (seconds < 1.0) return fmt::format("{:.1f} ms", seconds * 1e3);
  return fmt::format("{:.2f} s", seconds);
}

}  // namespace onecopy
