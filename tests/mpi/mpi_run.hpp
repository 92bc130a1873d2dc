// SPDX-License-Identifier: Apache-2.0
// Running MPI programs from tests: mpirun (Open MPI, as root: --allow-run-as-root
// --oversubscribe) with a time limit, environment passed to every rank with -x, and the JSON
// document rank 0 prints.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace onecopy::test {

struct mpi_result {
  int code = 0;  ///< mpirun's exit code, or -signal
  std::string out;
  std::string err;
  nlohmann::json doc;  ///< the last JSON object line of out (null when none)
};

/// "" when mpirun can run here, else why not (a one-line skip reason).
[[nodiscard]] std::string mpi_skip_reason();

/// The mpirun flags for a test job: -x flags that give every rank env plus this process's
/// ONECOPY_CONF and sanitizer options (Open MPI's own leaks at exit suppressed), a --timeout
/// that ends a hung job, and ranks that yield while they wait.
[[nodiscard]] std::vector<std::string> rank_flags(const std::map<std::string, std::string>& env);

/// mpirun -np ranks argv… with env given to every rank.
[[nodiscard]] mpi_result mpirun(int ranks, const std::vector<std::string>& argv,
                                const std::map<std::string, std::string>& env = {});

/// MPMD: mpirun -np n1 argv1 : -np n2 argv2 …
[[nodiscard]] mpi_result mpirun_mpmd(const std::vector<std::pair<int, std::vector<std::string>>>& apps,
                                     const std::map<std::string, std::string>& env = {});

/// Parses the last line of out that is a JSON object (null when there is none).
[[nodiscard]] nlohmann::json last_json_line(const std::string& out);

}  // namespace onecopy::test
