// SPDX-License-Identifier: Apache-2.0
#include "mpi_run.hpp"

#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "support/test_support.hpp"

namespace onecopy::test {

std::string mpi_skip_reason() {
  if (::access(MPIEXEC, X_OK) != 0) return std::string("no mpirun at ") + MPIEXEC + " (apt-get install openmpi-bin)";
  return {};
}

std::vector<std::string> rank_flags(const std::map<std::string, std::string>& env) {
  // --timeout: a hung collective ends the job (and its ranks) instead of the test.
  // mpi_yield_when_idle: 8 ranks on 2 cores must not spin while they wait (a hostfile's slots
  // hide the oversubscription from Open MPI, which then polls without yielding).
  std::vector<std::string> flags = {"--timeout", "240", "--mca", "mpi_yield_when_idle", "1"};
  std::map<std::string, std::string> all;
  for (const char* name : {"ONECOPY_CONF", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"})
    if (const char* v = std::getenv(name)) all[name] = v;
  // Open MPI keeps memory until exit on purpose: lsan.supp names its libraries. For the names to
  // match, its plugins stay loaded (no dlclose at finalize: else "<unknown module>") and
  // stacks are unwound fully (the fast unwinder stops at frames without frame pointers).
  all["LSAN_OPTIONS"] = std::string("suppressions=") + MPI_TEST_DIR + "/lsan.supp";
  all["ASAN_OPTIONS"] = (all.contains("ASAN_OPTIONS") ? all["ASAN_OPTIONS"] + ":" : "") + "fast_unwind_on_malloc=0";
  all["OMPI_MCA_mca_base_component_disable_dlclose"] = "1";
  all["PMIX_MCA_mca_base_component_disable_dlclose"] = "1";
  for (const auto& [k, v] : env) all[k] = v;
  for (const auto& [k, v] : all) {
    flags.push_back("-x");
    flags.push_back(k + "=" + v);
  }
  return flags;
}

nlohmann::json last_json_line(const std::string& out) {
  std::istringstream in(out);
  std::string line;
  nlohmann::json doc;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() != '{') continue;
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    if (!parsed.is_discarded()) doc = std::move(parsed);
  }
  return doc;
}

namespace {
std::vector<std::string> mpirun_flags(const std::map<std::string, std::string>& env) {
  std::vector<std::string> flags = {MPIEXEC, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"};
  const auto more = rank_flags(env);
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

mpi_result finish(const std::vector<std::string>& argv) {
  const run_result r = run(argv);
  return {r.code, r.out, r.err, last_json_line(r.out)};
}
}  // namespace

mpi_result mpirun(int ranks, const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  auto cmd = mpirun_flags(env);
  cmd.push_back("-np");
  cmd.push_back(std::to_string(ranks));
  cmd.insert(cmd.end(), argv.begin(), argv.end());
  return finish(cmd);
}

mpi_result mpirun_mpmd(const std::vector<std::pair<int, std::vector<std::string>>>& apps,
                       const std::map<std::string, std::string>& env) {
  auto cmd = mpirun_flags(env);
  for (std::size_t i = 0; i < apps.size(); ++i) {
    if (i > 0) cmd.push_back(":");
    cmd.push_back("-np");
    cmd.push_back(std::to_string(apps[i].first));
    cmd.insert(cmd.end(), apps[i].second.begin(), apps[i].second.end());
  }
  return finish(cmd);
}

}  // namespace onecopy::test
