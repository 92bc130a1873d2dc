// SPDX-License-Identifier: Apache-2.0
// The kernels on Thrust's serial CPP system (namespace cpp_k).
#define THRUST_HOST_SYSTEM THRUST_HOST_SYSTEM_CPP
#define THRUST_DEVICE_SYSTEM THRUST_DEVICE_SYSTEM_CPP
#define ONECOPY_KERNELS_NS cpp_k
#define ONECOPY_THRUST_SYSTEM cpp
#include <thrust/system/cpp/execution_policy.h>
#include <thrust/system/cpp/vector.h>

#include "kernels.inl"
