// SPDX-License-Identifier: Apache-2.0
// put / ls / stat / verify / rm / gc and their errors, against golden transcripts.
#include <unistd.h>

#include <fstream>

#include "golden.hpp"

namespace onecopy {
namespace {

TEST(CliGoldenTest, PutLsStatVerifyRm) {
  test::temp_dir dir;
  const std::string store = (dir.path() / "store").string();
  const std::map<std::string, std::string> env{{"ONECOPY_DIR", store}};
  test::transcript t({{store, "<STORE>"},
                      {dir.path().string(), "<TMP>"},
                      {R"re([0-9]+(\.[0-9]+)? (µs|ms|s)\b)re", "<T>"},
                      {R"re(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)re", "<DATE>"},
                      {R"re(by pid \d+ \(uid \d+\) on \S+)re", "by pid <PID> (uid <UID>) on <HOST>"},
                      {R"re("(pid|uid|created_ns)": \d+)re", "\"$1\": 0"},
                      {R"re("host": "[^"]*")re", "\"host\": \"<HOST>\""},
                      {R"re("mapped_by": \[[^\]]*\])re", "\"mapped_by\": []"},
                      {R"re("(create|populate|fill|publish|seconds)": [0-9.e-]+)re", "\"$1\": 0"}});
  // A raw file of f32 values 0, 1, 2, … to put as a typed array.
  const auto raw = dir.path() / "values.f32";
  {
    std::ofstream out(raw, std::ios::binary);
    for (int i = 0; i < 256 * 256; ++i) {
      const float f = static_cast<float>(i);
      out.write(reinterpret_cast<const char*>(&f), sizeof f);
    }
  }
  // --numa local: the default (auto) asks the planner, whose answer depends on the host's nodes;
  // PutDefaultsToThePlanner and tests/python/test_same_placement.py cover it.
  t.run({"put", "zeros", "--zeros", "3MiB", "--pages", "4k", "--numa", "local"}, env);
  t.run({"put", "matrix", raw.string(), "--dtype", "f32", "--shape", "256,256", "--numa", "bind:0"}, env);
  t.run({"ls"}, env);
  t.run({"ls", "--json"}, env);
  t.run({"stat", "matrix"}, env);
  t.run({"stat", "matrix", "--json"}, env);
  t.run({"verify", "zeros"}, env);
  t.run({"rm", "zeros"}, env);
  t.run({"ls"}, env);
  t.run({"gc"}, env);
  // Errors: usage (exit 2) and failures (exit 1), each naming the thing and the cause.
  t.run({"put", "../escape", "--zeros", "1M"}, env);
  t.run({"put", "matrix", "--zeros", "1M", "--numa", "local"}, env);
  t.run({"put", "nothing"}, env);
  t.run({"put", "bad", "--zeros", "12Q"}, env);
  t.run({"put", "bad", raw.string(), "--dtype", "f32", "--shape", "3,3"}, env);
  t.run({"put", "bad", "--zeros", "1M", "--numa", "bind:7"}, env);
  t.run({"put", "bad", "--zeros", "1M", "--pages", "3m"}, env);
  t.run({"put", "bad", (dir.path() / "missing.bin").string()}, env);
  t.run({"stat", "missing"}, env);
  t.run({"rm", "missing"}, env);
  // rm tries every name: reports each failure, exit 1; -f ignores missing names.
  t.run({"put", "a", "--zeros", "4K", "--numa", "none", "-q"}, env);  // none: the old spelling of local
  t.run({"put", "b", raw.string(), "--numa", "bind:0", "-q"}, env);  // -q: no fallback line
  t.run({"rm", "a", "missing", "b", "../bad"}, env);
  t.run({"ls"}, env);
  t.run({"rm", "-f", "missing", "matrix"}, env);
  t.run({"verify"}, env);
  t.check("put_ls_stat_verify_rm.txt");
}

TEST(CliGoldenTest, HelpGoesToStdoutWithExitZero) {
  const auto r = test::run({test::built("onecopy").string(), "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("put"), std::string::npos);
  EXPECT_EQ(r.err, "");
  const auto none = test::run({test::built("onecopy").string()});
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("--help"), std::string::npos);
}

TEST(CliGoldenTest, PutDefaultsToThePlanner) {
  // The same default as Python's put(numa="auto"): the planner decides, put says so, and the
  // segment records it for ls and stat.
  test::temp_dir dir;
  const std::map<std::string, std::string> env{{"ONECOPY_DIR", (dir.path() / "store").string()}};
  const auto put = test::run({test::built("onecopy").string(), "put", "d", "--zeros", "1M", "-q"}, env);
  ASSERT_EQ(put.code, 0) << put.err;
  EXPECT_EQ(put.out.rfind("plan: ", 0), 0u) << put.out;
  EXPECT_NE(put.out.find("(asked: auto)"), std::string::npos) << put.out;
  const auto stat = test::run({test::built("onecopy").string(), "stat", "d", "--json"}, env);
  ASSERT_EQ(stat.code, 0) << stat.err;
  EXPECT_NE(stat.out.find(R"("placement_asked": "auto")"), std::string::npos) << stat.out;
  const auto ls = test::run({test::built("onecopy").string(), "ls"}, env);
  EXPECT_NE(ls.out.find("(asked: auto)"), std::string::npos) << ls.out;
}

TEST(CliGoldenTest, VerifyFailsOnCorruptedData) {
  test::temp_dir dir;
  const std::map<std::string, std::string> env{{"ONECOPY_DIR", (dir.path() / "store").string()}};
  ASSERT_EQ(test::run({test::built("onecopy").string(), "put", "v", "--zeros", "1M"}, env).code, 0);
  // Flip one data byte behind the engine's back (root may write a 0444 file).
  const auto path = dir.path() / "store" / "v";
  ::chmod(path.c_str(), 0644);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8192 + 100);  // the data starts after the 4 KiB header and one 512-byte table entry, at 8 KiB
    f.put('x');
  }
  const auto r = test::run({test::built("onecopy").string(), "verify", "v"}, env);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("checksum mismatch"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace onecopy
