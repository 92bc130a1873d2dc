// SPDX-License-Identifier: Apache-2.0
// -q/--quiet and -v/--verbose: on every command, with one meaning — -q leaves only errors on
// stderr and the result on stdout, -v adds details (what the store did, timings) on stderr.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "golden.hpp"

namespace onecopy {
namespace {

const std::vector<std::string> commands{"put", "ls", "stat", "verify", "rm", "gc", "setup", "demo", "topo", "serve"};

std::size_t count_lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

class CliVerbosityTest : public ::testing::Test {
 protected:
  test::run_result onecopy(std::vector<std::string> args) {
    args.insert(args.begin(), test::built("onecopy").string());
    return test::run(args, env_);
  }
  [[nodiscard]] std::filesystem::path store() const { return dir_.path() / "store"; }

  test::temp_dir dir_;
  std::map<std::string, std::string> env_{{"ONECOPY_DIR", store().string()}};
};

TEST_F(CliVerbosityTest, EveryCommandListsQuietAndVerboseInItsHelp) {
  for (const auto& c : commands) {
    const auto r = onecopy({c, "--help"});
    EXPECT_EQ(r.code, 0) << c;
    EXPECT_NE(r.out.find("-q,--quiet"), std::string::npos) << c << ":\n" << r.out;
    EXPECT_NE(r.out.find("-v,--verbose"), std::string::npos) << c << ":\n" << r.out;
  }
}

TEST_F(CliVerbosityTest, QuietAndVerboseTogetherAreAUsageError) {
  const auto r = onecopy({"ls", "-q", "-v"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("excludes"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("onecopy ls --help"), std::string::npos) << r.err;
}

TEST_F(CliVerbosityTest, QuietSilencesPutsDiagnosticsButNotItsResult) {
  // A store directory on plain tmpfs: --pages auto falls back, and put says so.
  const auto normal = onecopy({"put", "a", "--zeros", "1MiB"});
  ASSERT_EQ(normal.code, 0) << normal.err;
  EXPECT_NE(normal.err.find("onecopy put: fallback: "), std::string::npos) << normal.err;
  const auto quiet = onecopy({"put", "b", "--zeros", "1MiB", "-q"});
  ASSERT_EQ(quiet.code, 0);
  EXPECT_EQ(quiet.err, "");
  EXPECT_EQ(count_lines(quiet.out), count_lines(normal.out)) << quiet.out;
  EXPECT_NE(quiet.out.find("put b: 1 MiB"), std::string::npos) << quiet.out;
}

TEST_F(CliVerbosityTest, QuietSilencesNotesOfLsAndGcButNotErrors) {
  ASSERT_EQ(onecopy({"put", "a", "--zeros", "4KiB", "-q"}).code, 0);
  // A FIFO planted where a segment would be: ls and gc leave it alone and name it, unless -q.
  ASSERT_EQ(::mkfifo((store() / "planted").c_str(), 0600), 0);
  for (const std::string c : {"ls", "gc"}) {
    const auto normal = onecopy({c});
    EXPECT_NE(normal.err.find("onecopy " + c + ": skipped "), std::string::npos) << c << ": " << normal.err;
    const auto quiet = onecopy({c, "--quiet"});
    EXPECT_EQ(quiet.code, 0) << c;
    EXPECT_EQ(quiet.err, "") << c;
    EXPECT_EQ(quiet.out, normal.out) << c;
  }
  const auto missing = onecopy({"rm", "-q", "missing"});  // an error is said all the same
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("onecopy rm: "), std::string::npos) << missing.err;
}

TEST_F(CliVerbosityTest, VerboseSaysWhatTheStoreDidAndHowLong) {
  const auto put = onecopy({"put", "a", "--zeros", "1MiB", "-v"});
  ASSERT_EQ(put.code, 0) << put.err;
  const auto quiet = onecopy({"put", "b", "--zeros", "1MiB", "-q"});
  EXPECT_EQ(count_lines(put.out), count_lines(quiet.out)) << "details go to stderr, not into the result";
  for (const std::string& line : std::vector<std::string>{"onecopy put: store " + store().string(), "onecopy put: draft " + store().string(),
                                 "onecopy put: published " + (store() / "a").string(), "onecopy put: done in "})
    EXPECT_NE(put.err.find(line), std::string::npos) << line << " in:\n" << put.err;
  const auto rm = onecopy({"rm", "--verbose", "a"});
  EXPECT_EQ(rm.code, 0);
  EXPECT_NE(rm.err.find("onecopy rm: removed a\n"), std::string::npos) << rm.err;
  // Every command that ran says how long it took.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"ls", "-v"}, {"stat", "b", "-v"}, {"verify", "b", "-v"}, {"gc", "-v"}, {"topo", "--summary", "-v"},
           {"setup", "--dry-run", "-v"}, {"demo", "--size", "4MiB", "--workers", "1", "-v"}}) {
    const auto r = onecopy(args);
    EXPECT_EQ(r.code, 0) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("onecopy " + args[0] + ": done in "), std::string::npos) << args[0] << ": " << r.err;
  }
}

TEST_F(CliVerbosityTest, VerboseServeLogsEachConnection) {
  test::child server = test::spawn({test::built("onecopy").string(), "serve", "-v"}, env_,
                                   {.capture_stdout = true, .capture_stderr = true});
  const std::string ready = test::read_line(server.stdout_fd);
  ASSERT_TRUE(ready.starts_with("onecopy serve: listening on ")) << ready;
  const auto status = onecopy({"serve", "--status"});
  EXPECT_EQ(status.code, 0) << status.err;
  ::kill(server.pid, SIGTERM);
  const std::string log = test::read_all(server.stderr_fd);
  EXPECT_EQ(test::exit_code(test::wait_for(server.pid)), 0) << log;
  EXPECT_NE(log.find("onecopy serve: connection from pid "), std::string::npos) << log;
  ::close(server.stdout_fd);
  ::close(server.stderr_fd);
}

TEST_F(CliVerbosityTest, VerboseKeepsJsonOnStdoutParseable) {
  const auto r = onecopy({"put", "a", "--zeros", "1MiB", "--json", "-v"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["name"], "a");
  EXPECT_NE(r.err.find("onecopy put: published "), std::string::npos) << r.err;
}

}  // namespace
}  // namespace onecopy
