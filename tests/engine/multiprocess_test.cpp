// SPDX-License-Identifier: Apache-2.0
// Many real processes: readers attach while a writer publishes, all see the same bytes, and
// together they cost about one copy of memory.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include "backings.hpp"
#include "onecopy/engine/memory_usage.hpp"
#include "onecopy/engine/store.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

using test::child;

template <class Backing>
class ManyReadersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backing_ = std::make_unique<Backing>();
    if (auto why = backing_->skip_reason(); !why.empty()) GTEST_SKIP() << Backing::label << ": " << why;
  }
  std::map<std::string, std::string> env() const { return {{"ONECOPY_DIR", backing_->store_dir().string()}}; }
  std::unique_ptr<Backing> backing_;
};

TYPED_TEST_SUITE(ManyReadersTest, test::all_backings, test::backing_names);

// 8 readers race a writer that is still filling; every reader ends up with the writer's bytes
// (none creates its own: open_or_create waits), and the 8 together hold about one copy.
TYPED_TEST(ManyReadersTest, ReadersAttachWhileAWriterPublishesAndShareOneCopy) {
  constexpr std::uint64_t bytes = 96 * MiB;
  constexpr int readers = 8;
  auto env = this->env();
  // The writer stops halfway through its fill, so the readers start while it holds the name.
  auto writer_env = env;
  writer_env["ONECOPY_HELPER_STOP_MID_FILL"] = "1";
  child writer = test::spawn({ENGINE_HELPER, "create", "table", std::to_string(bytes), "1"}, writer_env);
  ASSERT_TRUE(test::wait_stopped(writer.pid)) << "writer did not reach the middle of its fill";

  std::vector<child> kids;
  for (int i = 0; i < readers; ++i)
    kids.push_back(test::spawn({ENGINE_HELPER, "open-or-create", "table", std::to_string(bytes),
                                std::to_string(100 + i)}, env));
  ::kill(writer.pid, SIGCONT);
  const std::string writer_sum = test::read_line(writer.stdout_fd);
  EXPECT_EQ(test::exit_code(test::wait_for(writer.pid)), 0);
  ASSERT_EQ(writer_sum.size(), 16u);
  for (auto& k : kids) {
    EXPECT_EQ(test::read_line(k.stdout_fd), "attached " + writer_sum);
    EXPECT_EQ(test::exit_code(test::wait_for(k.pid)), 0);
    ::close(k.stdout_fd);
  }
  ::close(writer.stdout_fd);

  // Memory: hold 8 readers attached (each has read every page for its checksum) and count them.
  std::vector<child> holders;
  std::vector<int> pids;
  for (int i = 0; i < readers; ++i) {
    holders.push_back(test::spawn({ENGINE_HELPER, "hold", "table"}, env, {.stdin_pipe = true}));
    pids.push_back(holders.back().pid);
  }
  for (auto& h : holders) EXPECT_EQ(test::read_line(h.stdout_fd).substr(0, 16), writer_sum);
  std::uint64_t total = 0;
  std::uint64_t segment_share = 0;
  for (int pid : pids) {
    const auto m = memory_of(pid);
    total += m.total();
    segment_share += m.hugetlb_share;
    if constexpr (TypeParam::kind == backing_kind::hugetlbfs) {
      EXPECT_GE(m.hugetlb, bytes) << "hugetlb pages of the segment missing from smaps of " << pid;
    }
  }
  for (auto& h : holders) {
    ::close(h.stdin_fd);
    EXPECT_EQ(test::exit_code(test::wait_for(h.pid)), 0);
    ::close(h.stdout_fd);
  }
  // One copy is `bytes`; eight copies would be 768 MiB. Each reader also has its own small
  // private memory (larger under sanitizers), allowed for by the 24 MiB per process.
  EXPECT_GE(total, bytes * 95 / 100) << "the readers' memory does not even include one copy";
  EXPECT_LE(total, bytes + readers * 24 * MiB) << "readers hold more than one copy: " << total;
  if constexpr (TypeParam::kind == backing_kind::hugetlbfs) {
    EXPECT_NEAR(static_cast<double>(segment_share), static_cast<double>(bytes), 4.0 * MiB);
  }
}

}  // namespace
}  // namespace onecopy
