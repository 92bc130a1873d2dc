// SPDX-License-Identifier: Apache-2.0
// An MPI program for the mpi tests: every rank calls onecopy::mpi::share() and reports what it
// saw; rank 0 prints one JSON document on stdout. The tests (mpi_test) judge the JSON, the exit
// status and the stores; this program asserts nothing.
//
//   mpi_share_helper NAME BYTES [options]
//     --source buffer|file|load   where the bytes come from (default buffer); data = pattern(seed)
//     --file PATH                 the root's file (--source file)
//     --seed N                    pattern seed (default 1)
//     --scope job|persistent      (default job)
//     --copies node|replicate     (default node)
//     --chunk BYTES               broadcast piece size
//     --root R                    the root rank (default 0)
//     --groups-of K DIR           node groups of K consecutive ranks, group g's store DIR/gG
//     --fail-rank R               the loader throws on rank R
//     --finalize                  call onecopy::mpi::finalize before MPI_Finalize
//     --die-after-share R         rank R SIGKILLs itself once share has returned everywhere
// Exit status: 0 when share succeeded everywhere, 3 when it failed (reported in the JSON), 2
// for bad arguments. The store is ONECOPY_DIR unless --groups-of.
#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/pattern.hpp"
#include "onecopy/engine/memory_usage.hpp"
#include "onecopy/mpi/share.hpp"

using namespace onecopy;

