// SPDX-License-Identifier: Apache-2.0
// `onecopy demo` runs real worker processes and reports honest memory figures.
#include <nlohmann/json.hpp>

#include "golden.hpp"

namespace onecopy {
namespace {

TEST(DemoTest, WorkersShareOneCopyAndAgreeOnTheChecksum) {
  test::temp_dir dir;
  const std::map<std::string, std::string> env{{"ONECOPY_DIR", (dir.path() / "store").string()}};
  const auto r = test::run({test::built("onecopy").string(), "demo", "--size", "128MiB", "--workers", "4", "--json"}, env);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["checksums_agree"].get<bool>());
  ASSERT_EQ(j["workers"].size(), 4u);
  const double size = 128.0 * 1024 * 1024;
  const auto total = j["total_memory_bytes"].get<double>();
  const auto before = j["memory_before_attach_bytes"].get<double>();
  const auto segment = j["segment_memory_bytes"].get<double>();
  // Attaching and reading added one copy to the four workers together (four private copies
  // would add 512 MiB); the processes' own memory (larger under sanitizers) is counted apart.
  EXPECT_DOUBLE_EQ(segment, total - before);
  EXPECT_GE(segment, 0.95 * size) << r.out;
  EXPECT_LE(segment, 1.05 * size) << r.out;
  EXPECT_EQ(j["private_copies_bytes"].get<double>(), 4 * size);
  for (const auto& w : j["workers"]) {
    EXPECT_GT(w["attach_seconds"].get<double>(), 0.0);
    EXPECT_EQ(w["checksum"], j["segment"]["checksum"]);
  }
  EXPECT_FALSE(j["hints"].empty()) << "a 4 KiB store must say how to get huge pages";
  // The demo removes its segment.
  const auto ls = test::run({test::built("onecopy").string(), "ls"}, env);
  EXPECT_EQ(ls.out, "no segments\n");
}

TEST(DemoTest, RejectsBadArguments) {
  const auto r = test::run({test::built("onecopy").string(), "demo", "--workers", "0"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--workers 0"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace onecopy
