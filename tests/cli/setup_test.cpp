// SPDX-License-Identifier: Apache-2.0
// `onecopy setup` for real, as root: pools, mounts, config; an unprivileged user then gets huge
// pages; --undo restores everything; a second setup changes nothing.
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "golden.hpp"

namespace onecopy {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::uint64_t pool_2m() {
  std::ifstream in("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
  std::uint64_t n = 0;
  in >> n;
  return n;
}

bool mounted(const std::filesystem::path& dir) { return slurp("/proc/mounts").find(" " + dir.string() + " ") != std::string::npos; }

TEST(SetupTest, DryRunChangesNothing) {
  test::temp_dir dir("/tmp");
  const auto conf = dir.path() / "onecopy.conf";
  const auto before = pool_2m();
  const auto r = test::run({test::built("onecopy").string(), "setup", "--dry-run", "--hugepages", "8M",
                            "--mount-root", (dir.path() / "mnt").string()},
                           {{"ONECOPY_CONF", conf.string()}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("would mount -t hugetlbfs -o pagesize=2M"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(conf));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "mnt"));
  EXPECT_EQ(pool_2m(), before);
}

TEST(SetupTest, GivesUsersHugePagesAndUndoRestoresEverything) {
  if (!test::is_root()) GTEST_SKIP() << "setup needs root";
  test::temp_dir dir("/tmp");
  ::chmod(dir.path().c_str(), 0755);  // let the unprivileged user reach the mounts
  const auto conf = dir.path() / "onecopy.conf";
  const auto root = dir.path() / "mnt";
  const std::map<std::string, std::string> env{{"ONECOPY_CONF", conf.string()}};
  const std::vector<std::string> setup{test::built("onecopy").string(), "setup", "--hugepages", "16M",
                                       "--mount-root", root.string(), "--thp-size", "256M"};
  const auto before = pool_2m();
  const auto r = test::run(setup, env);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_GE(pool_2m(), 8u);
  EXPECT_TRUE(mounted(root / "hugetlbfs-2M"));
  EXPECT_TRUE(mounted(root / "thp"));
  const auto config = slurp(conf);
  EXPECT_NE(config.find("store = " + (root / "hugetlbfs-2M").string()), std::string::npos) << config;
  EXPECT_NE(config.find("store = /dev/shm"), std::string::npos) << config;

  // Idempotent: a second run mounts nothing new and keeps the record of the original pool.
  const auto again = test::run(setup, env);
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("already mounted"), std::string::npos) << again.out;
  EXPECT_EQ(slurp("/proc/mounts").find(" " + (root / "thp").string() + " "),
            slurp("/proc/mounts").rfind(" " + (root / "thp").string() + " ")) << "mounted twice";

  // An ordinary user now gets 2 MiB pages with no privileges.
  if (std::filesystem::exists("/usr/bin/setpriv")) {
    const std::vector<std::string> nobody{"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                          test::built("onecopy").string()};
    auto put = nobody;
    put.insert(put.end(), {"put", "users-table", "--zeros", "6M", "--pages", "2m", "--json"});
    const auto p = test::run(put, env);
    EXPECT_EQ(p.code, 0) << p.err;
    EXPECT_NE(p.out.find("\"page_size\": 2097152"), std::string::npos) << p.out;
    EXPECT_NE(p.out.find("onecopy-65534"), std::string::npos) << p.out;
    auto rm = nobody;
    rm.insert(rm.end(), {"rm", "users-table"});
    EXPECT_EQ(test::run(rm, env).code, 0);
  }

  const auto undo = test::run({test::built("onecopy").string(), "setup", "--undo"}, env);
  EXPECT_EQ(undo.code, 0) << undo.out << undo.err;
  EXPECT_FALSE(mounted(root / "hugetlbfs-2M"));
  EXPECT_FALSE(mounted(root / "thp"));
  EXPECT_FALSE(std::filesystem::exists(conf));
  EXPECT_EQ(pool_2m(), before);
}

TEST(SetupTest, UndoRefusesToDropSegmentsWithoutForce) {
  if (!test::is_root()) GTEST_SKIP() << "setup needs root";
  test::temp_dir dir("/tmp");
  const auto conf = dir.path() / "onecopy.conf";
  const auto root = dir.path() / "mnt";
  const std::map<std::string, std::string> env{{"ONECOPY_CONF", conf.string()}};
  ASSERT_EQ(test::run({test::built("onecopy").string(), "setup", "--mount-root", root.string(), "--thp-size", "64M"}, env).code, 0);
  ASSERT_EQ(test::run({test::built("onecopy").string(), "put", "kept", "--zeros", "4M", "--pages", "thp"}, env).code, 0);
  const auto refused = test::run({test::built("onecopy").string(), "setup", "--undo"}, env);
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("kept"), std::string::npos) << refused.err;
  EXPECT_TRUE(mounted(root / "thp"));
  const auto forced = test::run({test::built("onecopy").string(), "setup", "--undo", "--force"}, env);
  EXPECT_EQ(forced.code, 0) << forced.err;
  EXPECT_FALSE(mounted(root / "thp"));
}

}  // namespace
}  // namespace onecopy
