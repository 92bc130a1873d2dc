// SPDX-License-Identifier: Apache-2.0
#include "onecopy/engine/names.hpp"

#include <fmt/format.h>

#include "onecopy/error.hpp"

namespace onecopy {
namespace {
bool allowed(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}
const char* problem(std::string_view name) noexcept {
  if (name.empty()) return "it is empty";
  if (name.size() > max_name_length) return "it is longer than 200 characters";
  if (name.front() == '.') return "it starts with '.'";
  for (char c : name)
    if (!allowed(c)) return "it contains a character other than A-Z a-z 0-9 . _ -";
  return nullptr;
}
}  // namespace

bool is_valid_name(std::string_view name) noexcept { return problem(name) == nullptr; }

void validate_name(std::string_view name) {
  if (const char* why = problem(name)) {
    std::string shown(name.substr(0, 60));
    for (char& c : shown)
      if (static_cast<unsigned char>(c) < 0x20) c = '?';
    if (name.size() > 60) shown += "…";
    throw usage_error(fmt::format(
        "invalid segment name '{}': {} (names are 1-200 characters of A-Z a-z 0-9 . _ -, not "
        "starting with '.')",
        shown, why));
  }
}

}  // namespace onecopy
