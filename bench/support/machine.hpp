// SPDX-License-Identifier: Apache-2.0
// The facts every benchmark result carries: topology (nodes, CPUs, memory), page sizes and
// huge-page pools, THP modes, kernel, and how loaded the machine is. Read from /proc and /sys.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace onecopy::bench {

/// Ordered key/value facts about this host, e.g. {"thp_enabled", "madvise"}.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> machine_facts();

/// "1.95 1.80 1.70" from /proc/loadavg (1, 5 and 15 minutes).
[[nodiscard]] std::string load_average();

}  // namespace onecopy::bench
