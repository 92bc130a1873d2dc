// SPDX-License-Identifier: Apache-2.0
// Internal. Points where crash-safety tests stop a creating process (with SIGSTOP) so they can
// SIGKILL it there. Active only when ONECOPY_TEST_PAUSE_AT names the point; costs one getenv.
#pragma once

#include <string_view>

namespace onecopy::detail {

/// Stops the calling process with SIGSTOP when ONECOPY_TEST_PAUSE_AT equals point.
/// Points: "before_populate", "after_populate", "before_publish", "before_rename".
void test_pause_point(std::string_view point) noexcept;

}  // namespace onecopy::detail
