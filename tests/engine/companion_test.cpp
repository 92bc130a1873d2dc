// SPDX-License-Identifier: Apache-2.0
// Format v2 on 1 GiB pages: the header region lives in a companion file in the store's lock
// directory (named by the data file's device and inode), so an array of exactly N GiB takes N
// pages. A hugetlbfs mounted with pagesize=1G reports st_blksize 1 GiB even with an empty pool,
// so how the store reads, lists, removes and collects companions is tested on real files without
// any 1 GiB page; publishing and attaching a real 1 GiB segment needs pages and skips without.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/units.hpp"
#include "pattern.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

class CompanionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!mount_.ok()) GTEST_SKIP() << "1 GiB hugetlbfs: " << mount_.why();
    s_ = std::make_unique<store>(store::from_config({.roots = {mount_.path()}, .lock_root = locks_.path()}));
    dir_ = s_->backings().front().dir;
    lock_dir_ = s_->runtime_dir();
    std::filesystem::create_directories(dir_);
    ::chmod(dir_.c_str(), 0700);
  }

  // A 1 GiB data file made by hand (no page allocated: hugetlbfs files get pages when mapped)
  // and its companion, as publish writes them. Returns the companion's path.
  std::filesystem::path plant(const std::string& name) {
    const auto path = dir_ / name;
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    EXPECT_GE(fd, 0) << path << ": " << std::strerror(errno);
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(GiB)), 0);
    struct ::stat st {};
    EXPECT_EQ(::fstat(fd, &st), 0);
    ::fchmod(fd, 0444);
    ::close(fd);
    EXPECT_EQ(static_cast<std::uint64_t>(st.st_blksize), GiB);
    segment_info info = plan_segment_file(layout::bytes(GiB), "planted");
    info.in_companion = true;
    info.file_size = GiB;
    info.page_size = GiB;
    info.huge_bytes = GiB;
    info.backing = backing_kind::hugetlbfs;
    info.data_file = name;
    info.data_device = st.st_dev;
    info.data_inode = st.st_ino;
    std::vector<std::byte> region(info.region_size);
    write_segment_header(region, info);
    const auto companion = lock_dir_ / fmt::format("{}-{}.header", st.st_dev, st.st_ino);
    write_file(companion, {reinterpret_cast<const char*>(region.data()), region.size()});
    return companion;
  }

  static void write_file(const std::filesystem::path& path, std::string_view bytes) {
    ::unlink(path.c_str());
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ::chmod(path.c_str(), 0444);
  }
  static std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  // What problems() says about path ("" when nothing).
  std::string problem_with(const std::filesystem::path& path) const {
    for (const auto& p : s_->problems())
      if (p.path == path) return p.what;
    return "";
  }

  test::scoped_mount mount_{"hugetlbfs", "pagesize=1G"};
  test::temp_dir locks_;
  std::unique_ptr<store> s_;
  std::filesystem::path dir_, lock_dir_;
};

TEST_F(CompanionTest, ListedFromItsCompanionAndRemovedWithIt) {
  const auto companion = plant("w");
  const auto entries = s_->list();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].info.data_size, GiB);
  EXPECT_EQ(entries[0].info.file_size, GiB);  // N GiB of data, N pages: no page for the header
  EXPECT_TRUE(entries[0].info.in_companion);
  EXPECT_EQ(entries[0].info.metadata, "planted");
  EXPECT_TRUE(s_->problems().empty());
  s_->remove("w");
  EXPECT_FALSE(std::filesystem::exists(companion)) << "rm left the companion behind";
  EXPECT_FALSE(s_->exists("w"));
}

