// SPDX-License-Identifier: Apache-2.0
// create_options::on_fill: a fill from a file tells how far it has come, on every backing.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "backings.hpp"
#include "onecopy/engine/store.hpp"

namespace onecopy {
namespace {

constexpr std::uint64_t segment_bytes = 40 * MiB;  // several checksum chunks and read pieces

// What on_fill was told, and whether two calls ever overlapped.
struct progress_log {
  std::mutex mutex;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};

  fill_progress callback() {
    return [this](std::uint64_t done, std::uint64_t total) {
      if (inside.fetch_add(1) != 0) overlapped = true;
      {
        const std::lock_guard lock(mutex);
        calls.emplace_back(done, total);
      }
      inside.fetch_sub(1);
    };
  }
};

template <class Backing>
class FillProgressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backing_ = std::make_unique<Backing>();
    if (auto why = backing_->skip_reason(); !why.empty()) GTEST_SKIP() << Backing::label << ": " << why;
    const int fd = ::open(input_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(segment_bytes)), 0);  // holes read as zeros
    ::close(fd);
  }
  std::unique_ptr<Backing> backing_;
  test::temp_dir files_;
  std::filesystem::path input_ = files_.path() / "input";
};

TYPED_TEST_SUITE(FillProgressTest, test::all_backings, test::backing_names);

// Checks that the calls count up, one at a time, to the fill's total (a piece that lands
// during another call is counted by a later one, so the steps may differ).
void expect_counts_up_to(const progress_log& log, std::uint64_t total) {
  ASSERT_GT(log.calls.size(), 1u) << "a 40 MiB fill is told more than once";
  EXPECT_FALSE(log.overlapped);
  std::uint64_t last = 0;
  for (const auto& [done, of] : log.calls) {
    EXPECT_EQ(of, total);
    EXPECT_GT(done, last);
    last = done;
  }
  EXPECT_EQ(last, total);
}

TYPED_TEST(FillProgressTest, AFillFromAFileCountsUpToItsSizeOneCallAtATime) {
  store s = store::at(this->backing_->store_dir());
  progress_log log;
  draft d = s.create("w", layout::bytes(segment_bytes), {.threads = 4, .on_fill = log.callback()});
  d.read_from_file(this->input_, 0, 0, segment_bytes);
  expect_counts_up_to(log, segment_bytes);
  // A second fill (no checksum on the way: parallel pread) counts its own bytes.
  log.calls.clear();
  d.read_from_file(this->input_, 0, 8 * MiB, 24 * MiB);
  expect_counts_up_to(log, 24 * MiB);
  const segment seg = std::move(d).publish();
  EXPECT_EQ(seg.info().data_size, segment_bytes);
}

}  // namespace
}  // namespace onecopy
