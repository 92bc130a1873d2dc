// SPDX-License-Identifier: Apache-2.0
// onecopy::mpi::share() under a real mpirun: every rank sees the same bytes, a node holds one
// copy, a rerun skips the load, failures and a rank killed mid-broadcast end every rank and
// leave nothing behind. On one host, node groups with their own stores stand in for nodes
// (share_options::node_comm); MultiHostTest runs real simulated hosts (simhosts.sh).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/pattern.hpp"
#include "mpi_run.hpp"
#include "onecopy/engine/checksum.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/units.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

using nlohmann::json;

std::string expected_checksum(std::uint64_t bytes, std::uint64_t seed = 1) {
  std::vector<std::byte> data(bytes);
  test::fill_pattern(data, seed, 0);
  return fmt::format("{:016x}", segment_checksum(data));
}

class MpiShareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = test::mpi_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  }
  // mpirun -np N mpi_share_helper args… with this test's store.
  test::mpi_result run(int ranks, const std::vector<std::string>& args, std::map<std::string, std::string> env = {}) {
    env.emplace("ONECOPY_DIR", dir_.path().string());
    std::vector<std::string> argv = {MPI_SHARE_HELPER};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::mpirun(ranks, argv, env);
  }
  std::string group_store(int g) const { return fmt::format("{}/g{}", dir_.path().string(), g); }
  // Sum of the memory the ranks of group g gained through share (PSS + hugetlb share).
  static std::uint64_t memory_gained(const json& ranks, int first, int count) {
    std::uint64_t sum = 0;
    for (int r = first; r < first + count; ++r) {
      const auto& x = ranks.at(static_cast<std::size_t>(r));
      const auto before = x.at("memory_before").get<std::uint64_t>();
      const auto after = x.at("memory_after").get<std::uint64_t>();
      sum += after > before ? after - before : 0;
    }
    return sum;
  }
  static void expect_nothing_left(const std::string& dir) {
    store s = store::at(dir);
    EXPECT_TRUE(s.list().empty()) << dir << " still has " << s.list().front().name;
    for (const auto& p : s.problems()) ADD_FAILURE() << dir << ": left behind: " << p.path << " (" << p.what << ")";
  }

  test::temp_dir dir_{"/dev/shm", "onecopy-mpi-test"};     // the store
  test::temp_dir files_{"/dev/shm", "onecopy-mpi-input"};  // source files
};

