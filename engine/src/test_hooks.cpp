// SPDX-License-Identifier: Apache-2.0
#include "test_hooks.hpp"

#include <signal.h>

#include <cstdlib>

namespace onecopy::detail {

void test_pause_point(std::string_view point) noexcept {
  const char* wanted = std::getenv("ONECOPY_TEST_PAUSE_AT");
  if (wanted != nullptr && point == wanted) ::raise(SIGSTOP);
}

}  // namespace onecopy::detail
