// SPDX-License-Identifier: Apache-2.0
// The compiled architecture list (a compile definition of this file alone, so changing the list
// rebuilds only this TU and the .cu) and the device-compatibility rules of nvcc's fatbinaries.
#include "onecopy/kernels/cuda_architectures.hpp"

#include <cctype>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "onecopy/error.hpp"

#ifndef ONECOPY_CUDA_ARCHITECTURES_TEXT
#define ONECOPY_CUDA_ARCHITECTURES_TEXT ""
#endif

namespace onecopy::gpu {

std::string_view compiled_cuda_architectures() noexcept { return ONECOPY_CUDA_ARCHITECTURES_TEXT; }

namespace {

struct arch_entry {
  int number = 0;  // 90 for 9.0, 120 for 12.0
  bool sass = true;
  bool ptx = true;
  bool specific = false;  // "90a": runs on exactly 9.0
};

std::vector<std::string_view> split(std::string_view list) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= list.size(); ++i) {
    if (i == list.size() || list[i] == ';' || list[i] == ',') {
      std::string_view e = list.substr(start, i - start);
      while (!e.empty() && std::isspace(static_cast<unsigned char>(e.front()))) e.remove_prefix(1);
      while (!e.empty() && std::isspace(static_cast<unsigned char>(e.back()))) e.remove_suffix(1);
      if (!e.empty()) out.push_back(e);
      start = i + 1;
    }
  }
  return out;
}

// One entry, or nullopt for CMake's symbolic values ("native", "all", "all-major").
std::optional<arch_entry> parse_entry(std::string_view e) {
  if (e == "native" || e == "all" || e == "all-major") return std::nullopt;
  arch_entry a;
  std::string_view rest = e;
  if (rest.ends_with("-real")) {
    a.ptx = false;
    rest.remove_suffix(5);
  } else if (rest.ends_with("-virtual")) {
    a.sass = false;
    rest.remove_suffix(8);
  }
  if (!rest.empty() && (rest.back() == 'a' || rest.back() == 'f')) {
    a.specific = rest.back() == 'a';  // "f" (family) code runs across the major like plain code
    rest.remove_suffix(1);
  }
  if (rest.size() < 2 || rest.size() > 3)
    throw usage_error(fmt::format("CUDA architecture '{}' is not NN[a|f][-real|-virtual] (e.g. 80-real, 90a, 120)", e));
  for (char c : rest)
    if (!std::isdigit(static_cast<unsigned char>(c)))
      throw usage_error(fmt::format("CUDA architecture '{}' is not NN[a|f][-real|-virtual] (e.g. 80-real, 90a, 120)", e));
  for (char c : rest) a.number = a.number * 10 + (c - '0');
  return a;
}

std::string list_text(std::string_view architectures) {
  return architectures.empty() ? "none" : std::string(architectures);
}

}  // namespace

kernel_image find_kernel_image(std::string_view architectures, int major, int minor) {
  const int device = major * 10 + minor;
  const arch_entry* best_sass = nullptr;
  const arch_entry* best_ptx = nullptr;
  bool symbolic = false;
  std::vector<arch_entry> entries;
  for (std::string_view e : split(architectures)) {
    if (auto a = parse_entry(e)) entries.push_back(*a);
    else symbolic = true;
  }
  for (const auto& a : entries) {
    const bool sass_runs = a.sass && (a.specific ? a.number == device : a.number / 10 == major && a.number % 10 <= minor);
    const bool ptx_runs = a.ptx && (a.specific ? a.number == device : a.number <= device);
    if (sass_runs && (best_sass == nullptr || a.number > best_sass->number)) best_sass = &a;
    if (ptx_runs && (best_ptx == nullptr || a.number > best_ptx->number)) best_ptx = &a;
  }
  if (best_sass != nullptr)
    return {true, true, fmt::format("sm_{}{} SASS", best_sass->number, best_sass->specific ? "a" : "")};
  if (best_ptx != nullptr)
    return {true, true, fmt::format("compute_{}{} PTX (JIT-compiled at first launch)", best_ptx->number,
                                    best_ptx->specific ? "a" : "")};
  if (symbolic)
    return {true, false, fmt::format("unknown: built for '{}', resolved by the build host", list_text(architectures))};
  return {false, true,
          fmt::format("no kernel image for sm_{}{} in this binary (built for {}): CUDA kernels fail with "
                      "cudaErrorNoKernelImageForDevice; rebuild with ONECOPY_CUDA_ARCHS=native or release "
                      "(docs/gpu.md)",
                      major, minor, list_text(architectures))};
}

}  // namespace onecopy::gpu
