# SPDX-License-Identifier: Apache-2.0
# ONECOPY_CUDA=AUTO|ON|OFF: AUTO enables CUDA when nvcc is found. Sets ONECOPY_HAVE_CUDA and,
# for the host-compiled kernels, ONECOPY_CCCL_INCLUDE_DIR (Thrust/CUB/libcu++ of CUDA >= 13 live
# in include/cccl, which FindCUDAToolkit of CMake 3.25 does not add). Facts behind each line:
# /work/shared/gpu-notes.md V8, V10, V11.
set(ONECOPY_CUDA "AUTO" CACHE STRING "Build the CUDA path: AUTO (when nvcc is found), ON or OFF")

# ONECOPY_CUDA_ARCHS picks CMAKE_CUDA_ARCHITECTURES when that is not given (docs/gpu.md):
#   release  SASS for T4, A100, A10/A40, L4/L40S, H100, B200 and RTX 50xx plus PTX of the newest
#            (what a binary for other machines must carry; 7 nvcc passes over the .cu file)
#   native   SASS + PTX for the GPUs nvidia-smi lists on this host; "ci" when it lists none
#            (CMake's own "native" fails without a GPU, and would record no list in the binary)
#   ci       sm_90 SASS + compute_90 PTX: one pass, for CI and GPU-less development
#   auto     (default) native when this host has a GPU, else release
#   or an explicit CMake list, e.g. "80-real;90"
set(ONECOPY_CUDA_ARCHS "auto" CACHE STRING "CUDA architectures: auto, native, release, ci or a CMake list")
set(ONECOPY_CUDA_RELEASE_ARCHITECTURES "75-real;80-real;86-real;89-real;90-real;100-real;120")

# The compute capabilities nvidia-smi reports here, as CMake architectures ("80;90"), or "".
function(onecopy_detect_gpu_architectures out)
  set(found "")
  find_program(ONECOPY_NVIDIA_SMI nvidia-smi)
  if(ONECOPY_NVIDIA_SMI)
    execute_process(COMMAND ${ONECOPY_NVIDIA_SMI} --query-gpu=compute_cap --format=csv,noheader
                    OUTPUT_VARIABLE caps RESULT_VARIABLE rc ERROR_QUIET TIMEOUT 20)
    if(rc EQUAL 0)
      string(REGEX MATCHALL "[0-9]+\\.[0-9]+" caps "${caps}")
      foreach(cap IN LISTS caps)
        string(REPLACE "." "" arch "${cap}")
        list(APPEND found ${arch})
      endforeach()
      list(REMOVE_DUPLICATES found)
      list(SORT found COMPARE NATURAL)
    endif()
  endif()
  set(${out} "${found}" PARENT_SCOPE)
endfunction()

macro(onecopy_choose_cuda_architectures)
  string(TOLOWER "${ONECOPY_CUDA_ARCHS}" _archs)
  if(_archs STREQUAL "auto" OR _archs STREQUAL "native")
    onecopy_detect_gpu_architectures(_gpu_archs)
    if(_gpu_archs)
      # Real code for each GPU here, PTX of the newest (so a newer GPU still JITs).
      list(GET _gpu_archs -1 _newest)
      set(CMAKE_CUDA_ARCHITECTURES "")
      foreach(_a IN LISTS _gpu_archs)
        if(NOT _a STREQUAL _newest)
          list(APPEND CMAKE_CUDA_ARCHITECTURES "${_a}-real")
        endif()
      endforeach()
      list(APPEND CMAKE_CUDA_ARCHITECTURES "${_newest}")
      message(STATUS "onecopy: GPUs here have compute capability ${_gpu_archs} (nvidia-smi)")
    elseif(_archs STREQUAL "native")
      set(CMAKE_CUDA_ARCHITECTURES 90)
      message(STATUS "onecopy: ONECOPY_CUDA_ARCHS=native but nvidia-smi lists no GPU: building sm_90 + "
                     "compute_90 only (ONECOPY_CUDA_ARCHS=release for every GPU)")
    else()
      set(CMAKE_CUDA_ARCHITECTURES "${ONECOPY_CUDA_RELEASE_ARCHITECTURES}")
    endif()
  elseif(_archs STREQUAL "release")
    set(CMAKE_CUDA_ARCHITECTURES "${ONECOPY_CUDA_RELEASE_ARCHITECTURES}")
  elseif(_archs STREQUAL "ci")
    set(CMAKE_CUDA_ARCHITECTURES 90)
  else()
    set(CMAKE_CUDA_ARCHITECTURES "${ONECOPY_CUDA_ARCHS}")
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
