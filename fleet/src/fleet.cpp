// SPDX-License-Identifier: Apache-2.0
#include "onecopy/fleet/fleet.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "onecopy/engine/checksum.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/sys/memory.hpp"

extern char** environ;

namespace onecopy::fleet {
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

constexpr std::string_view posix_shm_prefix = "posix-shm:";
constexpr std::string_view file_prefix = "file:";
constexpr std::string_view pipe_prefix = "pipe:";

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

// Writes payload to fd (a reader's stdin) from its own thread. SIGPIPE is blocked here, so a
// reader that died makes write fail with EPIPE instead of killing the driver.
void feed(int fd, std::span<const std::byte> payload) {
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
  std::size_t done = 0;
  while (done < payload.size()) {
    const ssize_t n = ::write(fd, payload.data() + done, payload.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the reader is gone; it reports (or not) on its own
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

bool fleet_result::checksums_agree() const noexcept {
  return std::all_of(readers.begin(), readers.end(),
                     [&](const reader_result& r) { return r.checksum == readers.front().checksum; });
}

std::filesystem::path self_executable() { return std::filesystem::read_symlink("/proc/self/exe"); }

std::string_view to_string(reader_mode m) noexcept {
  switch (m) {
    case reader_mode::segment: return "onecopy";
    case reader_mode::posix_shm: return "posix_shm";
    case reader_mode::file: return "file";
    case reader_mode::pipe: return "pipe";
  }
  return "?";
}

std::string reader_source::to_arg() const {
  switch (mode) {
    case reader_mode::segment: return name;
    case reader_mode::posix_shm: return std::string(posix_shm_prefix) + name;
    case reader_mode::file: return std::string(file_prefix) + name;
    case reader_mode::pipe: return fmt::format("{}{}", pipe_prefix, size);
  }
  return name;
}

reader_source reader_source::parse(std::string_view arg) {
  reader_source s;
  if (arg.starts_with(posix_shm_prefix)) {
    s.mode = reader_mode::posix_shm;
    s.name = arg.substr(posix_shm_prefix.size());
  } else if (arg.starts_with(file_prefix)) {
    s.mode = reader_mode::file;
    s.name = arg.substr(file_prefix.size());
  } else if (arg.starts_with(pipe_prefix)) {
    s.mode = reader_mode::pipe;
    const auto digits = arg.substr(pipe_prefix.size());
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), s.size);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty())
      throw usage_error(fmt::format("reader source '{}': expected pipe:BYTES", arg));
  } else {
    s.name = arg;
  }
  if (s.mode != reader_mode::pipe && s.name.empty())
    throw usage_error(fmt::format("reader source '{}' names nothing", arg));
  return s;
}

fleet_result run_readers(const std::filesystem::path& exe, const std::string& name, int n) {
  return run_readers(exe, reader_source{reader_mode::segment, name, 0}, n);
}

fleet_result run_readers(const std::filesystem::path& exe, const reader_source& source, int n,
                         std::span<const std::byte> payload) {
  if (source.mode == reader_mode::pipe && payload.size() != source.size)
    throw usage_error(fmt::format("pipe readers expect {} bytes but the payload has {}", source.size, payload.size()));
  std::vector<spawned> kids;
  kids.reserve(static_cast<std::size_t>(n));
  std::vector<std::jthread> feeders;
  auto reap_all = [&] {
    feeders.clear();  // joins: each ends when its reader has everything or is gone
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
    const std::string arg = source.to_arg();
    for (int i = 0; i < n; ++i) kids.push_back(spawn_reader(exe, arg));
    // Each reader announces it is ready (started, store opened) before the release.
    for (auto& k : kids) {
      const std::string line = sys::read_line(k.from_child.get());
      if (line != "ready")
        throw std::runtime_error(fmt::format("reader {} did not start: {}", k.pid, line.empty() ? "no output" : line));
    }
    // Counted only once all have started: a reader counted while the others still load the
    // program would own its shared library pages alone then and a third of them afterwards,
    // and that drop (megabytes under the sanitizers) would hide part of what reading added.
    std::vector<process_memory> before;
    for (auto& k : kids) before.push_back(memory_of(k.pid));
    // A large pipe buffer: the fewest context switches the pipe alternative can have.
    if (source.mode == reader_mode::pipe)
      for (auto& k : kids) (void)::fcntl(k.to_child.get(), F_SETPIPE_SZ, 1 << 20);
    const double released = monotonic_seconds();
    for (auto& k : kids)
      if (::write(k.to_child.get(), "g", 1) != 1) sys::throw_errno(fmt::format("write(reader {})", k.pid));
    if (source.mode == reader_mode::pipe)
      for (auto& k : kids) feeders.emplace_back(feed, k.to_child.get(), payload);
    for (std::size_t i = 0; i < kids.size(); ++i) {
      auto& k = kids[i];
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
      r.memory_before = before[i];
      result.total_memory_before += before[i].total();
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

namespace {

// The bytes a reader checksums, however it got them; keeps them alive until it exits.
struct reader_bytes {
  std::span<const std::byte> bytes;
  std::optional<segment> seg;
  std::unique_ptr<std::byte[]> copy;  // file and pipe: this reader's private copy
  sys::mapping map;                   // POSIX shm
};

reader_bytes get_bytes(const reader_source& src, const std::optional<store>& st) {
  reader_bytes r;
  switch (src.mode) {
    case reader_mode::segment: {
      r.seg.emplace(st->attach(src.name));
      r.bytes = r.seg->bytes();
      break;
    }
    case reader_mode::posix_shm: {
      const int fd = ::shm_open(src.name.c_str(), O_RDONLY | O_CLOEXEC, 0);
      if (fd < 0) sys::throw_errno(fmt::format("shm_open({}, O_RDONLY)", src.name));
      sys::unique_fd owner(fd);
      const auto size = sys::fstat(fd, src.name).size;
      r.map = sys::map_shared(fd, size, sys::access::read_only, src.name);
      r.bytes = r.map.bytes();
      break;
    }
    case reader_mode::file: {
      sys::unique_fd fd = sys::open(src.name, O_RDONLY);
      const auto size = sys::fstat(fd.get(), src.name).size;
      r.copy.reset(new std::byte[size]);  // uninitialised: read(2) is the first touch
      const auto got = sys::pread_full(fd.get(), r.copy.get(), size, 0, src.name);
      r.bytes = {r.copy.get(), got};
      break;
    }
    case reader_mode::pipe: {
      r.copy.reset(new std::byte[src.size]);
      std::size_t done = 0;
      while (done < src.size) {
        const ssize_t n = ::read(STDIN_FILENO, r.copy.get() + done, src.size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) sys::throw_errno("read(stdin, payload)");
        if (n == 0) throw std::runtime_error(fmt::format("pipe closed after {} of {} bytes", done, src.size));
        done += static_cast<std::size_t>(n);
      }
      r.bytes = {r.copy.get(), src.size};
      break;
    }
  }
  return r;
}

}  // namespace

int reader_main(const std::string& source) {
  nlohmann::json j;
  try {
    const reader_source src = reader_source::parse(source);
    std::optional<store> st;  // opened before "ready": only the attach is timed
    if (src.mode == reader_mode::segment) st.emplace(store::from_environment());
    std::printf("ready\n");
    std::fflush(stdout);
    char go = 0;
    if (::read(STDIN_FILENO, &go, 1) != 1) return 1;
    const double t0 = monotonic_seconds();
    const reader_bytes data = get_bytes(src, st);
    const double t1 = monotonic_seconds();
    // One thread each: N readers on N cores is the case being shown.
    const std::uint64_t sum = segment_checksum(data.bytes, 1);
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

}  // namespace onecopy::fleet
