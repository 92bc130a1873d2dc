// SPDX-License-Identifier: Apache-2.0
// GPU discovery on the live host reads /sys/bus/pci/devices. This host has no GPU, so the test
// lays out a directory in that format (as hwloc's own tests replay sysfs dumps) and reads it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "devices.hpp"
#include "onecopy/units.hpp"

namespace onecopy {
namespace {

namespace fs = std::filesystem;

class SysfsGpus : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("onecopy-sysfs-pci." + std::to_string(::getpid()));
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void device(const std::string& bus, const std::string& cls, const std::string& vendor, const std::string& dev,
              const std::string& node, const std::string& cpus, std::vector<std::string> drm = {}) {
    const auto d = root_ / bus;
    fs::create_directories(d);
    std::ofstream(d / "class") << cls << "\n";
    std::ofstream(d / "vendor") << vendor << "\n";
    std::ofstream(d / "device") << dev << "\n";
    std::ofstream(d / "numa_node") << node << "\n";
    std::ofstream(d / "local_cpulist") << cpus << "\n";
    for (const auto& x : drm) fs::create_directories(d / "drm" / x);
  }
  static std::vector<numa_node> two_nodes() {
    std::vector<numa_node> nodes(2);
    nodes[0].os_index = 0;
    nodes[0].cpus = {0, 1, 2, 3};
    nodes[1].os_index = 1;
    nodes[1].cpus = {4, 5, 6, 7};
    return nodes;
  }
  fs::path root_;
};

TEST_F(SysfsGpus, FindsGpusAndTheirNodes) {
  device("0000:9a:00.0", "0x038000", "0x1002", "0x74a1", "-1", "0-3", {"card2", "renderD130"});  // AMD, no numa_node
  device("0000:18:00.0", "0x030200", "0x10de", "0x2330", "1", "4-7", {"card1", "renderD129"});  // NVIDIA 3D
  device("0000:03:00.0", "0x030000", "0x1a03", "0x2000", "0", "0-3");   // ASPEED BMC VGA: not a GPU
  device("0000:04:00.0", "0x020000", "0x15b3", "0x1021", "0", "0-3");   // NIC
  device("0000:05:00.0", "0x120000", "0x1da3", "0x1020", "1", "4-7");   // processing accelerator
  fs::create_directories(root_ / "not-a-device");
  const auto gpus = detail::sysfs_gpus(two_nodes(), root_);
  ASSERT_EQ(gpus.size(), 3u);
  EXPECT_EQ(gpus[0].bus_id, "0000:05:00.0");
  EXPECT_EQ(gpus[0].kind, device_kind::accelerator);
  EXPECT_EQ(gpus[1].bus_id, "0000:18:00.0");
  EXPECT_EQ(gpus[1].index, 1);
  EXPECT_EQ(gpus[1].vendor, "NVIDIA");
  EXPECT_EQ(gpus[1].class_id, 0x0302);
  EXPECT_EQ(gpus[1].local_nodes, std::vector<int>{1});
  EXPECT_EQ(gpus[1].local_cpus, (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(gpus[1].os_devices, (std::vector<std::string>{"card1", "renderD129"}));
  EXPECT_EQ(gpus[2].vendor, "AMD");
  EXPECT_EQ(gpus[2].local_nodes, std::vector<int>{0});  // from its local CPUs
  EXPECT_EQ(gpus[2].name, "display controller [1002:74a1]");
}

TEST_F(SysfsGpus, MissingTreeMeansNoGpus) {
  EXPECT_TRUE(detail::sysfs_gpus(two_nodes(), root_ / "absent").empty());
}

}  // namespace
}  // namespace onecopy
