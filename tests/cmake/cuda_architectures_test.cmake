# SPDX-License-Identifier: Apache-2.0
# cmake -P: ONECOPY_CUDA_ARCHS and nvidia-smi's compute capabilities → CMAKE_CUDA_ARCHITECTURES.
cmake_minimum_required(VERSION 3.25)  # policies as in the project (CMP0054: quoted strings stay strings)
include(${CMAKE_CURRENT_LIST_DIR}/../../cmake/OnecopyCudaArchitectures.cmake)

function(expect choice caps want)
  onecopy_cuda_architectures("${choice}" "${caps}" got note)
  if(NOT got STREQUAL want)
    message(FATAL_ERROR "ONECOPY_CUDA_ARCHS=${choice} with GPUs '${caps}': got '${got}', want '${want}'")
  endif()
endfunction()

set(release_list "75-real;80-real;86-real;89-real;90-real;100-real;120")
# A host with GPUs: SASS for each (once), PTX of the newest, in order.
expect(native "8.0\n9.0\n8.0\n" "80-real;90")
expect(auto "9.0\n" "90")
expect(NATIVE "12.0\n8.6\n" "86-real;120")
# No GPU (no nvidia-smi, or it failed and printed nothing or an error).
expect(native "" "90")
expect(native "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." "90")
expect(auto "" "${release_list}")
# Fixed choices ignore the GPUs; anything else is a CMake list, passed through.
expect(release "8.0\n" "${release_list}")
expect(ci "8.0\n" "90")
expect("80-real;90" "" "80-real;90")

onecopy_cuda_architectures(native "" got note)
if(NOT note MATCHES "lists no GPU")
  message(FATAL_ERROR "native without a GPU should say so, said '${note}'")
endif()
message(STATUS "cuda_architectures_test: all passed")
