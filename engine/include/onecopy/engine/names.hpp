// SPDX-License-Identifier: Apache-2.0
// Segment names: [A-Za-z0-9._-]{1,200}, not starting with '.'. Checked before any filesystem call.
#pragma once

#include <cstddef>
#include <string_view>

namespace onecopy {

inline constexpr std::size_t max_name_length = 200;

/// @throws usage_error saying what is wrong with name and what is allowed
void validate_name(std::string_view name);

/// True when validate_name would accept name.
[[nodiscard]] bool is_valid_name(std::string_view name) noexcept;

}  // namespace onecopy
