// SPDX-License-Identifier: Apache-2.0
// inspect(): reads just a tensor file's header — a bounded prefix, never the data — and hands
// it to the format's parser.
#include "onecopy/engine/formats/tensor_file.hpp"

#include <fcntl.h>

#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "onecopy/engine/formats/npy.hpp"
#include "onecopy/engine/formats/safetensors.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"

namespace onecopy::formats {

std::string_view to_string(file_format f) noexcept {
  switch (f) {
    case file_format::safetensors: return "safetensors";
    case file_format::npy: return "npy";
  }
  return "unknown";
}

tensor_file inspect(const std::filesystem::path& path) {
  const std::string source = path.string();
  sys::unique_fd fd = sys::open(path, O_RDONLY);
  const sys::file_status st = sys::fstat(fd.get(), path);
  if (!st.is_regular()) throw format_error(fmt::format("{}: not a regular file", source));

  std::vector<std::byte> head(static_cast<std::size_t>(std::min<std::uint64_t>(st.size, 16)));
  if (sys::pread_full(fd.get(), head.data(), head.size(), 0, path) != head.size())
    throw format_error(fmt::format("{}: the file shrank while being read", source));

  const std::string ext = path.extension().string();
  file_format format;
  if (ext == ".safetensors") {
    format = file_format::safetensors;
  } else if (ext == ".npy") {
    format = file_format::npy;
  } else if (head.size() >= 6 && std::memcmp(head.data(), "\x93NUMPY", 6) == 0) {
    format = file_format::npy;
  } else if (head.size() >= 9 && head[8] == std::byte{'{'}) {
    format = file_format::safetensors;
  } else {
    throw format_error(fmt::format("{}: neither a .safetensors nor a .npy file (by its name or "
                                   "its first bytes)", source));
  }
  const std::uint64_t extent = format == file_format::safetensors
                                   ? safetensors_header_extent(head, st.size, source)
                                   : npy_header_extent(head, st.size, source);
  // extent is bounded by the format's header limit and by the file size: safe to allocate.
  head.resize(static_cast<std::size_t>(extent));
  if (sys::pread_full(fd.get(), head.data(), head.size(), 0, path) != head.size())
    throw format_error(fmt::format("{}: the file shrank while its header was read", source));
  tensor_file file = format == file_format::safetensors ? parse_safetensors(head, st.size, source)
                                                        : parse_npy(head, st.size, source);
  file.path = path;
  return file;
}

}  // namespace onecopy::formats
