// SPDX-License-Identifier: Apache-2.0
#include "describe.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include <fmt/format.h>

#include "onecopy/units.hpp"

namespace onecopy::cli {

std::string rate_text(std::uint64_t bytes, double seconds) {
  if (seconds <= 0) return "-";
  return fmt::format("{:.2f} GB/s", static_cast<double>(bytes) / seconds / 1e9);
}

std::string shape_text(const tensor_entry& t) {
  return fmt::format("{}[{}]", dtype_name(t.type), fmt::join(t.shape, ","));
}

std::string tensor_summary(const std::vector<tensor_entry>& tensors) {
  std::map<std::string_view, std::size_t> by_type;
  for (const auto& t : tensors) ++by_type[dtype_name(t.type)];
  std::string types;
  for (const auto& [name, n] : by_type) types += fmt::format("{}{} {}", types.empty() ? "" : ", ", name, n);
  return fmt::format("{} tensor{} ({})", tensors.size(), tensors.size() == 1 ? "" : "s", types);
}

std::string tensor_table(const std::vector<tensor_entry>& tensors, std::string_view indent) {
  std::size_t name_width = 0, shape_width = 0;
  std::vector<std::string> shapes;
  for (const auto& t : tensors) {
    name_width = std::max(name_width, std::min<std::size_t>(t.name.size(), 80));
    shapes.push_back(shape_text(t));
    shape_width = std::max(shape_width, shapes.back().size());
  }
  std::string out;
  for (std::size_t i = 0; i < tensors.size(); ++i)
    out += fmt::format("{}{:<{}}  {:<{}}  {:>10}\n", indent, tensors[i].name, name_width, shapes[i],
                       shape_width, format_bytes(tensors[i].size));
  return out;
}

std::string pages_text(const segment_info& info) {
  if (info.backing == backing_kind::thp) {
    if (info.huge_bytes == 0) return "4 KiB (THP tmpfs, no huge pages obtained)";
    return fmt::format("{} THP ({} of {} in huge pages)", format_page_size(info.page_size),
                       format_bytes(info.huge_bytes), format_bytes(info.file_size));
  }
  return fmt::format("{} {}", format_page_size(info.page_size), to_string(info.backing));
}

std::string histogram_text(const std::vector<node_pages>& histogram) {
  if (histogram.empty()) return "unknown";
  std::string s;
  for (const auto& h : histogram) s += fmt::format("{}node{} {}", s.empty() ? "" : " · ", h.node, h.pages);
  return s;
}

std::string placement_text(const segment_info& info) {
  const std::string where = info.where.to_string();
  if (!info.asked) return where;  // written before the request was recorded
  if (*info.asked == info.where.policy) return where + " (as asked)";
  return fmt::format("{} (asked: {})", where, to_string(*info.asked));
}

void print_put_diagnostics(const create_report& report, const std::vector<std::string>& extra_warnings,
                           const console& out) {
  std::set<std::string> said;
  auto say = [&](std::string_view kind, const std::string& text) {
    std::string line = fmt::format("{}: {}", kind, text);
    if (said.insert(line).second) out.note(line);
  };
  for (const auto& f : report.fallbacks) say("fallback", f);
  for (const auto& w : report.warnings) say("warning", w);
  for (const auto& w : extra_warnings) say("warning", w);
}

}  // namespace onecopy::cli
