// SPDX-License-Identifier: Apache-2.0
#include "numa_memory.hpp"

#include <numaif.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/sys/memory.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "onecopy/units.hpp"

namespace onecopy::detail {
namespace {

constexpr int max_nodes = 1024;

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(static_cast<std::size_t>(c), &set)) cpus.push_back(c);
  return cpus;
}

void pin_to(const std::vector<int>& cpus) {
  if (cpus.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus)
    if (c < CPU_SETSIZE) CPU_SET(static_cast<std::size_t>(c), &set);
  // Advisory: a failure only costs locality of the populating thread, never correctness.
  (void)::sched_setaffinity(0, sizeof set, &set);
}

}  // namespace

placement resolve_placement(const placement& where) {
  if (where.policy == numa_policy::automatic || where.policy == numa_policy::replicate)
    throw usage_error(fmt::format("placement {} is a request, not a policy a file can have: let "
                                  "choose_placement() decide it (or set replicate_on)", where.to_string()));
  placement p = where;
  if (p.policy == numa_policy::local) {
    p.nodes.clear();
    return p;
  }
  const auto online = sysfs::memory_nodes();
  if (p.nodes.empty()) p.nodes = online;
  for (int n : p.nodes) {
    if (n < 0 || n >= max_nodes || std::find(online.begin(), online.end(), n) == online.end())
      throw usage_error(fmt::format("NUMA node {} does not exist or has no memory (nodes with "
                                    "memory: {}); see 'onecopy topo'", n,
                                    sys::format_cpulist(online)));
  }
  return p;
}

void apply_policy(std::span<std::byte> range, const placement& where) {
  if (where.policy == numa_policy::local || range.empty()) return;
  sys::bind_memory(range, where.policy == numa_policy::bind ? sys::memory_policy::bind : sys::memory_policy::interleave,
                   where.nodes);
}

std::vector<int> cpus_for(const placement& where) {
  const auto allowed = allowed_cpus();
  if (where.policy != numa_policy::bind) return allowed;
  std::vector<int> cpus;
  for (int n : where.nodes)
    for (int c : sysfs::node_cpus(n))
      if (std::find(allowed.begin(), allowed.end(), c) != allowed.end()) cpus.push_back(c);
  // A CPU-less node (HBM, CXL) or CPUs we may not use: populate from anywhere; the policy still
  // decides where the pages go.
  return cpus.empty() ? allowed : cpus;
}

namespace {

// Gives range the advice a (a populate) in threads pinned to the CPUs of where's nodes: the
// kernel zeroes each page in the thread that faults it.
int populate_in_threads(std::span<const std::byte> range, std::uint64_t page_size, const placement& where,
                        unsigned threads, sys::advice a) {
  if (range.empty()) return 0;
  const auto cpus = cpus_for(where);
  if (threads == 0) threads = static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(cpus.size(), 16)));
  // At least 64 MiB per thread: below that, starting threads costs more than it saves.
  const std::uint64_t min_chunk = std::max<std::uint64_t>(64 * MiB, page_size);
  threads = static_cast<unsigned>(std::clamp<std::uint64_t>(range.size() / min_chunk, 1, threads));
  const std::uint64_t per = round_up(range.size() / threads, page_size);
  std::vector<int> errors(threads, 0);
  auto work = [&](unsigned t) {
    const std::uint64_t begin = std::min<std::uint64_t>(t * per, range.size());
    const std::uint64_t end = t + 1 == threads ? range.size() : std::min<std::uint64_t>(begin + per, range.size());
    if (begin >= end) return;
    if (threads > 1) pin_to(cpus);
    errors[t] = sys::advise(range.subspan(begin, end - begin), a);
  };
  if (threads == 1) {
    work(0);
  } else {
    std::vector<std::jthread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work, t);
  }
  for (int e : errors)
    if (e != 0) return e;
  return 0;
}

}  // namespace

int populate_write(std::span<std::byte> range, std::uint64_t page_size, const placement& where,
                   unsigned threads) {
  return populate_in_threads(range, page_size, where, threads, sys::advice::populate_write);
}

int populate_read(std::span<const std::byte> range) {
  return sys::advise(range, sys::advice::populate_read);
}

int populate_read(std::span<const std::byte> range, std::uint64_t page_size, const placement& where,
                  unsigned threads) {
  return populate_in_threads(range, page_size, where, threads, sys::advice::populate_read);
}

std::vector<node_pages> node_histogram(std::span<const std::byte> range, std::uint64_t page_size) {
  std::map<int, std::uint64_t> counts;
  constexpr std::size_t batch = 4096;
  std::vector<void*> pages(batch);
  std::vector<int> status(batch);
  const std::uint64_t n = range.size() / page_size + (range.size() % page_size ? 1 : 0);
  for (std::uint64_t first = 0; first < n; first += batch) {
    const std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(batch, n - first));
    for (std::size_t i = 0; i < count; ++i)
      pages[i] = const_cast<std::byte*>(range.data()) + (first + i) * page_size;
    if (::move_pages(0, count, pages.data(), nullptr, status.data(), 0) != 0) return {};
    for (std::size_t i = 0; i < count; ++i)
      if (status[i] >= 0) ++counts[status[i]];
  }
  std::vector<node_pages> out;
  for (auto [node, pages_on_node] : counts) out.push_back({node, pages_on_node});
  return out;
}


}  // namespace onecopy::detail