namespace {

struct args {
  std::string name;
  std::uint64_t bytes = 0;
  std::string source = "buffer";
  std::string file;
  std::uint64_t seed = 1;
  mpi::scope scope = mpi::scope::job;
  mpi::copies copies = mpi::copies::per_node;
  std::uint64_t chunk = 0;
  int root = 0;
  int group_size = 0;
  std::string group_base;
  int fail_rank = -1;
  bool finalize = false;
  int die_after_share = -1;
};

bool parse(int argc, char** argv, args& a) {
  if (argc < 3) return false;
  a.name = argv[1];
  a.bytes = std::strtoull(argv[2], nullptr, 10);
  for (int i = 3; i < argc; ++i) {
    const std::string o = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (o == "--source") a.source = value();
    else if (o == "--file") a.file = value();
    else if (o == "--seed") a.seed = std::strtoull(value().c_str(), nullptr, 10);
    else if (o == "--scope") a.scope = value() == "persistent" ? mpi::scope::persistent : mpi::scope::job;
    else if (o == "--copies") a.copies = value() == "replicate" ? mpi::copies::replicate : mpi::copies::per_node;
    else if (o == "--chunk") a.chunk = std::strtoull(value().c_str(), nullptr, 10);
    else if (o == "--root") a.root = std::atoi(value().c_str());
    else if (o == "--groups-of") {
      a.group_size = std::atoi(value().c_str());
      a.group_base = value();
    } else if (o == "--fail-rank") a.fail_rank = std::atoi(value().c_str());
    else if (o == "--finalize") a.finalize = true;
    else if (o == "--die-after-share") a.die_after_share = std::atoi(value().c_str());
    else return false;
  }
  return a.bytes > 0 && (a.source == "buffer" || a.source == "file" || a.source == "load");
}

// Gathers one JSON object per rank on rank 0.
std::vector<nlohmann::json> gather(const nlohmann::json& mine) {
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const std::string text = mine.dump();
  int len = static_cast<int>(text.size());
  std::vector<int> lens(static_cast<std::size_t>(size)), offsets(static_cast<std::size_t>(size));
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  int total = 0;
  for (int i = 0; i < size; ++i) {
    offsets[static_cast<std::size_t>(i)] = total;
    total += lens[static_cast<std::size_t>(i)];
  }
  std::string all(static_cast<std::size_t>(total), '\0');
  MPI_Gatherv(text.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
  std::vector<nlohmann::json> out;
  if (rank == 0)
    for (int i = 0; i < size; ++i)
      out.push_back(nlohmann::json::parse(all.substr(static_cast<std::size_t>(offsets[static_cast<std::size_t>(i)]),
                                                     static_cast<std::size_t>(lens[static_cast<std::size_t>(i)]))));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  args a;
  if (!parse(argc, argv, a)) {
    std::fprintf(stderr, "usage: mpi_share_helper NAME BYTES [--source buffer|file|load] [--file PATH] "
                         "[--seed N] [--scope job|persistent] [--copies node|replicate] [--chunk B] "
                         "[--root R] [--groups-of K DIR] [--fail-rank R] [--finalize]\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  mpi::share_options opts;
  opts.scope = a.scope;
  opts.copies = a.copies;
  if (a.chunk) opts.chunk_bytes = a.chunk;
  MPI_Comm groups = MPI_COMM_NULL;
  if (a.group_size > 0) {
    MPI_Comm_split(MPI_COMM_WORLD, rank / a.group_size, rank, &groups);
    opts.node_comm = groups;
    opts.where = store::at(fmt::format("{}/g{}", a.group_base, rank / a.group_size));
  }

  std::vector<std::byte> buffer;
  if (a.source == "buffer" && rank == a.root) {
    buffer.resize(a.bytes);
    test::fill_pattern(buffer, a.seed, 0);
  }
  int loader_calls = 0;
  mpi::source src = a.source == "file"   ? mpi::source::file(a.file, a.root)
                    : a.source == "load" ? mpi::source::load([&](draft& d) {
                                             ++loader_calls;
                                             if (rank == a.fail_rank)
                                               throw std::runtime_error(fmt::format("injected failure: the loader of rank {}", rank));
                                             test::fill_pattern(d.bytes(), a.seed, 0);
                                           })
                                         : mpi::source::buffer(buffer, a.root);

  const std::uint64_t before = memory_of(::getpid()).total();
  nlohmann::json me = {{"rank", rank}, {"pid", ::getpid()}};
  int status = 0;
  try {
    mpi::shared_segment s = mpi::share(MPI_COMM_WORLD, a.name, layout::bytes(a.bytes), src, opts);
    // Every rank reads every page, then all measure while all still map it.
    const std::uint64_t sum = s.seg.compute_checksum(1);
    MPI_Barrier(MPI_COMM_WORLD);
    const std::uint64_t after = memory_of(::getpid()).total();
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == a.die_after_share) ::raise(SIGKILL);
    const auto& r = s.report;
    me.update({{"ok", true}, {"host", r.host}, {"leader", r.leader}, {"created_here", r.created_here},
               {"nodes", r.nodes}, {"nodes_created", r.nodes_created}, {"node_ranks", r.node_ranks},
               {"broadcast_bytes", r.broadcast_bytes}, {"seconds", r.seconds},
               {"checksum", fmt::format("{:016x}", sum)},
               {"recorded_checksum", fmt::format("{:016x}", s.seg.info().checksum)},
               {"path", s.seg.path().string()}, {"loader_calls", loader_calls},
               {"memory_before", before}, {"memory_after", after}});
  } catch (const mpi::share_error& e) {
    status = 3;
    me.update({{"ok", false}, {"error", e.what()}, {"failed_rank", e.failed_rank()}, {"step", e.step()},
               {"kind", e.kind()}, {"loader_calls", loader_calls}});
  } catch (const std::exception& e) {
    status = 3;
    me.update({{"ok", false}, {"error", e.what()}, {"failed_rank", -1}, {"kind", "other"}});
  }
  if (a.finalize) {
    try {
      mpi::finalize(MPI_COMM_WORLD);
    } catch (const std::exception& e) {
      me["finalize_error"] = e.what();
    }
  }
  const auto all = gather(me);
  if (rank == 0) std::printf("%s\n", nlohmann::json{{"ranks", all}}.dump().c_str());
  std::fflush(stdout);
  if (groups != MPI_COMM_NULL) MPI_Comm_free(&groups);
  MPI_Finalize();
  return status;
}
