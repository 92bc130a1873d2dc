// SPDX-License-Identifier: Apache-2.0
// The spellings of the placement vocabulary: the only parser of --numa/numa= and --pages/pages=.
#include "onecopy/topology/placement.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"

namespace onecopy {
namespace {

std::string lower(std::string_view text) {
  std::string t;
  for (char c : text) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

}  // namespace

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
  const std::string t = lower(text);
  if (t == "auto") return page_size::automatic;
  if (t == "1g" || t == "1gib") return page_size::huge_1g;
  if (t == "2m" || t == "2mib") return page_size::huge_2m;
  if (t == "thp") return page_size::thp;
  if (t == "4k" || t == "4kib" || t == "base") return page_size::base;
  throw usage_error(fmt::format("bad page size '{}': use auto, 1g, 2m, thp or 4k", text));
}

std::string_view to_string(numa_policy p) noexcept {
  switch (p) {
    case numa_policy::local: return "local";
    case numa_policy::bind: return "bind";
    case numa_policy::interleave: return "interleave";
    case numa_policy::replicate: return "replicate";
    case numa_policy::automatic: return "auto";
  }
  return "local";
}

placement placement::parse(std::string_view text) {
  auto bad = [&] {
    return usage_error(fmt::format("bad NUMA placement '{}': use auto, local, bind[:N,M], interleave[:N-M] or "
                                   "replicate[:N,M]", text));
  };
  const std::string t = lower(text);
  const auto colon = t.find(':');
  const std::string kind = t.substr(0, colon);
  placement p;
  if (kind == "auto") p.policy = numa_policy::automatic;
  else if (kind == "local" || kind == "none" || kind == "default") p.policy = numa_policy::local;
  else if (kind == "bind") p.policy = numa_policy::bind;
  else if (kind == "interleave") p.policy = numa_policy::interleave;
  else if (kind == "replicate") p.policy = numa_policy::replicate;
  else throw bad();
  if (colon == std::string::npos) return p;
  if (p.policy == numa_policy::automatic || p.policy == numa_policy::local) throw bad();
  try {
    p.nodes = sys::parse_cpulist(t.substr(colon + 1));
  } catch (const usage_error&) {
    throw bad();
  }
  if (p.nodes.empty()) throw bad();
  std::sort(p.nodes.begin(), p.nodes.end());
  p.nodes.erase(std::unique(p.nodes.begin(), p.nodes.end()), p.nodes.end());
  return p;
}

std::string placement::to_string() const {
  const std::string_view kind = onecopy::to_string(policy);
  if (nodes.empty()) return std::string(kind);
  return fmt::format("{}:{}", kind, sys::format_cpulist(nodes));
}

bool placement::needs_plan() const noexcept {
  switch (policy) {
    case numa_policy::automatic:
    case numa_policy::replicate: return true;
    case numa_policy::bind: return nodes.empty();
    case numa_policy::local:
    case numa_policy::interleave: return false;
  }
  return true;
}

}  // namespace onecopy
