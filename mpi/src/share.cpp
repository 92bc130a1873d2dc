// SPDX-License-Identifier: Apache-2.0
// share(): the collective protocol. Every step is all-or-nothing: each rank does its part, then
// all agree (agreement.hpp, one MPI_Allreduce when all went well); a failure anywhere makes every
// rank throw the same share_error and drops the drafts, so nothing is published unless every
// node has all of its bytes. Few collectives, because under oversubscription each one costs
// scheduler time slices, not microseconds.
//
//   arguments   every rank checks its own; all must pass the same size, root, kind, options
//   groups      node communicator, its leader (the root on the root's node), the leaders
//   find        every rank opens its store; leaders check no two groups on a host share one,
//               then attach the published segment or create a draft (name lock held); the root
//               of a buffer or file source fills its own draft right away
//   fill        a loader on each creating leader; or MPI_Bcast in pieces from the root to the
//               creating leaders, straight into their drafts
//   publish     creating leaders publish (atomic rename) and tell their node; the other ranks
//               attach read-only; all agree
#include "onecopy/mpi/share.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>

#include <fcntl.h>

#include <fmt/format.h>

#include "agreement.hpp"
#include "chunked_bcast.hpp"
#include "context.hpp"
#include "find_or_begin.hpp"
#include "mpi_call.hpp"
#include "onecopy/engine/choose_placement.hpp"
#include "onecopy/engine/names.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "onecopy/units.hpp"
#include "share_internal.hpp"
#include "termination_guard.hpp"

