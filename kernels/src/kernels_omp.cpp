// SPDX-License-Identifier: Apache-2.0
// The kernels on Thrust's OpenMP system (namespace omp_k).
#define THRUST_HOST_SYSTEM THRUST_HOST_SYSTEM_CPP
#define THRUST_DEVICE_SYSTEM THRUST_DEVICE_SYSTEM_OMP
#define ONECOPY_KERNELS_NS omp_k
#define ONECOPY_THRUST_SYSTEM omp
#include <thrust/system/omp/execution_policy.h>
#include <thrust/system/omp/vector.h>

#include "kernels.inl"
