// SPDX-License-Identifier: Apache-2.0
// Internal. The mappings the write-fault report knows: every attached or published segment
// registers its mapping here for as long as it is mapped (see write_fault.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "onecopy/engine/segment_info.hpp"

namespace onecopy::detail {

/// One registered mapping. The handler only reads it: everything is prepared at registration.
struct fault_record {
  std::uintptr_t begin = 0, end = 0;  // the whole mapping
  std::uintptr_t data = 0;            // its data region (tensor offsets count from here)
  const std::string* name = nullptr;  // owned by the segment, which outlives the registration
  const segment_info* info = nullptr;
};

/// Registers a segment's mapping for the lifetime of this object (a member of segment::impl,
/// declared after the mapping, so it is unregistered before the unmap). Registration is a
/// few atomic operations and one small allocation; a full registry (4096 mappings) only means
/// no report for the extra ones.
class fault_registration {
 public:
  fault_registration() noexcept = default;
  fault_registration(const std::byte* mapping, std::size_t length, const std::string& name,
                     const segment_info& info) noexcept;
  fault_registration(fault_registration&& other) noexcept;
  fault_registration& operator=(fault_registration&& other) noexcept;
  fault_registration(const fault_registration&) = delete;
  fault_registration& operator=(const fault_registration&) = delete;
  ~fault_registration();

 private:
  int slot_ = -1;
};

}  // namespace onecopy::detail
