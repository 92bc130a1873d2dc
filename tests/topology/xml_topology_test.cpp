// SPDX-License-Identifier: Apache-2.0
// Every recorded machine in tests/topologies: nodes, memory, GPU locality, and what the planner
// decides for all CPUs, each GPU and all GPUs at a size that fits one node and one that does not.
// The expected values come from tests/topologies/README.md (checked there against lstopo).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/plan.hpp"
#include "plan_summary.hpp"
#include "onecopy/topology/topology.hpp"
#include "onecopy/units.hpp"

namespace onecopy {
namespace {

struct gpu_expect {
  std::string bus_id;
  std::vector<int> local_nodes;
  std::vector<int> memory_nodes = {};
};

struct machine {
  std::string file;
  std::vector<int> nodes;                // OS indexes
  std::vector<memory_kind> kinds;        // per node
  std::vector<double> memory_gib;        // per node, to 0.01 GiB
  std::vector<int> disallowed;           // nodes outside the exporter's cgroup
  std::size_t cpus = 0;                  // PUs
  std::uint64_t base_page = 4096;
  bool distances = true;
  std::vector<gpu_expect> gpus;
  std::uint64_t too_big = 0;             // bytes: more than any one node holds
  // Expected plans, written "policy:nodes" (replicate lists the replica nodes).
  std::string cpus_fit, cpus_big;
  std::vector<std::string> gpu_fit, gpu_big;  // per GPU
  std::string all_gpus_fit, all_gpus_big;
};

// Test names show the file, not the bytes of the struct.
void PrintTo(const machine& m, std::ostream* os) { *os << m.file; }

constexpr std::uint64_t fits = 8 * GiB;  // below 90% of every machine's smallest DRAM node

std::vector<machine> machines() {
  using enum memory_kind;
  return {
      {"aws-g4dn-metal-2numa-8xT4-hugepages.xml", {0, 1}, {dram, dram}, {188.54, 188.99}, {}, 96, 4096, true,
       {{"0000:18:00.0", {0}}, {"0000:19:00.0", {0}}, {"0000:35:00.0", {0}}, {"0000:36:00.0", {0}},
        {"0000:e7:00.0", {1}}, {"0000:e8:00.0", {1}}, {"0000:f4:00.0", {1}}, {"0000:f5:00.0", {1}}},
       244 * GiB, "replicate:0-1", "interleave:0-1",
       {"bind:0", "bind:0", "bind:0", "bind:0", "bind:1", "bind:1", "bind:1", "bind:1"},
       std::vector<std::string>(8, "interleave:0-1"), "replicate:0-1", "interleave:0-1"},
      {"nvidia-dgx2h-2numa-16xV100-nvswitch.xml", {0, 1}, {dram, dram}, {754.59, 755.99}, {}, 4, 4096, true,
       {{"0000:34:00.0", {0}}, {"0000:36:00.0", {0}}, {"0000:39:00.0", {0}}, {"0000:3b:00.0", {0}},
        {"0000:57:00.0", {0}}, {"0000:59:00.0", {0}}, {"0000:5c:00.0", {0}}, {"0000:5e:00.0", {0}},
        {"0000:b7:00.0", {1}}, {"0000:b9:00.0", {1}}, {"0000:bc:00.0", {1}}, {"0000:be:00.0", {1}},
        {"0000:e0:00.0", {1}}, {"0000:e2:00.0", {1}}, {"0000:e5:00.0", {1}}, {"0000:e7:00.0", {1}}},
       981 * GiB, "replicate:0-1", "interleave:0-1",
       {"bind:0", "bind:0", "bind:0", "bind:0", "bind:0", "bind:0", "bind:0", "bind:0",
        "bind:1", "bind:1", "bind:1", "bind:1", "bind:1", "bind:1", "bind:1", "bind:1"},
       std::vector<std::string>(16, "interleave:0-1"), "replicate:0-1", "interleave:0-1"},
      {"ibm-power9-lassen-2numa-4xV100.xml", {0, 8}, {dram, dram}, {127.68, 127.75}, {}, 160, 65536, true,
       {{"0004:04:00.0", {0}}, {"0004:05:00.0", {0}}, {"0035:03:00.0", {8}}, {"0035:04:00.0", {8}}},
       165 * GiB, "replicate:0,8", "interleave:0,8", {"bind:0", "bind:0", "bind:8", "bind:8"},
       std::vector<std::string>(4, "interleave:0,8"), "replicate:0,8", "interleave:0,8"},
      {"ibm-power9-ac922-2numa+6gpumem-6xV100.xml", {0, 8, 250, 251, 252, 253, 254, 255},
       {dram, dram, gpu_memory, gpu_memory, gpu_memory, gpu_memory, gpu_memory, gpu_memory},
       {123.82, 127.75, 15, 15, 15, 15, 15, 15}, {}, 32, 65536, true,
       {{"0004:05:00.0", {0}, {255}}, {"0004:06:00.0", {0}, {254}}, {"0006:00:00.0", {0}, {253}},
        {"0007:00:00.0", {8}, {252}}, {"0035:04:00.0", {8}, {251}}, {"0035:05:00.0", {8}, {250}}},
       165 * GiB, "replicate:0,8", "interleave:0,8",
       {"bind:0", "bind:0", "bind:0", "bind:8", "bind:8", "bind:8"},
       std::vector<std::string>(6, "interleave:0,8"), "replicate:0,8", "interleave:0,8"},
      {"dual-xeon-e5-2695v4-2numa-2xP100-onesocket.xml", {0, 1}, {dram, dram}, {125.5, 125.98}, {}, 72, 4096, true,
       {{"0000:04:00.0", {0}}, {"0000:07:00.0", {0}}},
       162 * GiB, "replicate:0-1", "interleave:0-1", {"bind:0", "bind:0"},
       {"interleave:0-1", "interleave:0-1"}, "bind:0", "interleave:0-1"},
      {"dual-epyc-7401-8numa-4xMI50.xml", {0, 1, 2, 3, 4, 5, 6, 7}, std::vector<memory_kind>(8, dram),
       {31.89, 32, 32, 32, 32, 32, 32, 32}, {}, 96, 4096, true,
       {{"0000:13:00.0", {1}}, {"0000:23:00.0", {2}}, {"0000:53:00.0", {5}}, {"0000:73:00.0", {7}}},
       40 * GiB, "replicate:0-7", "interleave:0-7", {"bind:1", "bind:2", "bind:5", "bind:7"},
       // Spill to the nearest node (distance 16: the same package; lowest OS index first).
       {"interleave:0-1", "interleave:0,2", "interleave:4-5", "interleave:4,7"},
       "replicate:1-2,5,7", "interleave:1-2,5,7"},
      {"knl-7250-snc4-flat-4ddr+4mcdram-v1.xml", {0, 1, 2, 3, 4, 5, 6, 7},
       {dram, dram, dram, dram, mcdram, mcdram, mcdram, mcdram}, {23.91, 24, 24, 24, 4, 4, 4, 4}, {}, 272, 4096,
       false, {}, 31 * GiB, "replicate:0-3", "interleave:0-3", {}, {}, "", ""},
      {"sgi-uv2000-8numa-irregular-groups.xml", {0, 1, 2, 3, 4, 5, 6, 7}, std::vector<memory_kind>(8, dram),
       {30.96, 30.98, 30.98, 30.98, 30.98, 30.98, 30.98, 30.98}, {2, 3, 4, 5, 6, 7}, 64, 4096, true,
       // Both GPUs hang off nodes this (restricted) process may not use: nearest allowed is 0.
       {{"0002:01:00.0", {4}}, {"0004:01:00.0", {7}}},
       39 * GiB, "replicate:0-1", "interleave:0-1", {"bind:0", "bind:0"},
       {"interleave:0-1", "interleave:0-1"}, "bind:0", "interleave:0-1"},
      {"kunpeng920-2pkg-4numa-nonuniform-dist.xml", {0, 1, 2, 3}, std::vector<memory_kind>(4, dram),
       {125.63, 126, 126, 124.99}, {}, 128, 4096, true, {}, 162 * GiB, "replicate:0-3", "interleave:0-3",
       {}, {}, "", ""},
  };
}

class RecordedTopology : public testing::TestWithParam<machine> {
 protected:
  static const topology& load(const std::string& file) {
    static std::map<std::string, topology> cache;
    auto it = cache.find(file);
    if (it == cache.end())
      it = cache.emplace(file, topology::from_xml(std::filesystem::path(ONECOPY_TOPOLOGIES_DIR) / file)).first;
    return it->second;
  }
  const topology& t() const { return load(GetParam().file); }
  std::string plan_for(std::uint64_t size, std::vector<int> gpus = {}) const {
    plan_request r;
    r.size = size;
    r.gpus = std::move(gpus);
    return test::decided(plan(t(), r));
  }
};

TEST_P(RecordedTopology, HasTheRecordedNodes) {
  const auto& m = GetParam();
  EXPECT_EQ(t().source(), topology_source::xml);
  ASSERT_EQ(t().nodes().size(), m.nodes.size());
  for (std::size_t i = 0; i < m.nodes.size(); ++i) {
    const auto& n = t().nodes()[i];
    SCOPED_TRACE(fmt::format("node {}", n.os_index));
    EXPECT_EQ(n.os_index, m.nodes[i]);
    EXPECT_EQ(n.kind, m.kinds[i]);
    EXPECT_NEAR(static_cast<double>(n.memory) / GiB, m.memory_gib[i], 0.01);
    const bool disallowed = std::find(m.disallowed.begin(), m.disallowed.end(), n.os_index) != m.disallowed.end();
    EXPECT_EQ(n.allowed, !disallowed);
    EXPECT_EQ(n.base_page_size, m.base_page);
    EXPECT_FALSE(n.free.has_value()) << "an XML file records no free memory";
    // Only ordinary memory is a CPU's home; MCDRAM and GPU memory are CPU-less.
    EXPECT_EQ(n.cpus.empty(), n.kind != memory_kind::dram);
  }
  EXPECT_EQ(t().info().cpus.size(), m.cpus);
  EXPECT_EQ(t().info().distances.empty(), !m.distances);
  // Every CPU has exactly one home node.
  std::size_t homed = 0;
  for (const auto& n : t().nodes()) homed += n.cpus.size();
  EXPECT_EQ(homed, m.cpus);
}

TEST_P(RecordedTopology, GpusAreLocalToTheRecordedNodes) {
  const auto& m = GetParam();
  ASSERT_EQ(t().gpus().size(), m.gpus.size());
  for (std::size_t i = 0; i < m.gpus.size(); ++i) {
    const auto& g = t().gpus()[i];
    SCOPED_TRACE(g.bus_id);
    EXPECT_EQ(g.index, static_cast<int>(i));
    EXPECT_EQ(g.bus_id, m.gpus[i].bus_id);
    EXPECT_EQ(g.kind, device_kind::gpu);
    EXPECT_EQ(g.local_nodes, m.gpus[i].local_nodes);
    EXPECT_EQ(g.memory_nodes, m.gpus[i].memory_nodes);
    EXPECT_FALSE(g.local_cpus.empty());
    for (int os : g.local_nodes) EXPECT_NE(t().node(os)->kind, memory_kind::gpu_memory);
  }
}

TEST_P(RecordedTopology, PlansForAllCpus) {
  EXPECT_EQ(plan_for(fits), GetParam().cpus_fit);
  EXPECT_EQ(plan_for(GetParam().too_big), GetParam().cpus_big);
}

TEST_P(RecordedTopology, PlansForEachGpu) {
  const auto& m = GetParam();
  for (std::size_t i = 0; i < m.gpus.size(); ++i) {
    SCOPED_TRACE(fmt::format("GPU {}", i));
    EXPECT_EQ(plan_for(fits, {static_cast<int>(i)}), m.gpu_fit[i]);
    EXPECT_EQ(plan_for(m.too_big, {static_cast<int>(i)}), m.gpu_big[i]);
  }
}

TEST_P(RecordedTopology, PlansForAllGpus) {
  const auto& m = GetParam();
  if (m.gpus.empty()) GTEST_SKIP() << m.file << " has no GPUs";
  std::vector<int> all;
  for (std::size_t i = 0; i < m.gpus.size(); ++i) all.push_back(static_cast<int>(i));
  EXPECT_EQ(plan_for(fits, all), m.all_gpus_fit);
  EXPECT_EQ(plan_for(m.too_big, all), m.all_gpus_big);
}

TEST_P(RecordedTopology, NeverPlansAHostCopyOnGpuMemoryOrDisallowedNodes) {
  const auto& m = GetParam();
  std::vector<std::vector<int>> consumers = {{}};
  for (std::size_t i = 0; i < m.gpus.size(); ++i) consumers.push_back({static_cast<int>(i)});
  for (const auto& gpus : consumers) {
    for (auto policy : {numa_policy::automatic, numa_policy::interleave, numa_policy::replicate, numa_policy::bind}) {
      plan_request r;
      r.size = fits;
      r.gpus = gpus;
      r.where.policy = policy;
      const auto p = plan(t(), r);
      for (const auto& c : p.copies)
        for (int os : c.nodes) {
          EXPECT_EQ(t().node(os)->kind, memory_kind::dram) << p.summary();
          EXPECT_TRUE(t().node(os)->allowed) << p.summary();
        }
    }
  }
}

TEST_P(RecordedTopology, EveryPlanGivesReasons) {
  plan_request r;
  r.size = GetParam().too_big;
  const auto p = plan(t(), r);
  EXPECT_GE(p.reasons.size(), 3u);  // consumers, placement, pages
  EXPECT_GE(p.total_bytes, r.size);
}

TEST_P(RecordedTopology, SizeLargerThanTheHostIsAnError) {
  plan_request r;
  r.size = t().total_memory() * 2;
  EXPECT_THROW((void)plan(t(), r), out_of_memory_error);
}

INSTANTIATE_TEST_SUITE_P(Machines, RecordedTopology, testing::ValuesIn(machines()),
                         [](const testing::TestParamInfo<machine>& param) {
                           std::string name = param.param.file.substr(0, param.param.file.find('-', 4));
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return fmt::format("{}_{}", param.index, name);
                         });

TEST(RecordedTopologies, EveryFixtureIsCovered) {
  std::set<std::string> covered;
  for (const auto& m : machines()) covered.insert(m.file);
  for (const auto& e : std::filesystem::directory_iterator(ONECOPY_TOPOLOGIES_DIR)) {
    if (e.path().extension() == ".xml") {
      EXPECT_TRUE(covered.count(e.path().filename().string())) << e.path();
    }
  }
}

TEST(RecordedTopologies, DgxNvmlDevicesTypedCoprocAreStillGpus) {
  const auto t = topology::from_xml(std::filesystem::path(ONECOPY_TOPOLOGIES_DIR) / "nvidia-dgx2h-2numa-16xV100-nvswitch.xml");
  // NVSwitches (class 0x0680) are not GPUs; all 16 V100 are.
  ASSERT_EQ(t.gpus().size(), 16u);
  EXPECT_EQ(t.gpus()[0].os_devices, std::vector<std::string>{"nvml0"});
  EXPECT_EQ(t.gpus()[0].vendor, "NVIDIA");
  EXPECT_NE(t.gpus()[0].name.find("V100"), std::string::npos);
}

TEST(RecordedTopologies, EpycGpuUnderACacheGetsItsDieNode) {
  const auto t = topology::from_xml(std::filesystem::path(ONECOPY_TOPOLOGIES_DIR) / "dual-epyc-7401-8numa-4xMI50.xml");
  ASSERT_EQ(t.gpus().size(), 4u);
  EXPECT_EQ(t.gpus()[0].vendor, "AMD");
  EXPECT_EQ(t.gpus()[0].local_cpus, sys::parse_cpulist("6-11,54-59"));
  EXPECT_EQ(*t.distance(0, 1), 16u);
  EXPECT_EQ(*t.distance(0, 4), 32u);
}

TEST(RecordedTopologies, KnlMcdramIsUsedOnlyWhenAskedFor) {
  const auto t = topology::from_xml(std::filesystem::path(ONECOPY_TOPOLOGIES_DIR) / "knl-7250-snc4-flat-4ddr+4mcdram-v1.xml");
  plan_request r;
  r.size = 2 * GiB;
  r.cpus = {0};
  EXPECT_EQ(test::decided(plan(t, r)), "bind:0");
  r.where.policy = numa_policy::bind;
  r.where.nodes = {4};
  const auto p = plan(t, r);
  EXPECT_EQ(test::decided(p), "bind:4");
  EXPECT_NE(p.reasons[1].find("mcdram"), std::string::npos) << p.reasons[1];
  r.size = 5 * GiB;  // more than the 4 GiB of MCDRAM
  EXPECT_THROW((void)plan(t, r), out_of_memory_error);
}

TEST(RecordedTopologies, Ac922GpuMemoryNodeIsRefusedForAHostCopy) {
  const auto t = topology::from_xml(std::filesystem::path(ONECOPY_TOPOLOGIES_DIR) / "ibm-power9-ac922-2numa+6gpumem-6xV100.xml");
  plan_request r;
  r.size = GiB;
  r.where.policy = numa_policy::bind;
  r.where.nodes = {253};
  try {
    (void)plan(t, r);
    FAIL() << "bound a host copy to GPU memory";
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("0006:00:00.0"), std::string::npos) << e.what();
  }
}

TEST(RecordedTopologies, G4dnHugePagePoolsChooseTwoMegabytePages) {
  const auto t = topology::from_xml(std::filesystem::path(ONECOPY_TOPOLOGIES_DIR) / "aws-g4dn-metal-2numa-8xT4-hugepages.xml");
  ASSERT_NE(t.node(0)->pool(2 * MiB), nullptr);
  EXPECT_EQ(t.node(0)->pool(2 * MiB)->total, 5281u);
  EXPECT_EQ(t.node(1)->pool(2 * MiB)->total, 5280u);
  EXPECT_FALSE(t.node(0)->pool(2 * MiB)->free.has_value());
  plan_request r;
  r.size = 8 * GiB;  // 4096 pages per replica: both pools hold it
  EXPECT_EQ(plan(t, r).pages, page_size::huge_2m);
  r.size = 11 * GiB;  // 5632 pages: more than either pool
  EXPECT_EQ(plan(t, r).pages, page_size::thp);
  r.pages = page_size::huge_2m;
  r.strict = true;
  EXPECT_THROW((void)plan(t, r), fallback_error);
}

TEST(RecordedTopologies, LassenSparseNodeIndexesAndSixtyFourKilobytePages) {
  const auto t = topology::from_xml(std::filesystem::path(ONECOPY_TOPOLOGIES_DIR) / "ibm-power9-lassen-2numa-4xV100.xml");
  ASSERT_NE(t.node(8), nullptr);
  EXPECT_EQ(t.node(1), nullptr);
  EXPECT_EQ(*t.distance(0, 8), 40u);
  plan_request r;
  r.size = 64 * KiB * 3 + 1;  // tiny: rounds to 64 KiB base pages
  r.pages = page_size::base;
  r.cpus = {8};
  const auto p = plan(t, r);
  EXPECT_EQ(p.page_bytes, 64 * KiB);
  EXPECT_EQ(p.total_bytes, 4 * 64 * KiB);
}

TEST(RecordedTopologies, MissingOrBadFilesAreNamedErrors) {
  EXPECT_THROW((void)topology::from_xml("/nonexistent/machine.xml"), os_error);
  const auto tmp = std::filesystem::temp_directory_path() / fmt::format("onecopy-bad-{}.xml", ::getpid());
  std::ofstream(tmp) << "this is not XML\n";
  try {
    (void)topology::from_xml(tmp);
    ADD_FAILURE() << "loaded garbage";
  } catch (const format_error& e) {
    EXPECT_NE(std::string(e.what()).find(tmp.string()), std::string::npos) << e.what();
  }
  std::filesystem::remove(tmp);
}

}  // namespace
}  // namespace onecopy
