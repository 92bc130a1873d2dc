// SPDX-License-Identifier: Apache-2.0
// `onecopy topo` against golden files for every recorded machine (text and JSON, plus a few
// plans), output width, the live views, and put's planner options with a private store.
//
// Regenerate the golden files after an intended output change (then review the diff):
//   ONECOPY_UPDATE_GOLDEN=1 build/dev/tests/cli/cli_topo_test --gtest_filter='*TopoGolden*'
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "onecopy/topology/sysfs.hpp"
#include "run_onecopy.hpp"

namespace onecopy {
namespace {

namespace fs = std::filesystem;
using test::run_onecopy;

const fs::path source_dir = ONECOPY_SOURCE_DIR;
const fs::path golden_dir = source_dir / "tests/cli/golden/topo";

std::size_t columns(const std::string& line) {
  std::size_t n = 0;
  for (char c : line)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Compares out with the golden file, or rewrites it when ONECOPY_UPDATE_GOLDEN is set.
void expect_golden(const std::string& out, const std::string& golden_name) {
  const fs::path golden = golden_dir / golden_name;
  if (std::getenv("ONECOPY_UPDATE_GOLDEN") != nullptr) {
    fs::create_directories(golden_dir);
    std::ofstream(golden) << out;
    return;
  }
  ASSERT_TRUE(fs::exists(golden)) << golden << " is missing; see the top of " << __FILE__;
  EXPECT_EQ(out, read_file(golden)) << "differs from " << golden << "; if intended, regenerate (top of " << __FILE__ << ")";
}

struct golden_case {
  std::string name;               // golden file stem
  std::vector<std::string> args;  // after "topo", run from the source directory
};

std::vector<golden_case> cases() {
  std::vector<golden_case> out;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(source_dir / "tests/topologies"))
    if (e.path().extension() == ".xml") files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    const std::string stem = fs::path(f).stem().string();
    const std::string input = "tests/topologies/" + f;
    out.push_back({stem + ".txt", {"--input", input}});
    out.push_back({stem + ".json", {"--input", input, "--json"}});
  }
  const std::string g4dn = "tests/topologies/aws-g4dn-metal-2numa-8xT4-hugepages.xml";
  out.push_back({"plan-g4dn-64GiB-all-gpus.txt", {"--input", g4dn, "--plan", "64GiB", "--gpus", "all", "--name", "weights"}});
  out.push_back({"plan-g4dn-250GiB-gpu3.txt", {"--input", g4dn, "--plan", "250GiB", "--gpus", "3"}});
  out.push_back({"plan-g4dn-8GiB-cpus.json", {"--input", g4dn, "--plan", "8GiB", "--json"}});
  out.push_back({"plan-ac922-16GiB-gpu4.txt", {"--input", "tests/topologies/ibm-power9-ac922-2numa+6gpumem-6xV100.xml",
                                               "--plan", "16GiB", "--gpus", "0035:04:00.0"}});
  out.push_back({"plan-epyc-40GiB-gpu0.txt", {"--input", "tests/topologies/dual-epyc-7401-8numa-4xMI50.xml",
                                              "--plan", "40GiB", "--gpus", "0"}});
  out.push_back({"plan-uv2000-8GiB-all-gpus.txt", {"--input", "tests/topologies/sgi-uv2000-8numa-irregular-groups.xml",
                                                   "--plan", "8GiB", "--gpus", "all"}});
  out.push_back({"plan-knl-replicate-interleave.txt", {"--input", "tests/topologies/knl-7250-snc4-flat-4ddr+4mcdram-v1.xml",
                                                       "--plan", "30GiB", "--policy", "replicate"}});
  return out;
}

void PrintTo(const golden_case& c, std::ostream* os) { *os << c.name; }

class TopoGolden : public testing::TestWithParam<golden_case> {};

TEST_P(TopoGolden, MatchesGoldenFile) {
  std::vector<std::string> args = {"topo"};
  args.insert(args.end(), GetParam().args.begin(), GetParam().args.end());
  const auto r = run_onecopy(args, source_dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  expect_golden(r.out, GetParam().name);
  if (GetParam().name.ends_with(".json")) {
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("schema"), "onecopy.topo/1");
    EXPECT_FALSE(j.at("nodes").empty());
    EXPECT_TRUE(j.at("live").is_null());
    EXPECT_TRUE(j.at("segments").is_null());
  } else {
    std::istringstream lines(r.out);
    std::string line;
    while (std::getline(lines, line)) EXPECT_LE(columns(line), 100u) << line;
  }
}

INSTANTIATE_TEST_SUITE_P(Machines, TopoGolden, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<golden_case>& param) {
                           std::string n = param.param.name;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

// A private store for the live views and put.
class TopoLive : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/dev/shm/onecopy-topo-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    env_ = {"ONECOPY_DIR=" + dir_.string()};
  }
  void TearDown() override { fs::remove_all(dir_); }
  test::run_result run(std::vector<std::string> args) const { return run_onecopy(args, dir_, env_); }

