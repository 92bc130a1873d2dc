// SPDX-License-Identifier: Apache-2.0
// Which GPUs this binary has kernels for. nvcc embeds SASS (machine code) per real architecture
// and PTX per virtual one; a device whose compute capability matches neither fails every Thrust
// launch with cudaErrorNoKernelImageForDevice. The build records its list (CMAKE_CUDA_ARCHITECTURES)
// so `onecopy topo` and `onecopy serve` can say so before a kernel fails. No CUDA here.
#pragma once

#include <string>
#include <string_view>

namespace onecopy::gpu {

/// The CUDA architectures this binary's kernels were compiled for, as CMake's list spelled
/// them with ',' between entries (e.g. "75-real,80-real,86-real,89-real,90-real,100-real,120");
/// empty in a build without CUDA.
[[nodiscard]] std::string_view compiled_cuda_architectures() noexcept;

/// Whether a list of compiled architectures holds code for a device.
struct kernel_image {
  bool runs = false;  ///< SASS the device runs, or PTX its driver can JIT-compile
  bool known = true;  ///< false when the list names no architecture ("native", "all"): runs is a guess
  std::string how;    ///< "sm_80 SASS", "compute_120 PTX (JIT-compiled at first launch)", or why none
};

/// The code a device of compute capability major.minor would run from architectures (CMake's
/// CMAKE_CUDA_ARCHITECTURES syntax, entries separated by ';' or ','): "80" is SASS + PTX,
/// "80-real" SASS only, "80-virtual" PTX only, "90a" arch-specific. SASS sm_XY runs on X.Z for
/// Z >= Y (same major; "a" variants only on X.Y exactly); PTX compute_XY is JIT-compiled for any
/// device of X.Y or newer. SASS is preferred to PTX, the newest of each first.
/// @throws usage_error naming the entry when one is not an architecture
[[nodiscard]] kernel_image find_kernel_image(std::string_view architectures, int major, int minor);

}  // namespace onecopy::gpu
