// SPDX-License-Identifier: Apache-2.0
#include "fleet.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "onecopy/engine/store.hpp"
#include "onecopy/sys/calls.hpp"

extern char** environ;

namespace onecopy::cli {
namespace {

double monotonic_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct spawned {
  pid_t pid = -1;
  sys::unique_fd to_child;    // its stdin: one byte releases it, closing lets it exit
  sys::unique_fd from_child;  // its stdout: one JSON line
};

spawned spawn_reader(const std::filesystem::path& exe, const std::string& name) {
  int in[2];
  int out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) sys::throw_errno("pipe2(reader)");
  spawned s;
  s.to_child = sys::unique_fd(in[1]);
  s.from_child = sys::unique_fd(out[0]);
  sys::unique_fd child_in(in[0]);
  sys::unique_fd child_out(out[1]);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, child_in.get(), STDIN_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, child_out.get(), STDOUT_FILENO);
  std::string exe_text = exe.string();
  std::string sub = "__reader";
  std::string arg = name;
  char* argv[] = {exe_text.data(), sub.data(), arg.data(), nullptr};
  const int rc = ::posix_spawn(&s.pid, exe_text.c_str(), &actions, nullptr, argv, environ);
  ::posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw_os_error(rc, fmt::format("posix_spawn({} __reader {})", exe_text, name));
  return s;
}

}  // namespace

bool fleet_result::checksums_agree() const noexcept {
  return std::all_of(readers.begin(), readers.end(),
                     [&](const reader_result& r) { return r.checksum == readers.front().checksum; });
}

std::filesystem::path self_executable() { return std::filesystem::read_symlink("/proc/self/exe"); }

fleet_result run_readers(const std::filesystem::path& exe, const std::string& name, int n) {
  std::vector<spawned> kids;
  kids.reserve(static_cast<std::size_t>(n));
  auto reap_all = [&] {
    for (auto& k : kids) {
      k.to_child.reset();
      if (k.pid > 0) {
        int status = 0;
        ::waitpid(k.pid, &status, 0);
        k.pid = -1;
      }
    }
  };
  fleet_result result;
  try {
    for (int i = 0; i < n; ++i) kids.push_back(spawn_reader(exe, name));
    // Each reader announces it is ready (started, store opened) before the release.
    for (auto& k : kids) {
      const std::string line = sys::read_line(k.from_child.get());
      if (line != "ready")
        throw std::runtime_error(fmt::format("reader {} did not start: {}", k.pid, line.empty() ? "no output" : line));
    }
    const double released = monotonic_seconds();
    for (auto& k : kids)
      if (::write(k.to_child.get(), "g", 1) != 1) sys::throw_errno(fmt::format("write(reader {})", k.pid));
    for (auto& k : kids) {
      const std::string line = sys::read_line(k.from_child.get());
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const std::exception&) {
        throw std::runtime_error(fmt::format("reader {} failed: '{}'", k.pid, line));
      }
      if (j.contains("error"))
        throw std::runtime_error(fmt::format("reader {}: {}", k.pid, j["error"].get<std::string>()));
      reader_result r;
      r.pid = k.pid;
      r.attach_seconds = j.at("attach_seconds").get<double>();
      r.checksum_seconds = j.at("checksum_seconds").get<double>();
      r.first_result_seconds = j.at("done_at").get<double>() - released;
      r.checksum = std::stoull(j.at("checksum").get<std::string>(), nullptr, 16);
      result.readers.push_back(r);
    }
    // Every reader has now touched every page and is still alive: count their memory.
    for (auto& r : result.readers) {
      r.memory = memory_of(r.pid);
      result.total_memory += r.memory.total();
    }
  } catch (...) {
    reap_all();
    throw;
  }
  reap_all();
  return result;
}

int reader_main(const std::string& name) {
  nlohmann::json j;
  try {
    const store s = store::from_environment();
    std::printf("ready\n");
    std::fflush(stdout);
    char go = 0;
    if (::read(STDIN_FILENO, &go, 1) != 1) return 1;
    const double t0 = monotonic_seconds();
    const segment seg = s.attach(name);
    const double t1 = monotonic_seconds();
    // One thread each: N readers on N cores is the case being shown.
    const std::uint64_t sum = seg.compute_checksum(1);
    const double t2 = monotonic_seconds();
    j = {{"attach_seconds", t1 - t0}, {"checksum_seconds", t2 - t1}, {"done_at", t2},
         {"checksum", fmt::format("{:016x}", sum)}};
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
    char c;
    while (::read(STDIN_FILENO, &c, 1) > 0) {
    }
    return 0;
  } catch (const std::exception& e) {
    std::printf("%s\n", nlohmann::json{{"error", e.what()}}.dump().c_str());
    return 1;
  }
}

}  // namespace onecopy::cli