  fs::path dir_;
  std::vector<std::string> env_;
};

TEST_F(TopoLive, ShowsThisHostAndItsSegmentsPerNode) {
  ASSERT_EQ(run({"put", "weights", "--zeros", "3MiB", "--numa", "auto"}).exit_code, 0);
  auto r = run({"topo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("this machine:"), std::string::npos);
  EXPECT_NE(r.out.find("SEGMENTS BY NODE"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("weights ("), std::string::npos) << r.out;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) EXPECT_LE(columns(line), 100u) << line;

  r = run({"topo", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("source").at("kind"), "live");
  EXPECT_EQ(j.at("nodes").size(), sysfs::online_nodes().size());
  EXPECT_FALSE(j.at("live").is_null());
  ASSERT_EQ(j.at("segments").size(), 1u);
  EXPECT_EQ(j.at("segments")[0].at("name"), "weights");
}

TEST_F(TopoLive, SummaryIsShort) {
  const auto r = run({"topo", "--summary"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = std::count(r.out.begin(), r.out.end(), '\n');
  EXPECT_GE(lines, 3);
  EXPECT_LE(lines, 10);
}

TEST_F(TopoLive, PutReplicateMakesOneFilePerNode) {
  const int node = sysfs::current_node();
  auto r = run({"put", "w", "--zeros", "2MiB", "--numa", "replicate"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("plan: replicate"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir_ / ("w@node" + std::to_string(node))));
  EXPECT_FALSE(fs::exists(dir_ / "w"));
  r = run({"stat", "w"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("replicas   1"), std::string::npos) << r.out;
  r = run({"stat", "w", "--node", "1000"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no replica on node 1000"), std::string::npos) << r.err;
  r = run({"verify", "w"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run({"rm", "w"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / ("w@node" + std::to_string(node))));
}

TEST_F(TopoLive, PutExplainCreatesNothing) {
  auto r = run({"put", "w", "--zeros", "2MiB", "--explain"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("PLAN 2 MiB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("why:"), std::string::npos) << r.out;
  r = run({"ls"});
  EXPECT_NE(r.out.find("no segments"), std::string::npos) << r.out;
  r = run({"put", "w", "--zeros", "2MiB", "--numa", "replicate", "--explain", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("policy"), "replicate");
  EXPECT_FALSE(j.at("reasons").empty());
}

TEST_F(TopoLive, UsageErrorsExitTwo) {
  EXPECT_EQ(run({"topo", "--gpus", "0"}).exit_code, 2);                     // --gpus without --plan
  EXPECT_EQ(run({"topo", "--plan", "1GiB", "--policy", "spread"}).exit_code, 2);
  EXPECT_EQ(run({"topo", "--plan", "1GiB", "--gpus", "0"}).exit_code, 2);  // no GPUs here
  EXPECT_EQ(run({"put", "w", "--zeros", "1MiB", "--numa", "bind:1000"}).exit_code, 2);
  const auto r = run({"topo", "--input", "/nonexistent.xml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent.xml"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace onecopy
