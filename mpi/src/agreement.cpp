// SPDX-License-Identifier: Apache-2.0
#include "agreement.hpp"

#include <climits>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include "mpi_call.hpp"
#include "onecopy/error.hpp"
#include "onecopy/mpi/error.hpp"
#include "onecopy/sys/calls.hpp"

namespace onecopy::mpi::detail {
namespace {

// Messages travel as "host\0kind\0what"; longer ones are cut (a screenful is plenty).
constexpr std::size_t max_message = 16384;

std::vector<std::string> split_nul(const std::string& packed) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto end = packed.find('\0', start);
    parts.push_back(packed.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return parts;
}

}  // namespace

std::string kind_of(const std::exception& e) {
  // Most specific first.
  if (dynamic_cast<const share_error*>(&e)) return "share_error";
  if (dynamic_cast<const mpi_call_error*>(&e)) return "mpi_call_error";
  if (dynamic_cast<const no_space_error*>(&e)) return "no_space_error";
  if (dynamic_cast<const hugepage_pool_error*>(&e)) return "hugepage_pool_error";
  if (dynamic_cast<const out_of_memory_error*>(&e)) return "out_of_memory_error";
  if (dynamic_cast<const fd_limit_error*>(&e)) return "fd_limit_error";
  if (dynamic_cast<const permission_error*>(&e)) return "permission_error";
  if (dynamic_cast<const os_error*>(&e)) return "os_error";
  if (dynamic_cast<const usage_error*>(&e)) return "usage_error";
  if (dynamic_cast<const format_error*>(&e)) return "format_error";
  if (dynamic_cast<const fallback_error*>(&e)) return "fallback_error";
  if (dynamic_cast<const timeout_error*>(&e)) return "timeout_error";
  if (dynamic_cast<const std::bad_alloc*>(&e)) return "std::bad_alloc";
  return "std::exception";
}

std::vector<long long> agree(MPI_Comm comm, const outcome& mine, std::string_view name,
                             std::string_view step, std::vector<long long> counts) {
  counts.insert(counts.begin(), mine.ok ? 0 : 1);  // [failed ranks, counts...]
  std::vector<long long> sums(counts.size());
  check(MPI_Allreduce(counts.data(), sums.data(), static_cast<int>(counts.size()), MPI_LONG_LONG, MPI_SUM, comm),
        "MPI_Allreduce(agree)");
  if (sums.front() == 0) {
    sums.erase(sums.begin());
    return sums;
  }
  int rank = 0;
  check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  int first_failed = mine.ok ? INT_MAX : rank;
  int lowest = INT_MAX;
  check(MPI_Allreduce(&first_failed, &lowest, 1, MPI_INT, MPI_MIN, comm), "MPI_Allreduce(first failure)");
  fail_together(comm, mine, lowest, name, step);
}

void fail_together(MPI_Comm comm, const outcome& mine, int lowest, std::string_view name, std::string_view step) {
  int rank = 0;
  check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  std::string packed;
  if (rank == lowest) {
    packed = sys::host_name();
    packed += '\0';
    packed += mine.kind;
    packed += '\0';
    packed += mine.what.substr(0, max_message);
  }
  int len = static_cast<int>(packed.size());
  check(MPI_Bcast(&len, 1, MPI_INT, lowest, comm), "MPI_Bcast(error length)");
  packed.resize(static_cast<std::size_t>(len));
  check(MPI_Bcast(packed.data(), len, MPI_CHAR, lowest, comm), "MPI_Bcast(error message)");
  auto parts = split_nul(packed);
  parts.resize(3);
  throw share_error(fmt::format("share '{}': rank {} on {} failed {}: {}", name, lowest, parts[0],
                                step, parts[2]),
                    lowest, parts[0], std::string(step), parts[1], parts[2]);
}

}  // namespace onecopy::mpi::detail
