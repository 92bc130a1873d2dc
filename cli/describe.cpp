// SPDX-License-Identifier: Apache-2.0
#include "describe.hpp"

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include <fmt/format.h>

#include "onecopy/units.hpp"

namespace onecopy::cli {

std::string checksum_text(std::uint64_t checksum) { return fmt::format("{:016x}", checksum); }

std::string rate_text(std::uint64_t bytes, double seconds) {
  if (seconds <= 0) return "-";
  return fmt::format("{:.2f} GB/s", static_cast<double>(bytes) / seconds / 1e9);
}

std::string time_text(std::int64_t ns) {
  const std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
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

nlohmann::json info_json(const segment_info& info) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : info.tensors)
    tensors.push_back({{"name", t.name}, {"dtype", dtype_name(t.type)}, {"shape", t.shape},
                       {"offset", t.offset}, {"bytes", t.size}});
  nlohmann::json hist = nlohmann::json::array();
  for (const auto& h : info.histogram) hist.push_back({{"node", h.node}, {"pages", h.pages}});
  return {
      {"version", info.version},
      {"kind", info.bundle ? "bundle" : "array"},
      {"file_bytes", info.file_size},
      {"data_offset", info.data_offset},
      {"data_bytes", info.data_size},
      {"checksum", checksum_text(info.checksum)},
      {"checksum_algorithm", "xxh3-64 over 16 MiB chunks"},
      {"backing", to_string(info.backing)},
      {"page_size", info.page_size},
      {"huge_bytes", info.huge_bytes},
      {"placement", info.where.to_string()},
      {"node_histogram", hist},
      {"remove_when_unused", info.remove_when_unused},
      {"creator", {{"pid", info.creator_pid}, {"uid", info.creator_uid}, {"host", info.creator_host}}},
      {"created_ns", info.created_ns},
      {"created", time_text(info.created_ns)},
      {"metadata", info.metadata},
      {"tensors", tensors},
  };
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
