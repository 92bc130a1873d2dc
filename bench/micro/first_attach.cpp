// SPDX-License-Identifier: Apache-2.0
// first_attach: the first attach in a new process, against the same new process's first
// open + fstat + mmap of the same file (issue 16's goal: ≤ 1.3×). Each run forks and execs this
// program again as a child that does one of the two as the first thing it does and prints the
// time it took; the two kinds of child alternate, medians of --runs each. What a fresh process
// pays once (the first malloc, lazy binding of libc and libstdc++ calls, cold caches) is in
// both. The child's store is constructed before the clock starts (its cost, mostly reading the
// configuration, is printed apart as "store").
//
//   first_attach [--sizes 1MiB,256MiB,2GiB,8GiB] [--runs 21] [--label shm_4k]
//
// The store is ONECOPY_BENCH_DIRS's first directory (else a private one in /dev/shm). Segments
// above 2 GiB are sparse files with a valid header (tmpfs only; skipped on hugetlbfs), as in
// BM_Attach. Prints one markdown row per size (bench/run.sh collects them) and, on stderr, a
// "goal" line per size ending in PASS or MISS.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "backings.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/units.hpp"

namespace onecopy::bench {
namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// One open + fstat + mmap of path; its seconds, or a negative number when it failed.
double floor_seconds(const char* path) {
  const double t0 = now();
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  struct ::stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) return -1;
  void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  const double t1 = now();
  return p == MAP_FAILED ? -1 : t1 - t0;
}

// Child: "attach DIR NAME" or "floor PATH". Prints seconds on stdout ("store first second" or
// "first second"): the first attach (or floor) of this new process, then a second one of the
// same file, a new descriptor and mapping each time, for what being the first costs.
int child(int argc, char** argv) {
  const std::string mode = argv[2];
  if (mode == "attach" && argc == 5) {
    const double t0 = now();
    const store s = store::at(argv[3]);
    const double t1 = now();
    const segment seg = s.attach(argv[4]);
    const double t2 = now();
    const segment again = s.attach(argv[4]);
    const double t3 = now();
    if (seg.bytes().empty() || again.bytes().empty()) return 1;
    std::printf("%.9f %.9f %.9f\n", t1 - t0, t2 - t1, t3 - t2);
    return 0;
  }
  if (mode == "floor" && argc == 4) {
    const double first = floor_seconds(argv[3]);
    const double second = floor_seconds(argv[3]);
    if (first < 0 || second < 0) return 1;
    std::printf("%.9f %.9f\n", first, second);
    return 0;
  }
  std::fprintf(stderr, "first_attach --child: attach DIR NAME | floor PATH\n");
  return 2;
}

// Runs this program as a child with args; returns the numbers it printed.
std::vector<double> run_child(const std::vector<std::string>& args) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    std::vector<char*> argv;
    static char self[] = "/proc/self/exe";
    argv.push_back(self);
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(self, argv.data());
    std::_Exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buf[256];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(fmt::format("child {} failed (status {})", args[1], status));
  std::vector<double> values;
  for (char* p = text.data(); *p != '\0';) {
    char* end = nullptr;
    const double v = std::strtod(p, &end);
    if (end == p) break;
    values.push_back(v);
    p = end;
  }
  return values;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::string micros(double s) { return fmt::format("{:.1f} µs", s * 1e6); }

std::vector<std::uint64_t> parse_sizes(const std::string& text) {
  std::vector<std::uint64_t> out;
  for (std::size_t at = 0; at <= text.size();) {
    const auto comma = std::min(text.find(',', at), text.size());
    out.push_back(parse_size(text.substr(at, comma - at)));
    at = comma + 1;
  }
  return out;
}

int run(int argc, char** argv) {
  std::string sizes_text = "1MiB,256MiB,2GiB,8GiB", label;
  int runs = 21;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--sizes") sizes_text = argv[i + 1];
    else if (flag == "--runs") runs = std::atoi(argv[i + 1]);
    else if (flag == "--label") label = argv[i + 1];
  }
  const default_store_dir fallback;
  auto backings = backings_from_environment();
  backing_case& b = backings.front();
  if (label.empty()) label = b.label;
  const bool huge = b.kind == page_kind::hugetlb_2m || b.kind == page_kind::hugetlb_1g;
  for (const std::uint64_t size : parse_sizes(sizes_text)) {
    const std::string name = fmt::format("first-attach-{}", ::getpid());
    const bool sparse = size > 2 * GiB;
    if (sparse && huge) continue;  // hugetlbfs files cannot be sparse without reserving the pool
    try {
      if (sparse) write_sparse_segment(b, name, size);
      else (void)publish_segment(b, name, size);
      const std::string path = b.segments.path_of(name).string();
      std::vector<double> attach, store_s, floor, attach_again, floor_again;
      for (int r = 0; r < runs; ++r) {
        // Alternate which kind goes first, so neither always finds the other's dentries hot.
        for (int k = 0; k < 2; ++k) {
          if ((r + k) % 2 == 0) {
            const auto v = run_child({"--child", "attach", b.dir.string(), name});
            store_s.push_back(v.at(0));
            attach.push_back(v.at(1));
            attach_again.push_back(v.at(2));
          } else {
            const auto v = run_child({"--child", "floor", path});
            floor.push_back(v.at(0));
            floor_again.push_back(v.at(1));
          }
        }
      }
      b.segments.remove(name);
      const double ratio = median(attach) / median(floor);
      const bool pass = ratio <= 1.3;
      std::printf("| %s | %s%s | %s | %s | **%.2f×** | %s | %s / %s (%.2f×) | %s |\n", label.c_str(),
                  format_bytes(size).c_str(), sparse ? " (sparse)" : "", micros(median(attach)).c_str(),
                  micros(median(floor)).c_str(), ratio, pass ? "PASS" : "MISS", micros(median(attach_again)).c_str(),
                  micros(median(floor_again)).c_str(), median(attach_again) / median(floor_again),
                  micros(median(store_s)).c_str());
      std::fprintf(stderr, "attach goal %s %s: first attach in a new process %s vs open+fstat+mmap %s: %.2f× "
                   "(goal ≤ 1.3×) %s\n", label.c_str(), format_bytes(size).c_str(), micros(median(attach)).c_str(),
                   micros(median(floor)).c_str(), ratio, pass ? "PASS" : "MISS");
    } catch (const std::exception& e) {
      try {
        b.segments.remove(name);
      } catch (...) {
      }
      std::printf("| %s | %s | skipped: %s | | | | | |\n", label.c_str(), format_bytes(size).c_str(), e.what());
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace onecopy::bench

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--child") == 0) return onecopy::bench::child(argc, argv);
  return onecopy::bench::run(argc, argv);
}