namespace onecopy::mpi {
namespace {

using detail::agree;
using detail::attempt;
using detail::check;
using detail::outcome;

// A communicator this call made and frees.
class owned_comm {
 public:
  owned_comm() = default;
  owned_comm(const owned_comm&) = delete;
  owned_comm& operator=(const owned_comm&) = delete;
  ~owned_comm() {
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  }
  MPI_Comm* out() noexcept { return &comm_; }
  [[nodiscard]] MPI_Comm get() const noexcept { return comm_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

int rank_in(MPI_Comm comm) {
  int r = 0;
  check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank");
  return r;
}
int size_of(MPI_Comm comm) {
  int n = 0;
  check(MPI_Comm_size(comm, &n), "MPI_Comm_size");
  return n;
}

// Bytes of a file from offset on, for the root's file source.
std::uint64_t file_bytes_after(const std::filesystem::path& path, std::uint64_t offset) {
  const sys::unique_fd fd = sys::open(path, O_RDONLY);
  const auto st = sys::fstat(fd.get(), path);
  if (offset > st.size)
    throw usage_error(fmt::format("source file {}: offset {} is past its end ({} bytes)", path.string(),
                                  offset, st.size));
  return st.size - offset;
}

// This rank's own view of its arguments (step 0).
void check_own_arguments(std::string_view name, const layout& l, const source& src,
                         const share_options& opts, int rank, int size) {
  validate_name(name);
  if (l.data_size() == 0) throw usage_error(fmt::format("share '{}': the layout holds 0 bytes", name));
  if (opts.chunk_bytes == 0 || opts.chunk_bytes > max_chunk_bytes)
    throw usage_error(fmt::format("share '{}': chunk_bytes {} is not in 1 … {}", name, opts.chunk_bytes,
                                  max_chunk_bytes));
  if (src.root() < 0 || src.root() >= size)
    throw usage_error(fmt::format("share '{}': root {} is not a rank of the communicator (0 … {})", name,
                                  src.root(), size - 1));
  if (opts.create.replace)
    throw usage_error(fmt::format("share '{}': create.replace is not supported (share finds an existing "
                                  "segment and uses it; remove it first to make a new one)", name));
  if (opts.copies == copies::replicate) {
    if (opts.create.where.policy != numa_policy::local)
      throw usage_error(fmt::format("share '{}': copies::replicate binds each replica to its node; "
                                    "create.where must be local, not {}", name, opts.create.where.to_string()));
  }
  if (rank != src.root()) return;
  if (src.type() == source::kind::buffer && src.bytes().size() != l.data_size())
    throw usage_error(fmt::format("share '{}': the root's buffer holds {} bytes, the layout {}", name,
                                  src.bytes().size(), l.data_size()));
  if (src.type() == source::kind::file) {
    const auto have = file_bytes_after(src.path(), src.offset());
    if (have < l.data_size())
      throw format_error(fmt::format("share '{}': source file {} has {} bytes from offset {}, the layout "
                                     "needs {}", name, src.path().string(), have, src.offset(),
                                     l.data_size()));
  }
}

// Step 0, in one MPI_Allreduce: each rank's own checks, and that all ranks pass the same size,
// root, source kind and options (min and -max of each value, so one MPI_MIN does both).
void check_arguments(MPI_Comm comm, std::string_view name, const layout& l, const source& src,
                     const share_options& opts, int rank, int size) {
  const outcome own = attempt([&] { check_own_arguments(name, l, src, opts, rank, size); });
  struct field {
    const char* what;
    long long value;
  };
  const field fields[] = {
      {"data size (bytes)", static_cast<long long>(l.data_size())},
      {"root", src.root()},
      {"source kind", static_cast<long long>(src.type())},
      {"copies", static_cast<long long>(opts.copies)},
      {"scope", static_cast<long long>(opts.scope)},
      {"chunk_bytes", static_cast<long long>(opts.chunk_bytes)},
      {"node_comm given", opts.node_comm != MPI_COMM_NULL ? 1 : 0},
  };
  constexpr int n = std::size(fields);
  long long mine[1 + 2 * n], low[1 + 2 * n];
  mine[0] = own.ok ? LLONG_MAX : rank;
  for (int i = 0; i < n; ++i) {
    mine[1 + i] = fields[i].value;
    mine[1 + n + i] = -fields[i].value;
  }
  check(MPI_Allreduce(mine, low, 1 + 2 * n, MPI_LONG_LONG, MPI_MIN, comm), "MPI_Allreduce(arguments)");
  if (low[0] != LLONG_MAX) detail::fail_together(comm, own, static_cast<int>(low[0]), name, "checking arguments");
  for (int i = 0; i < n; ++i)
    if (low[1 + i] != -low[1 + n + i]) {
      const auto why = fmt::format("the ranks pass different {} ({} … {}); share is collective: every rank "
                                   "passes the same layout, source kind, root and options",
                                   fields[i].what, low[1 + i], -low[1 + n + i]);
      throw share_error(fmt::format("share '{}': {}", name, why), -1, "", "checking arguments", "usage_error", why);
    }
}

// Leaders: no two node groups on one host may use the same store directory (they would wait
// for each other's name lock while both sit in the broadcast).
void check_distinct_stores(MPI_Comm leaders, const store& s, std::string_view host, int rank) {
  const std::string key = fmt::format("{}\n{}", host, s.backings().front().dir.string());
  const std::uint64_t mine[2] = {std::hash<std::string>{}(key), static_cast<std::uint64_t>(rank)};
  const int n = size_of(leaders);
  std::vector<std::uint64_t> all(2 * static_cast<std::size_t>(n));
  check(MPI_Allgather(mine, 2, MPI_UINT64_T, all.data(), 2, MPI_UINT64_T, leaders), "MPI_Allgather(stores)");
  for (int i = 0; i < n; ++i) {
    const auto other = static_cast<int>(all[2 * static_cast<std::size_t>(i) + 1]);
    if (other != rank && all[2 * static_cast<std::size_t>(i)] == mine[0])
      throw usage_error(fmt::format("ranks {} and {} lead different node groups on {} but both use the "
                                    "store {}: give each group its own store (ONECOPY_DIR), or leave "
                                    "node_comm unset", std::min(rank, other), std::max(rank, other), host,
                                    s.backings().front().dir.string()));
  }
}

// The NUMA nodes this node's ranks run on, sorted and unique (every rank of node gets it).
std::vector<int> numa_nodes_of_ranks(MPI_Comm node) {
  const int mine = sysfs::current_node();
  std::vector<int> all(static_cast<std::size_t>(size_of(node)));
  check(MPI_Allgather(&mine, 1, MPI_INT, all.data(), 1, MPI_INT, node), "MPI_Allgather(NUMA nodes)");
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
}

// The leader's unpublished files, sent to its node's ranks (any of them may outlive it), in one
// fixed-size MPI_Bcast.
std::vector<std::filesystem::path> share_draft_files(MPI_Comm node, int leader_node_rank,
                                                     const std::optional<draft>& made) {
  std::array<char, 16384> packed{};
  if (made) {
    std::size_t at = 0;
    for (const auto& f : made->unpublished_files()) {
      const std::string& p = f.native();
      if (at + p.size() + 1 >= packed.size()) break;  // the rest is left to 'onecopy gc'
      std::memcpy(packed.data() + at, p.c_str(), p.size() + 1);
      at += p.size() + 1;
    }
  }
  check(MPI_Bcast(packed.data(), static_cast<int>(packed.size()), MPI_CHAR, leader_node_rank, node),
        "MPI_Bcast(draft files)");
  std::vector<std::filesystem::path> files;
  for (std::size_t at = 0; at < packed.size() && packed[at] != '\0';) {
    const std::string p(packed.data() + at);
    files.emplace_back(p);
    at += p.size() + 1;
  }
  return files;
}

}  // namespace

shared_segment share(MPI_Comm user_comm, std::string_view name, const layout& l, const source& src,
                     const share_options& opts) {
  using clock = std::chrono::steady_clock;
  const auto started = clock::now();
  detail::context& ctx = detail::context_of(user_comm);
  MPI_Comm comm = ctx.comm;
  const int rank = rank_in(comm);
  const int size = size_of(comm);
  const std::string host = sys::host_name();
  detail::termination_guard guard(name, rank, host);
  const bool broadcast = src.type() != source::kind::load;
  const int root = src.root();
  const bool is_root = broadcast && rank == root;

  guard.step("checking arguments");
  check_arguments(comm, name, l, src, opts, rank, size);

  // Groups: the ranks sharing a copy, their leader, the leaders.
  owned_comm own_node;
  MPI_Comm node = ctx.node;
  if (opts.node_comm != MPI_COMM_NULL) {
    check(MPI_Comm_dup(opts.node_comm, own_node.out()), "MPI_Comm_dup(node_comm)");
    check(MPI_Comm_set_errhandler(own_node.get(), MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler(node_comm)");
    node = own_node.get();
  }
  const int node_rank = rank_in(node);
  const int node_size = size_of(node);
  int root_info[2] = {is_root ? 1 : 0, is_root ? node_rank : -1};  // MAX: root here?, its node rank
  check(MPI_Allreduce(MPI_IN_PLACE, root_info, 2, MPI_INT, MPI_MAX, node), "MPI_Allreduce(root here)");
  const bool root_here = root_info[0] != 0;
  const bool leader = root_here ? is_root : node_rank == 0;
  const int leader_node_rank = root_here ? root_info[1] : 0;
  owned_comm leaders;
  check(MPI_Comm_split(comm, leader ? 0 : MPI_UNDEFINED, is_root ? -1 : rank, leaders.out()),
        "MPI_Comm_split(leaders)");
  create_options create = opts.create;
  if (opts.scope == scope::job) create.remove_when_unused = true;
  // One replica per NUMA node the node's ranks run on: the engine's replicated segments (NAME@nodeN).
  if (opts.copies == copies::replicate) create.replicate_on = numa_nodes_of_ranks(node);

  // Find it, or create a draft holding the name's lock. The root fills its own draft now.
  guard.step("finding or creating the segment");
  std::optional<store> s;
  detail::found_or_draft st;
  const outcome found = attempt([&] {
    s = opts.where ? *opts.where : store::from_environment();
    if (!leader) return;
    check_distinct_stores(leaders.get(), *s, host, rank);
    // One copy per node: its NUMA placement is chosen as the CLI's and Python's are (auto asks
    // the planner on this host). copies::replicate has chosen its nodes above.
    if (opts.copies == copies::per_node) {
      plan_request r;
      r.size = l.data_size();
      r.where = opts.create.where;
      r.pages = opts.create.pages;
      r.strict = opts.create.strict;
      (void)choose_placement(r, create);
    }
    st = detail::find_or_begin(*s, name, l, create, opts.wait);
    if (st.found) {
      if (const auto why = detail::layout_mismatch(*st.found, l); !why.empty())
        throw usage_error(fmt::format("segment '{}' exists in {} but {}; remove it ('onecopy rm {}') or "
                                      "share under another name", name, st.found->path().string(), why, name));
    } else if (is_root) {
      guard.watch(st.made->unpublished_files());
      guard.step("reading the source");
      if (src.type() == source::kind::buffer) std::memcpy(st.made->bytes().data(), src.bytes().data(), l.data_size());
      else st.made->read_from_file(src.path(), src.offset(), 0, l.data_size());
    }
  });
  const bool creating = leader && st.made.has_value();
  const auto counts = agree(comm, found, name, "finding or creating the segment",
                            {leader ? 1 : 0, creating ? 1 : 0, is_root && creating ? 1 : 0});
  const int nodes = static_cast<int>(counts[0]);
  const int nodes_created = static_cast<int>(counts[1]);
  const bool others_need_bytes = nodes_created - counts[2] > 0;  // leaders other than the root's
  guard.watch(share_draft_files(node, leader_node_rank, st.made));

  // Fill.
  std::uint64_t broadcast_bytes = 0;
  if (!broadcast) {
    guard.step(creating ? "running the loader" : "waiting for the leaders' loaders");
    agree(comm, attempt([&] {
            if (creating) src.load_function()(*st.made);
          }),
          name, "loading");
  } else if (others_need_bytes) {
    // The root sends from memory: its draft, its buffer, or the segment its node already had.
    owned_comm group;  // the root and the leaders that create
    if (leader)
      check(MPI_Comm_split(leaders.get(), creating || is_root ? 0 : MPI_UNDEFINED, is_root ? -1 : rank, group.out()),
            "MPI_Comm_split(broadcast group)");
    guard.step(is_root ? "sending the broadcast" : creating ? "receiving the broadcast"
                                                            : "waiting for the broadcast to the leaders");
    agree(comm, attempt([&] {
            if (group.get() == MPI_COMM_NULL) return;
            std::byte* data = nullptr;
            if (creating) data = st.made->bytes().data();
            // The root's send buffer is only read by MPI_Bcast.
            else if (src.type() == source::kind::buffer) data = const_cast<std::byte*>(src.bytes().data());
            else data = const_cast<std::byte*>(st.found->bytes().data());
            detail::chunked_bcast(group.get(), 0, data, l.data_size(), opts.chunk_bytes,
                                  [](std::uint64_t piece) { detail::test_kill_point(piece); });
            broadcast_bytes = l.data_size();
          }),
          name, "broadcasting");
  }

  // Publish on the leaders; each tells its node, whose other ranks then attach; all agree.
  guard.step("publishing");
  std::optional<segment> seg;
  const outcome published = attempt([&] {
    if (creating) {
      seg = std::move(*st.made).publish();
      if (opts.scope == scope::job) ctx.job_segments.push_back({*s, std::string(name)});
    } else if (leader) {
      seg = std::move(*st.found);
    }
  });
  int node_state[2] = {published.ok ? 1 : 0, creating ? 1 : 0};  // from the leader: published?, created?
  check(MPI_Bcast(node_state, 2, MPI_INT, leader_node_rank, node), "MPI_Bcast(published)");
  guard.forget_files();
  guard.step("attaching");
  const outcome attached = !published.ok ? published : attempt([&] {
    if (!leader && node_state[0] != 0) seg = s->attach(name);
  });
  agree(comm, attached, name, "publishing and attaching");

  share_report report;
  report.leader = leader;
  report.created_here = node_state[1] != 0;
  report.nodes = nodes;
  report.nodes_created = nodes_created;
  report.node_ranks = node_size;
  report.broadcast_bytes = broadcast_bytes;
  report.host = host;
  report.seconds = std::chrono::duration<double>(clock::now() - started).count();
  return {std::move(*seg), std::move(report)};
}

std::uint64_t detail::agreed_size(MPI_Comm user_comm, std::string_view name, const source& src,
                                  std::uint64_t mine) {
  detail::context& ctx = detail::context_of(user_comm);
  const int rank = rank_in(ctx.comm);
  const int size = size_of(ctx.comm);
  std::uint64_t bytes = mine;
  agree(ctx.comm, attempt([&] {
          if (src.root() < 0 || src.root() >= size)
            throw usage_error(fmt::format("share '{}': root {} is not a rank of the communicator (0 … {})",
                                          name, src.root(), size - 1));
          if (rank != src.root() || mine != 0) return;
          if (src.type() == source::kind::load)
            throw usage_error(fmt::format("share '{}': a loader has no size of its own; pass one", name));
          bytes = src.type() == source::kind::buffer ? src.bytes().size()
                                                     : file_bytes_after(src.path(), src.offset());
        }),
        name, "checking arguments");
  std::uint64_t root_bytes = bytes;
  check(MPI_Bcast(&root_bytes, 1, MPI_UINT64_T, src.root(), ctx.comm), "MPI_Bcast(size)");
  return mine != 0 ? mine : root_bytes;
}

shared_segment share(MPI_Comm user_comm, std::string_view name, const source& src, const share_options& opts) {
  return share(user_comm, name, layout::bytes(detail::agreed_size(user_comm, name, src, 0)), src, opts);
}

void finalize(MPI_Comm comm) {
  detail::context* ctx = detail::find_context(comm);
  if (ctx == nullptr) {
    check(MPI_Barrier(comm), "MPI_Barrier(finalize)");  // still collective, like the real thing
    return;
  }
  const auto failures = detail::finalize_context(*ctx);
  if (!failures.empty()) {
    std::string all;
    for (const auto& f : failures) all += (all.empty() ? "" : "; ") + f;
    throw os_error(EIO, fmt::format("onecopy::mpi::finalize: {}", all));
  }
}

}  // namespace onecopy::mpi
