# SPDX-License-Identifier: Apache-2.0
# ONECOPY_CUDA=AUTO|ON|OFF: AUTO enables CUDA when nvcc is found. Sets ONECOPY_HAVE_CUDA and,
# for the host-compiled kernels, ONECOPY_CCCL_INCLUDE_DIR (Thrust/CUB/libcu++ of CUDA >= 13 live
# in include/cccl, which FindCUDAToolkit of CMake 3.25 does not add). Facts behind each line:
# docs/gpu.md, "Device copies: the sequences and why" (Building).
set(ONECOPY_CUDA "AUTO" CACHE STRING "Build the CUDA path: AUTO (when nvcc is found), ON or OFF")

# ONECOPY_CUDA_ARCHS picks CMAKE_CUDA_ARCHITECTURES when that is not given (see
# OnecopyCudaArchitectures.cmake and docs/gpu.md).
set(ONECOPY_CUDA_ARCHS "auto" CACHE STRING "CUDA architectures: auto, native, release, ci or a CMake list")
include(OnecopyCudaArchitectures)

macro(onecopy_choose_cuda_architectures)
  set(_caps "")
  string(TOLOWER "${ONECOPY_CUDA_ARCHS}" _choice)
  if(_choice STREQUAL "auto" OR _choice STREQUAL "native")
    find_program(ONECOPY_NVIDIA_SMI nvidia-smi)
    if(ONECOPY_NVIDIA_SMI)
      execute_process(COMMAND ${ONECOPY_NVIDIA_SMI} --query-gpu=compute_cap --format=csv,noheader
                      OUTPUT_VARIABLE _caps RESULT_VARIABLE _rc ERROR_QUIET TIMEOUT 20)
      if(NOT _rc EQUAL 0)
        set(_caps "")
      endif()
    endif()
  endif()
  onecopy_cuda_architectures("${ONECOPY_CUDA_ARCHS}" "${_caps}" CMAKE_CUDA_ARCHITECTURES _note)
  if(_note)
    message(STATUS "onecopy: ${_note}")
  endif()
endmacro()

set_property(CACHE ONECOPY_CUDA PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${ONECOPY_CUDA}" _onecopy_cuda)
if(NOT _onecopy_cuda MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "ONECOPY_CUDA must be AUTO, ON or OFF (got '${ONECOPY_CUDA}')")
endif()

set(ONECOPY_HAVE_CUDA OFF)
if(NOT _onecopy_cuda STREQUAL "OFF")
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)  # not on PATH in a default install
  endif()
  include(CheckLanguage)
  check_language(CUDA)  # never fails: sets CMAKE_CUDA_COMPILER or NOTFOUND
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      onecopy_choose_cuda_architectures()
    endif()
    enable_language(CUDA)
    # CMake 3.25.1 cannot pass C++20 to nvcc (3.25.2 can): the .cu file is C++17.
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    find_package(CUDAToolkit REQUIRED)  # CUDA::cudart_static only; never CUDA::cuda_driver
    set(ONECOPY_HAVE_CUDA ON)
  elseif(_onecopy_cuda STREQUAL "ON")
    message(FATAL_ERROR "ONECOPY_CUDA=ON but no CUDA compiler was found (set CMAKE_CUDA_COMPILER "
                        "or CUDACXX to nvcc, or use ONECOPY_CUDA=AUTO/OFF)")
  endif()
endif()

# Thrust for the CPU backends (serial and OpenMP) comes from the toolkit's CCCL headers.
if(NOT ONECOPY_HAVE_CUDA)
  find_package(CUDAToolkit QUIET)
endif()
find_path(ONECOPY_CCCL_INCLUDE_DIR thrust/version.h
  HINTS "${CUDAToolkit_INCLUDE_DIRS}/cccl" /usr/local/cuda/include/cccl
  NO_DEFAULT_PATH)
if(NOT ONECOPY_CCCL_INCLUDE_DIR)
  message(FATAL_ERROR "Thrust (CCCL) headers not found: the CPU kernels need them. Install the CUDA "
                      "toolkit (it ships include/cccl) or set ONECOPY_CCCL_INCLUDE_DIR to the directory "
                      "holding thrust/version.h.")
endif()
find_package(OpenMP REQUIRED COMPONENTS CXX)
message(STATUS "onecopy: CUDA ${ONECOPY_HAVE_CUDA} (ONECOPY_CUDA=${ONECOPY_CUDA}, architectures "
               "'${CMAKE_CUDA_ARCHITECTURES}'), Thrust from ${ONECOPY_CCCL_INCLUDE_DIR}")
