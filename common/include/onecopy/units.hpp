// SPDX-License-Identifier: Apache-2.0
// Byte sizes as people write them ("1GiB", "512M", "4096") and as onecopy prints them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace onecopy {

inline constexpr std::uint64_t KiB = 1024;
inline constexpr std::uint64_t MiB = 1024 * KiB;
inline constexpr std::uint64_t GiB = 1024 * MiB;

/// Parses "4096", "4K", "4KiB", "1.5G", "2 MiB" (binary units: K = KiB). Case-insensitive.
/// @throws usage_error naming the text when it is not a size or overflows 64 bits
[[nodiscard]] std::uint64_t parse_size(std::string_view text);

/// "1 GiB", "1.5 GiB", "512 KiB", "100 B": at most one decimal, binary units.
[[nodiscard]] std::string format_bytes(std::uint64_t bytes);

/// Short page-size label: "4 KiB", "2 MiB", "1 GiB".
[[nodiscard]] std::string format_page_size(std::uint64_t bytes);

/// Durations for humans: "35 µs", "1.2 ms", "3.40 s".
[[nodiscard]] std::string format_seconds(double seconds);

[[nodiscard]] constexpr std::uint64_t round_up(std::uint64_t value, std::uint64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

}  // namespace onecopy
