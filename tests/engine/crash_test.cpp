// SPDX-License-Identifier: Apache-2.0
// A creator killed with SIGKILL at any point leaves no visible partial segment; a waiting
// open_or_create takes over; gc removes the creator's temp file.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/units.hpp"
#include "pattern.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

struct crash_point {
  const char* label;
  const char* pause_at;  // ONECOPY_TEST_PAUSE_AT, or nullptr for mid-fill
};

class CreatorCrashTest : public ::testing::TestWithParam<crash_point> {
 protected:
  std::filesystem::path store_dir() const { return dir_.path() / "store"; }
  std::vector<std::string> temp_files() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(store_dir(), ec)) {
      const auto f = e.path().filename().string();
      if (f.ends_with(".tmp")) out.push_back(f);
    }
    return out;
  }
  // Starts a creator of "table" that stops (SIGSTOP) at the crash point.
  test::child start_creator() {
    std::map<std::string, std::string> env{{"ONECOPY_DIR", store_dir().string()}};
    if (GetParam().pause_at) env["ONECOPY_TEST_PAUSE_AT"] = GetParam().pause_at;
    else env["ONECOPY_HELPER_STOP_MID_FILL"] = "1";
    return test::spawn({ENGINE_HELPER, "create", "table", std::to_string(bytes_), "1"}, env);
  }
  test::temp_dir dir_;
  const std::uint64_t bytes_ = 40 * MiB;
};

TEST_P(CreatorCrashTest, KilledCreatorLeavesNothingVisibleAndGcCleansUp) {
  test::child creator = start_creator();
  ASSERT_TRUE(test::wait_stopped(creator.pid)) << "creator never reached " << GetParam().label;
  store s = store::at(store_dir());
  EXPECT_FALSE(s.exists("table"));
  EXPECT_EQ(temp_files().size(), 1u);
  // While the creator lives, gc must not touch its temp file.
  EXPECT_TRUE(s.gc().removed_temp_files.empty());

  ::kill(creator.pid, SIGKILL);
  EXPECT_EQ(test::exit_code(test::wait_for(creator.pid)), -SIGKILL);
  ::close(creator.stdout_fd);
  EXPECT_FALSE(s.exists("table"));
  EXPECT_THROW((void)s.attach("table"), os_error);
  EXPECT_TRUE(s.list().empty());
  const auto report = s.gc();
  EXPECT_EQ(report.removed_temp_files.size(), 1u);
  EXPECT_TRUE(temp_files().empty());
}

TEST_P(CreatorCrashTest, WaiterTakesOverWhenTheCreatorDies) {
  test::child creator = start_creator();
  ASSERT_TRUE(test::wait_stopped(creator.pid));
  store s = store::at(store_dir());
  std::optional<segment> got;
  bool filled = false;
  std::exception_ptr error;
  std::thread waiter([&] {
    try {
      got = s.open_or_create("table", layout::bytes(bytes_), {}, [&](draft& d) {
        filled = true;
        test::fill_pattern(d.bytes(), 2, 0);
      });
    } catch (...) {
      error = std::current_exception();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the waiter is blocked on the lock
  EXPECT_FALSE(got.has_value());
  ::kill(creator.pid, SIGKILL);
  (void)test::wait_for(creator.pid);
  ::close(creator.stdout_fd);
  waiter.join();
  ASSERT_FALSE(error) << "open_or_create failed after the creator died";
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(filled);
  EXPECT_TRUE(test::matches_pattern(got->bytes(), 2));
  EXPECT_TRUE(got->verify());
  EXPECT_TRUE(temp_files().empty()) << "the new creator removes the dead one's temp file";
}

INSTANTIATE_TEST_SUITE_P(AtEachStep, CreatorCrashTest,
                         ::testing::Values(crash_point{"after_populate", "after_populate"},
                                           crash_point{"mid_fill", nullptr},
                                           crash_point{"before_rename", "before_rename"}),
                         [](const auto& p) { return std::string(p.param.label); });

TEST(OpenOrCreateTest, TimesOutNamingTheLockWhenTheCreatorHangs) {
  test::temp_dir dir;
  std::map<std::string, std::string> env{{"ONECOPY_DIR", (dir.path() / "store").string()},
                                         {"ONECOPY_TEST_PAUSE_AT", "after_populate"}};
  test::child creator = test::spawn({ENGINE_HELPER, "create", "slow", std::to_string(MiB), "1"}, env);
  ASSERT_TRUE(test::wait_stopped(creator.pid));
  store s = store::at(dir.path() / "store");
  try {
    (void)s.open_or_create("slow", layout::bytes(MiB), {}, [](draft&) {}, std::chrono::milliseconds(100));
    ADD_FAILURE() << "open_or_create did not time out";
  } catch (const timeout_error& e) {
    EXPECT_NE(std::string(e.what()).find("slow.lock"), std::string::npos) << e.what();
  }
  try {
    (void)s.create("slow", layout::bytes(MiB));
    ADD_FAILURE() << "create of a name being created succeeded";
  } catch (const os_error& e) {
    EXPECT_EQ(e.err(), EBUSY);
  }
  ::kill(creator.pid, SIGKILL);
  (void)test::wait_for(creator.pid);
  ::close(creator.stdout_fd);
}

}  // namespace
}  // namespace onecopy
