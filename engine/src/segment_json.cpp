// SPDX-License-Identifier: Apache-2.0
#include "onecopy/engine/segment_json.hpp"

#include <ctime>

#include <fmt/format.h>

namespace onecopy {

std::string checksum_hex(std::uint64_t checksum) { return fmt::format("{:016x}", checksum); }

std::string utc_text(std::int64_t ns) {
  const std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

nlohmann::json segment_json(const segment_info& info) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : info.tensors)
    tensors.push_back({{"name", t.name}, {"dtype", dtype_name(t.type)}, {"shape", t.shape},
                       {"offset", t.offset}, {"bytes", t.size}});
  nlohmann::json hist = nlohmann::json::array();
  for (const auto& h : info.histogram) hist.push_back({{"node", h.node}, {"pages", h.pages}});
  return {
      {"schema", segment_json_schema},
      {"version", info.version},
      {"kind", info.bundle ? "bundle" : "array"},
      {"file_bytes", info.file_size},
      {"data_offset", info.data_offset},
      {"data_bytes", info.data_size},
      {"checksum", checksum_hex(info.checksum)},
      {"checksum_algorithm", "xxh3-64 over 16 MiB chunks"},
      {"backing", to_string(info.backing)},
      {"page_size", info.page_size},
      {"huge_bytes", info.huge_bytes},
      {"placement", info.where.to_string()},
      {"placement_asked", info.asked ? nlohmann::json(to_string(*info.asked)) : nlohmann::json(nullptr)},
      {"node_histogram", hist},
      {"remove_when_unused", info.remove_when_unused},
      {"creator", {{"pid", info.creator_pid}, {"uid", info.creator_uid}, {"host", info.creator_host}}},
      {"created_ns", info.created_ns},
      {"created", utc_text(info.created_ns)},
      {"metadata", info.metadata},
      {"tensors", tensors},
  };
}

}  // namespace onecopy
