// SPDX-License-Identifier: Apache-2.0
#include "put_tensors.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "cli.hpp"
#include "describe.hpp"
#include "onecopy/engine/formats/load.hpp"
#include "onecopy/units.hpp"

namespace onecopy::cli {
namespace {

namespace fs = std::filesystem;

// The metadata as the files had it: the fingerprint is for programs, not for reading.
std::string metadata_without_source(const std::string& metadata) {
  if (metadata.empty()) return metadata;
  auto j = nlohmann::json::parse(metadata, nullptr, false);
  if (!j.is_object() || !j.contains(formats::source_key)) return metadata;
  j.erase(std::string(formats::source_key));
  return j.empty() ? std::string() : j.dump();
}

}  // namespace

bool is_tensor_input(const std::vector<std::string>& inputs) {
  for (const auto& in : inputs) {
    const fs::path p(in);
    std::error_code ec;
    if (fs::is_directory(p, ec) || p.extension() == ".safetensors" || p.extension() == ".npy" ||
        in.ends_with(".safetensors.index.json"))
      return true;
  }
  return false;
}

int put_tensor_files(const std::string& name, const std::vector<std::string>& inputs,
                     create_options opts, bool json, const console& out, const plan_placement& place) {
  const std::vector<fs::path> paths(inputs.begin(), inputs.end());
  // A model directory's config and tokenizer files travel with its weights, and the sources'
  // fingerprint lets onecopy.open_or_put tell whether an existing bundle came from them.
  const formats::load_plan plan =
      formats::plan_load(paths, {.keep_small_files = true, .record_source = true});
  if (!place(plan.bytes(), opts)) return 0;
  store s = open_store(out);
  const formats::load_result r = formats::load_into(s, name, plan, opts);
  const auto& info = r.segment.info();
  const std::uint64_t bytes = plan.bytes();
  out.detail(fmt::format("loaded {} file{} into {}: create {}, fill {} ({}), publish {}", plan.files.size(),
                         plan.files.size() == 1 ? "" : "s", r.segment.path().string(), format_seconds(r.create_seconds),
                         format_seconds(r.fill_seconds), rate_text(bytes, r.fill_seconds),
                         format_seconds(r.publish_seconds)));

  if (json) {
    auto j = segment_json(info);
    j["name"] = r.segment.name();
    j["path"] = r.segment.path().string();
    j["fallbacks"] = r.report.fallbacks;
    j["warnings"] = r.report.warnings;
    j["load_notes"] = plan.notes;
    j["load_warnings"] = plan.warnings;
    j["sources"] = nlohmann::json::array();
    for (const auto& f : plan.files) {
      std::uint64_t file_bytes = 0;
      for (const auto& t : f.tensors) file_bytes += t.size;
      j["sources"].push_back({{"path", f.path.string()}, {"format", formats::to_string(f.format)},
                              {"version", f.version}, {"tensors", f.tensors.size()},
                              {"header_bytes", f.header_size}, {"tensor_bytes", file_bytes}});
    }
    j["seconds"] = {{"create", r.create_seconds}, {"populate", r.report.populate_seconds},
                    {"fill", r.fill_seconds}, {"publish", r.publish_seconds}};
    print_json(j);
    return 0;
  }
  print_put_diagnostics(r.report, plan.warnings, out);
  // The kept small files are u8 entries of the table: count them apart from the tensors.
  std::vector<tensor_entry> tensors;
  for (const auto& t : info.tensors)
    if (!t.name.starts_with(formats::kept_file_prefix)) tensors.push_back(t);
  const std::size_t kept = info.tensors.size() - tensors.size();
  const std::string summary = tensor_summary(tensors) +
                              (kept == 0 ? "" : fmt::format(" and {} file{}", kept, kept == 1 ? "" : "s"));
  fmt::print("put {}: {}, {}, pages {}\n  path {}\n", r.segment.name(), summary,
             format_bytes(info.data_size), pages_text(info), r.segment.path().string());
  constexpr std::size_t shown = 8;
  for (std::size_t i = 0; i < plan.files.size() && i < shown; ++i) {
    const auto& f = plan.files[i];
    fmt::print("  from {} ({}{}{}, {} tensor{})\n", f.path.string(), formats::to_string(f.format),
               f.version.empty() ? "" : " ", f.version, f.tensors.size(), f.tensors.size() == 1 ? "" : "s");
  }
  if (plan.files.size() > shown) fmt::print("  … and {} more files\n", plan.files.size() - shown);
  for (const auto& n : plan.notes) fmt::print("  {}\n", n);
  if (const std::string meta = metadata_without_source(info.metadata); !meta.empty())
    fmt::print("  metadata {}\n", meta.size() > 120 ? meta.substr(0, 120) + "…" : meta);
  fmt::print("  placement {}, pages per node: {}\n", placement_text(info), histogram_text(info.histogram));
  fmt::print("  checksum {}   create {} (populate {}), fill {} ({}), publish {}\n",
             checksum_hex(info.checksum), format_seconds(r.create_seconds),
             format_seconds(r.report.populate_seconds), format_seconds(r.fill_seconds),
             rate_text(bytes, r.fill_seconds), format_seconds(r.publish_seconds));
  return 0;
}

}  // namespace onecopy::cli
