// SPDX-License-Identifier: Apache-2.0
#include "onecopy/engine/options.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"

namespace onecopy {

std::string_view to_string(page_size p) noexcept {
  switch (p) {
    case page_size::automatic: return "auto";
    case page_size::huge_1g: return "1g";
    case page_size::huge_2m: return "2m";
    case page_size::thp: return "thp";
    case page_size::base: return "4k";
  }
  return "auto";
}

page_size parse_page_size(std::string_view text) {
  std::string t;
  for (char c : text) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "auto") return page_size::automatic;
  if (t == "1g" || t == "1gib") return page_size::huge_1g;
  if (t == "2m" || t == "2mib") return page_size::huge_2m;
  if (t == "thp") return page_size::thp;
  if (t == "4k" || t == "4kib" || t == "base") return page_size::base;
  throw usage_error(fmt::format("bad page size '{}': use auto, 1g, 2m, thp or 4k", text));
}

placement placement::parse(std::string_view text) {
  auto bad = [&] {
    return usage_error(fmt::format(
        "bad NUMA placement '{}': use none, bind:N[,M], interleave or interleave:N,M", text));
  };
  const auto colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  placement p;
  if (kind == "none" || kind == "default") {
    if (colon != std::string_view::npos) throw bad();
    return p;
  }
  if (kind == "bind") p.policy = numa_policy::bind;
  else if (kind == "interleave") p.policy = numa_policy::interleave;
  else throw bad();
  if (colon != std::string_view::npos) {
    try {
      p.nodes = sys::parse_cpulist(text.substr(colon + 1));
    } catch (const usage_error&) {
      throw bad();
    }
    if (p.nodes.empty()) throw bad();
  } else if (p.policy == numa_policy::bind) {
    throw usage_error(fmt::format("bad NUMA placement '{}': bind needs nodes, e.g. bind:0", text));
  }
  std::sort(p.nodes.begin(), p.nodes.end());
  p.nodes.erase(std::unique(p.nodes.begin(), p.nodes.end()), p.nodes.end());
  return p;
}

std::string placement::to_string() const {
  switch (policy) {
    case numa_policy::none: return "none";
    case numa_policy::bind: return "bind:" + sys::format_cpulist(nodes);
    case numa_policy::interleave:
      return nodes.empty() ? "interleave" : "interleave:" + sys::format_cpulist(nodes);
  }
  return "none";
}

}  // namespace onecopy