TEST_F(CompanionTest, BrokenCompanionsAreNamedNeverCrash) {
  const auto companion = plant("w");
  const std::string good = read_file(companion);
  const auto data = dir_ / "w";
  struct bad_case {
    const char* what;
    std::string bytes;
    const char* says;
  };
  std::string flipped = good;
  flipped[600] ^= 1;  // in the metadata
  const std::string other = read_file(plant("w2"));  // well-formed, but another file's
  std::string in_file = good;
  in_file[in_file.size() - 4096 + 44] &= ~0x4;  // flags: not marked as a companion
  const bad_case cases[] = {
      {"flipped byte", flipped, "header_checksum"},
      {"another file's", other, "data_inode"},
      {"not a companion", in_file, "flags"},
      {"truncated", good.substr(0, 100), "companion size: 100 bytes"},
      {"cut at the end", good.substr(0, good.size() - 4096), "magic"},
      {"empty", "", "companion size: 0 bytes"},
  };
  for (const auto& c : cases) {
    write_file(companion, c.bytes);
    const std::string said = problem_with(data);
    EXPECT_NE(said.find(companion.string()), std::string::npos) << c.what << " → " << said;
    EXPECT_NE(said.find(c.says), std::string::npos) << c.what << " → " << said;
    EXPECT_THROW((void)s_->attach("w"), format_error) << c.what;
  }
  ::unlink(companion.c_str());
  const std::string missing = problem_with(data);
  EXPECT_NE(missing.find(data.string() + ": header: its companion " + companion.string() + " is missing"),
            std::string::npos) << missing;
  // Planted in the companion's place: a symlink (to the good bytes) and a FIFO are refused,
  // without following or blocking.
  const auto elsewhere = locks_.path() / "elsewhere";
  write_file(elsewhere, good);
  ASSERT_EQ(::symlink(elsewhere.c_str(), companion.c_str()), 0);
  EXPECT_NE(problem_with(data).find("symbolic link"), std::string::npos) << problem_with(data);
  ::unlink(companion.c_str());
  ASSERT_EQ(::mkfifo(companion.c_str(), 0600), 0);
  EXPECT_NE(problem_with(data).find("FIFO"), std::string::npos) << problem_with(data);
  ::unlink(companion.c_str());
}

TEST_F(CompanionTest, GcCollectsCompanionsOfNoFile) {
  const auto kept = plant("kept");
  const auto orphan = plant("gone");
  ASSERT_EQ(::unlink((dir_ / "gone").c_str()), 0);  // removed by hand, companion left
  const gc_report r = s_->gc();
  EXPECT_FALSE(std::filesystem::exists(orphan));
  EXPECT_TRUE(std::filesystem::exists(kept)) << "gc removed the companion of a published file";
  EXPECT_NE(std::find(r.removed_temp_files.begin(), r.removed_temp_files.end(), orphan), r.removed_temp_files.end());
  EXPECT_EQ(s_->list().size(), 1u);
}

TEST_F(CompanionTest, AutomaticPagesConsiderOnePageForAnExactGiB) {
  // --pages auto skips a backing that would round a segment up to mostly empty huge pages. An
  // array of exactly 1 GiB needs one 1 GiB page now (its header goes to the companion), so the
  // only reason left to pass 1 GiB pages over is the pool; 1 GiB and a byte still needs two.
  test::temp_dir shm;
  store both = store::from_config({.roots = {mount_.path(), shm.path()}, .lock_root = locks_.path()});
  auto first_reason = [&](std::uint64_t bytes) {
    draft d = both.create("auto", layout::bytes(bytes));  // tmpfs: nothing allocated before a fill
    return d.report().fallbacks.empty() ? std::string("(none)") : d.report().fallbacks.front();
  };
  const std::string exact = first_reason(GiB);
  EXPECT_EQ(exact.find("would waste"), std::string::npos) << exact;
  const std::string over = first_reason(GiB + 1);
  EXPECT_NE(over.find("would waste"), std::string::npos) << over;
}

TEST_F(CompanionTest, AnExactGiBArrayTakesOnePage) {
  test::scoped_hugepages pool{GiB, 2};
  if (pool.added() < 1 && test::free_hugepages(GiB) < 1)
    GTEST_SKIP() << "the kernel could not give a free 1 GiB page (memory fragmented); ctest numa_vm.gib_pages "
                    "runs this for real in a guest with 1 GiB pages reserved at boot (tests/numa-vm, case "
                    "exact-gib-hugetlb-1g)";
  draft d = s_->create("g", layout::bytes(GiB), {.pages = page_size::huge_1g, .strict = true});
  EXPECT_EQ(d.report().file_size, GiB);
  test::fill_pattern(d.bytes(), 3, 0);
  segment seg = std::move(d).publish();
  EXPECT_EQ(seg.info().file_size, GiB);
  EXPECT_TRUE(seg.info().in_companion);
  const auto [device, inode] = seg.file_identity();
  const auto companion = lock_dir_ / fmt::format("{}-{}.header", device, inode);
  EXPECT_TRUE(std::filesystem::exists(companion));
  segment reader = s_->attach("g", {.verify = true});
  EXPECT_TRUE(test::matches_pattern(reader.bytes(), 3));
  s_->remove("g");
  EXPECT_FALSE(std::filesystem::exists(companion));
}

}  // namespace
}  // namespace onecopy