// 4 ranks of one host: one leader reads the file into the node's only copy; every rank
// attaches it, sees the same bytes, and the 4 together pay for one copy.
TEST_F(MpiShareTest, FourRanksOnOneHostShareOneCopyWithIdenticalBytes) {
  constexpr std::uint64_t bytes = 96 * MiB;
  const auto file = files_.path() / "table.bin";
  {
    std::vector<std::byte> data(bytes);
    test::fill_pattern(data, 1, 0);
    std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(data.data()), bytes);
  }
  const auto r = run(4, {"table", std::to_string(bytes), "--source", "file", "--file", file.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto& ranks = r.doc.at("ranks");
  ASSERT_EQ(ranks.size(), 4u);
  const std::string want = expected_checksum(bytes);
  int leaders = 0;
  for (const auto& x : ranks) {
    EXPECT_TRUE(x.at("ok").get<bool>()) << x.dump();
    EXPECT_EQ(x.at("checksum"), want) << "rank " << x.at("rank");
    EXPECT_EQ(x.at("recorded_checksum"), want) << "rank " << x.at("rank");
    EXPECT_EQ(x.at("nodes"), 1);
    EXPECT_EQ(x.at("node_ranks"), 4);
    EXPECT_EQ(x.at("path"), ranks.at(0).at("path"));
    leaders += x.at("leader").get<bool>() ? 1 : 0;
  }
  EXPECT_EQ(leaders, 1);
  EXPECT_TRUE(ranks.at(0).at("leader").get<bool>()) << "the root leads its node";
  const auto gained = memory_gained(ranks, 0, 4);
  EXPECT_GT(gained, bytes * 9 / 10) << "every rank read every page";
  EXPECT_LT(gained, bytes * 3 / 2) << "4 ranks cost " << format_bytes(gained) << ": more than one copy of "
                                   << format_bytes(bytes);
  // scope::job: the leader removed it in MPI_Finalize.
  expect_nothing_left(dir_.path().string());
}

// 8 ranks in two node groups with their own stores: the root's buffer reaches the other
// group's leader by MPI_Bcast (in 4 MiB pieces) straight into its draft; each group holds one copy.
TEST_F(MpiShareTest, EightRanksInTwoNodeGroupsReceiveTheBroadcastIntoTheirOwnCopy) {
  constexpr std::uint64_t bytes = 64 * MiB;
  const auto r = run(8, {"table", std::to_string(bytes), "--source", "buffer", "--chunk", std::to_string(4 * MiB),
                         "--groups-of", "4", dir_.path().string(), "--scope", "persistent"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto& ranks = r.doc.at("ranks");
  ASSERT_EQ(ranks.size(), 8u);
  const std::string want = expected_checksum(bytes);
  for (const auto& x : ranks) {
    EXPECT_TRUE(x.at("ok").get<bool>()) << x.dump();
    EXPECT_EQ(x.at("checksum"), want) << "rank " << x.at("rank");
    EXPECT_EQ(x.at("nodes"), 2);
    EXPECT_EQ(x.at("nodes_created"), 2);
    const int rank = x.at("rank");
    EXPECT_EQ(x.at("leader").get<bool>(), rank % 4 == 0) << "rank " << rank;
    EXPECT_EQ(x.at("path"), fmt::format("{}/table", group_store(rank / 4)));
  }
  EXPECT_EQ(ranks.at(0).at("broadcast_bytes"), bytes) << "the root sent it";
  EXPECT_EQ(ranks.at(4).at("broadcast_bytes"), bytes) << "group 1's leader received it";
  for (int g = 0; g < 2; ++g) {
    const auto gained = memory_gained(ranks, 4 * g, 4);
    EXPECT_GT(gained, bytes * 9 / 10) << "group " << g;
    EXPECT_LT(gained, bytes * 3 / 2) << "group " << g << " costs " << format_bytes(gained);
    const auto list = store::at(group_store(g)).list();
    ASSERT_EQ(list.size(), 1u) << "group " << g;
    EXPECT_EQ(fmt::format("{:016x}", list.front().info.checksum), want);
  }
}

// Create-once: a second job step finds the persistent segments and runs no loader at all.
TEST_F(MpiShareTest, ARerunFindsTheSegmentAndSkipsTheLoad) {
  constexpr std::uint64_t bytes = 16 * MiB;
  const std::vector<std::string> args = {"table", std::to_string(bytes), "--source", "load", "--groups-of", "4",
                                         dir_.path().string(), "--scope", "persistent"};
  const auto first = run(8, args);
  ASSERT_EQ(first.code, 0) << first.err;
  int loads = 0;
  for (const auto& x : first.doc.at("ranks")) {
    loads += x.at("loader_calls").get<int>();
    EXPECT_TRUE(x.at("created_here").get<bool>());
  }
  EXPECT_EQ(loads, 2) << "one loader per node group";

  const auto second = run(8, args);
  ASSERT_EQ(second.code, 0) << second.err;
  const std::string want = expected_checksum(bytes);
  for (const auto& x : second.doc.at("ranks")) {
    EXPECT_EQ(x.at("loader_calls"), 0) << "rank " << x.at("rank") << " loaded again";
    EXPECT_FALSE(x.at("created_here").get<bool>());
    EXPECT_EQ(x.at("nodes_created"), 0);
    EXPECT_EQ(x.at("checksum"), want);
  }
}

// copies::replicate: one replica per NUMA node the node's ranks run on ("NAME@nodeN"), each rank
// attached to its own node's.
TEST_F(MpiShareTest, ReplicateGivesEachRankItsNumaNodesReplica) {
  constexpr std::uint64_t bytes = 16 * MiB;
  const auto r = run(4, {"table", std::to_string(bytes), "--source", "buffer", "--copies", "replicate",
                         "--scope", "persistent"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const std::string want = expected_checksum(bytes);
  for (const auto& x : r.doc.at("ranks")) {
    EXPECT_EQ(x.at("checksum"), want);
    const std::string path = x.at("path");
    EXPECT_NE(path.find("/table@node"), std::string::npos) << path;
  }
  // As many files as NUMA nodes with ranks on them (1 on a one-node host), each a full copy.
  for (const auto& e : store::at(dir_.path()).list()) EXPECT_EQ(e.info.data_size, bytes) << e.name;
}

// finalize(): scope::job segments go (after a barrier), persistent ones stay.
TEST_F(MpiShareTest, FinalizeRemovesJobSegmentsAndKeepsPersistentOnes) {
  const auto job = run(4, {"scratch", "1048576", "--source", "load", "--scope", "job", "--finalize"});
  ASSERT_EQ(job.code, 0) << job.err;
  for (const auto& x : job.doc.at("ranks")) EXPECT_FALSE(x.contains("finalize_error")) << x.dump();
  EXPECT_FALSE(store::at(dir_.path()).exists("scratch"));

  const auto kept = run(4, {"kept", "1048576", "--source", "load", "--scope", "persistent", "--finalize"});
  ASSERT_EQ(kept.code, 0) << kept.err;
  EXPECT_TRUE(store::at(dir_.path()).exists("kept"));
}

// A job that dies after share never reaches finalize: its scope::job segments stay, marked
// remove_when_unused, and `onecopy gc` (store::gc) removes them once no process maps them.
TEST_F(MpiShareTest, JobSegmentsOfAJobThatDiedGoWithTheNextGc) {
  const auto r = run(4, {"orphan", "1048576", "--source", "load", "--die-after-share", "2"});
  EXPECT_NE(r.code, 0);
  store s = store::at(dir_.path());
  ASSERT_TRUE(s.exists("orphan")) << "nobody finalized";
  EXPECT_TRUE(s.list().front().info.remove_when_unused);
  const auto report = s.gc();
  EXPECT_EQ(report.removed_unused_segments, std::vector<std::string>{"orphan"});
  expect_nothing_left(dir_.path().string());
}

// A step that fails on one rank fails share on every rank with the same error, and nothing is
// published anywhere (the other group's draft was complete, and it is dropped too).
TEST_F(MpiShareTest, ALoaderThatFailsOnOneRankFailsEveryRankAndPublishesNothing) {
  const auto r = run(8, {"table", std::to_string(8 * MiB), "--source", "load", "--groups-of", "4",
                         dir_.path().string(), "--fail-rank", "4"});
  EXPECT_NE(r.code, 0);
  ASSERT_TRUE(r.doc.contains("ranks")) << r.out << r.err;
  for (const auto& x : r.doc.at("ranks")) {
    EXPECT_FALSE(x.at("ok").get<bool>()) << "rank " << x.at("rank");
    EXPECT_EQ(x.at("failed_rank"), 4);
    EXPECT_EQ(x.at("step"), "loading");
    EXPECT_NE(x.at("error").get<std::string>().find("injected failure: the loader of rank 4"), std::string::npos)
        << x.at("error");
  }
  expect_nothing_left(group_store(0));
  expect_nothing_left(group_store(1));
}

// share is collective: ranks that pass different sizes all get the same usage error.
TEST_F(MpiShareTest, RanksThatDisagreeOnTheLayoutAllFailBeforeAnythingIsCreated) {
  const auto r = test::mpirun_mpmd({{2, {MPI_SHARE_HELPER, "table", "4096"}}, {2, {MPI_SHARE_HELPER, "table", "8192"}}},
                                   {{"ONECOPY_DIR", dir_.path().string()}});
  EXPECT_NE(r.code, 0);
  ASSERT_TRUE(r.doc.contains("ranks")) << r.out << r.err;
  for (const auto& x : r.doc.at("ranks")) {
    EXPECT_EQ(x.at("kind"), "usage_error");
    EXPECT_NE(x.at("error").get<std::string>().find("different data size (bytes) (4096 … 8192)"), std::string::npos)
        << x.at("error");
  }
  expect_nothing_left(dir_.path().string());
}

// A rank dies (SIGKILL) in the middle of the broadcast. Open MPI without ULFM reports it to no
// one; mpirun terminates the others with SIGTERM. Every survivor says where it was, the nodes'
// drafts are removed, and no store holds anything.
class MpiRankDeathTest : public MpiShareTest, public ::testing::WithParamInterface<int> {};

TEST_P(MpiRankDeathTest, ARankKilledMidBroadcastEndsEveryRankAndLeavesNothing) {
  const int killed = GetParam();
  const auto r = run(8, {"table", std::to_string(64 * MiB), "--source", "buffer", "--chunk", std::to_string(4 * MiB),
                         "--groups-of", "4", dir_.path().string()},
                     {{"ONECOPY_MPI_TEST_KILL_AT", fmt::format("{}:3", killed)}});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find(fmt::format("process rank {} with PID", killed)), std::string::npos) << r.err;
  for (int rank = 0; rank < 8; ++rank) {
    if (rank == killed) continue;
    const auto line = fmt::format("onecopy::mpi::share('table'): rank {} on ", rank);
    const auto at = r.err.find(line);
    ASSERT_NE(at, std::string::npos) << "rank " << rank << " did not report:\n" << r.err;
    const auto end = r.err.find('\n', at);
    EXPECT_NE(r.err.substr(at, end - at).find("terminated by SIGTERM while "), std::string::npos) << r.err;
  }
  EXPECT_EQ(r.err.find("publishing"), std::string::npos) << "nobody got as far as publishing";
  expect_nothing_left(group_store(0));
  expect_nothing_left(group_store(1));
}

// 4: the receiving leader of group 1; 0: the root, while it sends.
INSTANTIATE_TEST_SUITE_P(Killed, MpiRankDeathTest, ::testing::Values(4, 0),
                         [](const auto& p) { return p.param == 0 ? "Root" : "ReceivingLeader"; });

// ---- C and Python -------------------------------------------------------------------------------

// A C program: onecopy_mpi_share of a typed buffer (other ranks pass size 0), a loader, a bad
// name that fails on every rank with the same message, onecopy_mpi_finalize.
TEST_F(MpiShareTest, TheCApiSharesABufferALoaderAndReportsErrorsOnEveryRank) {
  const auto r = test::mpirun(4, {MPI_C_API_HELPER}, {{"ONECOPY_DIR", dir_.path().string()}});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.doc.at("ok"), true) << r.out;
  EXPECT_EQ(r.doc.at("ranks"), 4);
  EXPECT_EQ(r.doc.at("finalize"), 0);
  const std::string bad = r.doc.at("bad_call");
  EXPECT_TRUE(bad.starts_with("2 share 'no/slash': rank 0 on ")) << bad;
  EXPECT_NE(bad.find("invalid segment name"), std::string::npos) << bad;
  expect_nothing_left(dir_.path().string());
}

#ifdef MPI_PYTHON
// onecopy.mpi.share with mpi4py: a numpy array on rank 0, a .npy file rank 0 reads, and a
// missing file that fails on every rank.
TEST_F(MpiShareTest, PythonShareWithMpi4pyGivesEveryRankTheRootsArray) {
  const auto probe = test::run({MPI_PYTHON, "-c", "import mpi4py, numpy"});
  if (probe.code != 0) GTEST_SKIP() << "python3 cannot import mpi4py and numpy: " << probe.err;
  std::map<std::string, std::string> env = {{"ONECOPY_DIR", dir_.path().string()},
                                            {"PYTHONPATH", MPI_PYTHONPATH},
                                            {"ONECOPY_MPI_LIBRARY", MPI_C_LIBRARY},
                                            {"PYTHONDONTWRITEBYTECODE", "1"}};
  if (std::string(MPI_PYTHON_PRELOAD).size() > 0) {
    env["LD_PRELOAD"] = MPI_PYTHON_PRELOAD;
    env["ASAN_OPTIONS"] = "detect_leaks=0";
  }
  const auto r = test::mpirun(4, {MPI_PYTHON, std::string(MPI_TEST_DIR) + "/python_share.py", files_.path().string()}, env);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const auto& ranks = r.doc.at("ranks");
  ASSERT_EQ(ranks.size(), 4u) << r.out;
  for (const auto& x : ranks) {
    EXPECT_EQ(x.at("array_equal"), true);
    EXPECT_EQ(x.at("array_readonly"), true);
    EXPECT_EQ(x.at("array_dtype"), "float32");
    EXPECT_EQ(x.at("array_shape"), json::array({3, 1048576}));
    EXPECT_EQ(x.at("created_here"), true);
    EXPECT_EQ(x.at("npy_equal"), true);
    EXPECT_NE(x.at("missing").get<std::string>().find("share 'py-missing': rank 0 cannot share its source: "
                                                      "FileNotFoundError"), std::string::npos) << x.at("missing");
  }
  EXPECT_TRUE(store::at(dir_.path()).exists("py-npy")) << "persistent";
  EXPECT_FALSE(store::at(dir_.path()).exists("py-array")) << "job scope, finalized";
}
#endif

// ---- several real hosts on one machine (simhosts.sh: UTS + mount + network namespaces) -------

class MultiHostTest : public ::testing::Test {
 protected:
  static constexpr const char* store_dir = "/dev/shm/onecopy-simhost";  // in each host's own /dev/shm

  // simhosts.sh --nodes 3 --slots 2 --after AFTER -- -np 6 <rank env> helper args…
  test::mpi_result run_hosts(const std::vector<std::string>& args, const std::string& after,
                             std::map<std::string, std::string> env = {}) {
    env.emplace("ONECOPY_DIR", store_dir);
    std::vector<std::string> argv = {std::string(MPI_TEST_DIR) + "/simhosts.sh", "--nodes", "3", "--slots", "2",
                                     "--shm-size", "512M", "--after", after, "--", "-np", "6"};
    const auto flags = test::rank_flags(env);
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back(MPI_SHARE_HELPER);
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = test::run(argv);
    return {r.code, r.out, r.err, test::last_json_line(r.out)};
  }
  // The "after HOST: line" lines of out, per host.
  static std::map<std::string, std::vector<std::string>> after_lines(const std::string& out) {
    std::map<std::string, std::vector<std::string>> lines;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.starts_with("after ")) continue;
      const auto colon = line.find(": ");
      lines[line.substr(6, colon - 6)].push_back(colon == std::string::npos ? "" : line.substr(colon + 2));
    }
    return lines;
  }
  void SetUp() override {
    if (auto why = test::mpi_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  }
};

// 3 hosts × 2 ranks: MPI groups ranks by host, the root's buffer crosses the veth/bridge
// network to the other two hosts' leaders, and the job ends with 3 copies — one per host.
TEST_F(MultiHostTest, ThreeHostsOfTwoRanksEndWithThreeCopies) {
  constexpr std::uint64_t bytes = 32 * MiB;
  const auto r = run_hosts({"table", std::to_string(bytes), "--scope", "persistent", "--chunk", std::to_string(4 * MiB)},
                           fmt::format("find {} -maxdepth 1 -type f -printf '%f %s\\n'", store_dir));
  if (r.code == 77) GTEST_SKIP() << r.err;
  ASSERT_EQ(r.code, 0) << r.err;
  const auto& ranks = r.doc.at("ranks");
  ASSERT_EQ(ranks.size(), 6u);
  const std::string want = expected_checksum(bytes);
  std::map<std::string, std::vector<int>> by_host;
  for (const auto& x : ranks) {
    EXPECT_TRUE(x.at("ok").get<bool>()) << x.dump();
    EXPECT_EQ(x.at("checksum"), want) << "rank " << x.at("rank");
    EXPECT_EQ(x.at("nodes"), 3);
    EXPECT_EQ(x.at("nodes_created"), 3);
    EXPECT_EQ(x.at("node_ranks"), 2);
    by_host[x.at("host")].push_back(x.at("rank"));
    if (x.at("leader").get<bool>()) {
      EXPECT_EQ(x.at("broadcast_bytes"), bytes) << "rank " << x.at("rank");
    }
  }
  ASSERT_EQ(by_host.size(), 3u) << "MPI saw " << by_host.size() << " hosts";
  for (const auto& [host, members] : by_host) {
    ASSERT_EQ(members.size(), 2u) << host;
    std::uint64_t gained = 0;
    for (int rank : members) {
      const auto& x = ranks.at(static_cast<std::size_t>(rank));
      gained += x.at("memory_after").get<std::uint64_t>() - x.at("memory_before").get<std::uint64_t>();
    }
    EXPECT_GT(gained, bytes * 9 / 10) << host;
    EXPECT_LT(gained, bytes * 3 / 2) << host << "'s 2 ranks cost " << format_bytes(gained);
  }
  // Each host's private /dev/shm holds exactly one file: the segment. 3 hosts, 3 copies.
  const auto after = after_lines(r.out);
  ASSERT_EQ(after.size(), 3u) << r.out;
  for (const auto& [host, files] : after) {
    EXPECT_TRUE(by_host.contains(host)) << host;
    ASSERT_EQ(files.size(), 1u) << host << " holds " << files.size() << " files";
    EXPECT_TRUE(files.front().starts_with("table ")) << files.front();
  }
}

// A host's leader dies while receiving over the network: every other rank on every host is
// terminated with a line saying where it was, and no host keeps a segment or a draft.
TEST_F(MultiHostTest, ALeaderKilledWhileReceivingLeavesNothingOnAnyHost) {
  const auto r = run_hosts({"table", std::to_string(32 * MiB), "--chunk", std::to_string(2 * MiB)},
                           fmt::format("find {} -type f ! -path '*/.locks/*' -printf 'left %p\\n'; echo checked",
                                       store_dir),
                           {{"ONECOPY_MPI_TEST_KILL_AT", "2:3"}});
  if (r.code == 77) GTEST_SKIP() << r.err;
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("process rank 2 with PID"), std::string::npos) << r.err;
  for (int rank : {0, 1, 3, 4, 5})
    EXPECT_NE(r.err.find(fmt::format("onecopy::mpi::share('table'): rank {} on ", rank)), std::string::npos)
        << "rank " << rank << " did not report:\n" << r.err;
  const auto after = after_lines(r.out);
  ASSERT_EQ(after.size(), 3u) << r.out;
  for (const auto& [host, lines] : after)
    EXPECT_EQ(lines, std::vector<std::string>{"checked"}) << host << " kept files";
}

}  // namespace
}  // namespace onecopy
