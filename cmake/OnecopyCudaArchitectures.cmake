# SPDX-License-Identifier: Apache-2.0
# ONECOPY_CUDA_ARCHS → CMAKE_CUDA_ARCHITECTURES (docs/gpu.md "CUDA architectures"). No side
# effects but the result, so tests/cmake/cuda_architectures_test.cmake runs it under `cmake -P`.
#   release  SASS for T4, A100, A10/A40, L4/L40S, H100, B200 and RTX 50xx plus PTX of the newest
#            (what a binary for other machines must carry; 7 nvcc passes over the .cu file)
#   native   SASS for each GPU nvidia-smi lists on this host plus PTX of the newest; "ci" when it
#            lists none (CMake's own "native" fails without a GPU and records no list)
#   ci       sm_90 SASS + compute_90 PTX: one pass, for CI and GPU-less development
#   auto     native when this host has a GPU, else release
#   or an explicit CMake list, e.g. "80-real;90"
set(ONECOPY_CUDA_RELEASE_ARCHITECTURES "75-real;80-real;86-real;89-real;90-real;100-real;120")

# onecopy_cuda_architectures(CHOICE CAPS OUT NOTE): CHOICE as above; CAPS what
# `nvidia-smi --query-gpu=compute_cap --format=csv,noheader` printed ("8.0\n9.0", or "" without
# a GPU); OUT the CMAKE_CUDA_ARCHITECTURES list; NOTE a status line or "".
function(onecopy_cuda_architectures choice caps out note)
  string(TOLOWER "${choice}" c)
  set(line "")
  set(gpus "")
  string(REGEX MATCHALL "[0-9]+\\.[0-9]+" caps_list "${caps}")
  foreach(cap IN LISTS caps_list)
    string(REPLACE "." "" arch "${cap}")
    list(APPEND gpus ${arch})
  endforeach()
  if(gpus)
    list(REMOVE_DUPLICATES gpus)
    list(SORT gpus COMPARE NATURAL)
  endif()
  if((c STREQUAL "auto" OR c STREQUAL "native") AND gpus)
    # Real code for each GPU here, PTX of the newest (so a newer GPU still JIT-compiles it).
    list(GET gpus -1 newest)
    set(result "")
    foreach(a IN LISTS gpus)
      if(NOT a STREQUAL newest)
        list(APPEND result "${a}-real")
      endif()
    endforeach()
    list(APPEND result "${newest}")
    set(line "GPUs here have compute capability ${gpus} (nvidia-smi)")
  elseif(c STREQUAL "native" OR c STREQUAL "ci")
    set(result 90)
    if(c STREQUAL "native")
      string(CONCAT line "ONECOPY_CUDA_ARCHS=native but nvidia-smi lists no GPU: building sm_90 + compute_90 "
             "only (ONECOPY_CUDA_ARCHS=release for every GPU)")
    endif()
  elseif(c STREQUAL "auto" OR c STREQUAL "release")
    set(result "${ONECOPY_CUDA_RELEASE_ARCHITECTURES}")
  else()
    set(result "${choice}")
  endif()
  set(${out} "${result}" PARENT_SCOPE)
  set(${note} "${line}" PARENT_SCOPE)
endfunction()
