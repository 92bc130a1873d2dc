// SPDX-License-Identifier: Apache-2.0
// A model directory's small files and the source fingerprint (see model_files.hpp).
#include "model_files.hpp"

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "onecopy/engine/checksum.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/units.hpp"

namespace onecopy::detail {
namespace {

namespace fs = std::filesystem;

// Weights in formats the loader does not read: never "small files" a loader needs beside a
// bundle (and often large).
constexpr std::array<std::string_view, 13> weight_extensions = {
    ".safetensors", ".npy", ".npz", ".bin", ".pt", ".pth", ".ckpt", ".h5",
    ".msgpack", ".onnx", ".ot", ".gguf", ".tflite"};

bool is_weights_or_index(const fs::path& p) {
  const std::string name = p.filename().string();
  if (name.ends_with(".safetensors.index.json") || name.ends_with(".bin.index.json")) return true;
  const std::string ext = p.extension().string();
  return std::find(weight_extensions.begin(), weight_extensions.end(), ext) != weight_extensions.end();
}

std::string hex(std::uint64_t v) { return fmt::format("{:016x}", v); }

// xxh3 of len bytes of path from offset 0 (a header, or a whole small file).
std::uint64_t digest_of(const fs::path& path, std::uint64_t len) {
  const sys::unique_fd fd = sys::open(path, O_RDONLY);
  std::vector<std::byte> buffer(static_cast<std::size_t>(len));
  const std::size_t got = sys::pread_full(fd.get(), buffer.data(), buffer.size(), 0, path);
  return chunk_digest({buffer.data(), got});
}

}  // namespace

std::vector<formats::kept_file> find_kept_files(const fs::path& dir, std::vector<std::string>& notes) {
  constexpr int max_depth = 2;  // dir/a/b/file: 3 levels
  std::vector<formats::kept_file> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec);
  if (ec) throw os_error(ec.value(), fmt::format("opendir({})", dir.string()));
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) throw os_error(ec.value(), fmt::format("readdir({})", it->path().parent_path().string()));
    const fs::path& p = it->path();
    std::error_code ec2;
    if (p.filename().string().starts_with(".")) {  // .git, .cache, .gitattributes
      if (it->is_directory(ec2)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory(ec2)) {
      if (it.depth() >= max_depth) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec2) || is_weights_or_index(p)) continue;
    const std::uint64_t size = it->file_size(ec2);
    if (ec2) throw os_error(ec2.value(), fmt::format("stat({})", p.string()));
    const std::string relative = p.lexically_relative(dir).generic_string();
    if (size > formats::max_kept_file) {
      notes.push_back(fmt::format("{}: {} is over {}, not kept", relative, format_bytes(size),
                                  format_bytes(formats::max_kept_file)));
      continue;
    }
    out.push_back({p, relative, size});
  }
  if (ec) throw os_error(ec.value(), fmt::format("readdir({})", dir.string()));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.relative < b.relative; });
  return out;
}

std::string source_fingerprint(const formats::load_plan& plan) {
  nlohmann::json files = nlohmann::json::array(), kept = nlohmann::json::array();
  for (const auto& f : plan.files)
    files.push_back({{"name", f.path.filename().string()}, {"bytes", f.file_size},
                     {"header_xxh3", hex(digest_of(f.path, f.header_size))}});
  for (const auto& k : plan.kept_files)
    kept.push_back({{"name", k.relative}, {"bytes", k.size}, {"xxh3", hex(digest_of(k.path, k.size))}});
  return nlohmann::json{{"files", files}, {"kept", kept}}.dump();
}

}  // namespace onecopy::detail
