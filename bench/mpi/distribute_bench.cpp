// SPDX-License-Identifier: Apache-2.0
// Getting one read-only table to every rank of an MPI job, measured the same way for each method
// in one run (each method starts from nothing and frees everything before the next):
//   onecopy-bcast   onecopy::mpi::share, rank 0 reads the file, MPI_Bcast to the other nodes'
//                   leaders straight into their segments; every rank attaches
//   onecopy-rerun   the same share again: the persistent segment is found, nothing is loaded
//   onecopy-load    onecopy::mpi::share with a loader: every node's leader reads the file
//   private-read    every rank reads the whole file into its own memory
//   win-shared      MPI_Win_allocate_shared on each node (MPI-3), node rank 0 reads the file
// Time: from a barrier to the moment every rank can read the whole table (max over ranks).
// Memory: what the node's ranks gained (PSS + hugetlb share, onecopy::memory_of), summed per
// node, after every rank has read every byte (a checksum, compared across ranks).
// Rank 0 prints one JSON line per method.
//
//   mpi_distribute_bench FILE [--methods a,b,...]
#include <fcntl.h>
#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "onecopy/engine/checksum.hpp"
#include "onecopy/engine/memory_usage.hpp"
#include "onecopy/mpi/share.hpp"

using namespace onecopy;

namespace {

struct context {
  std::string file;
  std::uint64_t bytes = 0;
  int rank = 0, size = 0;
  MPI_Comm node = MPI_COMM_NULL;
  int node_rank = 0, node_size = 0, node_index = 0, nodes = 0;
  std::string host;
};

// Reads len bytes of the file into out with pread (one thread: 8 ranks share 2 cores).
void read_file(const std::string& path, std::byte* out, std::uint64_t len) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(fmt::format("open({}): {}", path, std::strerror(errno)));
  std::uint64_t done = 0;
  while (done < len) {
    const ssize_t n = ::pread(fd, out + done, std::min<std::uint64_t>(len - done, 64u << 20), static_cast<off_t>(done));
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error(fmt::format("pread({}) at {}: {}", path, done, n == 0 ? "end of file" : std::strerror(errno)));
    }
    done += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
}

// One method: makes the table readable on every rank; returns the view. keep holds what backs it.
using method_fn = std::span<const std::byte> (*)(const context&, std::shared_ptr<void>& keep);

std::span<const std::byte> share_bcast(const context& c, std::shared_ptr<void>& keep, mpi::scope scope) {
  mpi::share_options opts;
  opts.scope = scope;
  opts.create.threads = 1;
  auto s = std::make_shared<mpi::shared_segment>(
      mpi::share(MPI_COMM_WORLD, "bench-table", layout::bytes(c.bytes), mpi::source::file(c.file), opts));
  keep = s;
  return s->seg.bytes();
}
std::span<const std::byte> onecopy_bcast(const context& c, std::shared_ptr<void>& keep) {
  return share_bcast(c, keep, mpi::scope::persistent);  // onecopy-rerun finds it
}
std::span<const std::byte> onecopy_rerun(const context& c, std::shared_ptr<void>& keep) {
  return share_bcast(c, keep, mpi::scope::persistent);
}
std::span<const std::byte> onecopy_load(const context& c, std::shared_ptr<void>& keep) {
  mpi::share_options opts;
  opts.create.threads = 1;
  const std::string file = c.file;
  auto s = std::make_shared<mpi::shared_segment>(mpi::share(
      MPI_COMM_WORLD, "bench-table-load", layout::bytes(c.bytes),
      mpi::source::load([file](draft& d) { read_file(file, d.bytes().data(), d.bytes().size()); }), opts));
  keep = s;
  return s->seg.bytes();
}
std::span<const std::byte> private_read(const context& c, std::shared_ptr<void>& keep) {
  std::shared_ptr<std::byte> buffer(static_cast<std::byte*>(std::malloc(c.bytes)), std::free);
  if (!buffer) throw std::runtime_error("malloc failed");
  read_file(c.file, buffer.get(), c.bytes);
  keep = buffer;
  return {buffer.get(), c.bytes};
}
std::span<const std::byte> win_shared(const context& c, std::shared_ptr<void>& keep) {
  MPI_Win win;
  std::byte* base = nullptr;
  const MPI_Aint mine = c.node_rank == 0 ? static_cast<MPI_Aint>(c.bytes) : 0;
  MPI_Win_allocate_shared(mine, 1, MPI_INFO_NULL, c.node, &base, &win);
  MPI_Aint len = 0;
  int unit = 0;
  std::byte* table = nullptr;
  MPI_Win_shared_query(win, 0, &len, &unit, &table);
  if (c.node_rank == 0) read_file(c.file, table, c.bytes);
  MPI_Barrier(c.node);
  keep = std::shared_ptr<void>(table, [win](void*) mutable { MPI_Win_free(&win); });
  return {table, c.bytes};
}

std::uint64_t node_sum(const context& c, std::uint64_t v) {
  std::uint64_t out = 0;
  MPI_Allreduce(&v, &out, 1, MPI_UINT64_T, MPI_SUM, c.node);
  return out;
}

nlohmann::json run(const context& c, const std::string& name, method_fn fn) {
  const std::uint64_t before = memory_of(::getpid()).total();
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  std::shared_ptr<void> keep;
  const auto view = fn(c, keep);
  const double mine = MPI_Wtime() - start;
  double seconds = 0;
  MPI_Allreduce(&mine, &seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);

  const std::uint64_t sum = segment_checksum(view, 1);
  std::uint64_t low = 0, high = 0;
  MPI_Allreduce(&sum, &low, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&sum, &high, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  const std::uint64_t after = memory_of(::getpid()).total();
  const std::uint64_t gained = node_sum(c, after > before ? after - before : 0);
  MPI_Barrier(MPI_COMM_WORLD);
  keep.reset();
  MPI_Barrier(MPI_COMM_WORLD);

  // Per node (gathered on rank 0 from each node's rank 0).
  std::vector<std::uint64_t> per_node(static_cast<std::size_t>(c.size));
  const std::uint64_t report = c.node_rank == 0 ? gained : UINT64_MAX;
  MPI_Gather(&report, 1, MPI_UINT64_T, per_node.data(), 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  std::erase(per_node, UINT64_MAX);
  return {{"method", name}, {"bytes", c.bytes}, {"ranks", c.size}, {"nodes", c.nodes},
          {"seconds", seconds}, {"memory_per_node", per_node}, {"same_bytes_everywhere", low == high},
          {"checksum", fmt::format("{:016x}", sum)}};
}

// Removes onecopy-bcast's persistent segment (node leaders; collective).
void remove_persistent(const context& c) {
  MPI_Barrier(MPI_COMM_WORLD);
  if (c.node_rank == 0) {
    try {
      store s = store::from_environment();
      if (s.exists("bench-table")) s.remove("bench-table");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "remove bench-table: %s\n", e.what());
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  context c;
  MPI_Comm_rank(MPI_COMM_WORLD, &c.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &c.size);
  if (argc < 2) {
    std::fprintf(stderr, "usage: mpi_distribute_bench FILE [--methods a,b,...]\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  c.file = argv[1];
  std::string methods = "onecopy-bcast,onecopy-rerun,onecopy-load,win-shared,private-read";
  for (int i = 2; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--methods") methods = argv[i + 1];
  {
    const int fd = ::open(c.file.c_str(), O_RDONLY | O_CLOEXEC);
    c.bytes = fd < 0 ? 0 : static_cast<std::uint64_t>(::lseek(fd, 0, SEEK_END));
    if (fd >= 0) ::close(fd);
  }
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c.rank, MPI_INFO_NULL, &c.node);
  MPI_Comm_rank(c.node, &c.node_rank);
  MPI_Comm_size(c.node, &c.node_size);
  int leader = c.node_rank == 0 ? 1 : 0;
  MPI_Allreduce(&leader, &c.nodes, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);

  const std::map<std::string, method_fn> table = {{"onecopy-bcast", onecopy_bcast}, {"onecopy-rerun", onecopy_rerun},
                                                  {"onecopy-load", onecopy_load}, {"private-read", private_read},
                                                  {"win-shared", win_shared}};
  int status = 0;
  std::size_t at = 0;
  while (at <= methods.size()) {
    const auto comma = methods.find(',', at);
    const std::string m = methods.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    at = comma == std::string::npos ? methods.size() + 1 : comma + 1;
    const auto it = table.find(m);
    if (it == table.end()) {
      if (c.rank == 0) std::fprintf(stderr, "unknown method '%s'\n", m.c_str());
      status = 2;
      continue;
    }
    try {
      const auto result = run(c, m, it->second);
      if (c.rank == 0) std::printf("%s\n", result.dump().c_str());
      std::fflush(stdout);
      // The rerun was the persistent segment's last use: free its memory for the next methods.
      if (m == "onecopy-rerun") remove_persistent(c);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "rank %d: %s: %s\n", c.rank, m.c_str(), e.what());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
  remove_persistent(c);  // a benchmark leaves nothing behind
  MPI_Comm_free(&c.node);
  MPI_Finalize();
  return status;
}
