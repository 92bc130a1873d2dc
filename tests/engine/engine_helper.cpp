// SPDX-License-Identifier: Apache-2.0
// A child process for the engine's multi-process tests. It uses the store from the
// environment (ONECOPY_DIR) and reports on stdout; tests judge it by output and exit status.
//   create NAME BYTES SEED          create, fill with pattern(SEED), publish; print checksum
//   open-or-create NAME BYTES SEED  print "created|attached <checksum>"
//   attach NAME                     print "<checksum> <attach microseconds>"
//   hold NAME                       attach, print checksum, wait for stdin EOF, exit 0
//   write NAME                      attach and write through the read-only mapping (SIGSEGV)
// ONECOPY_HELPER_STOP_MID_FILL=1 makes create/open-or-create stop (SIGSTOP) halfway through the fill.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "onecopy/engine/store.hpp"
#include "pattern.hpp"

using namespace onecopy;

namespace {

void fill(draft& d, std::uint64_t seed) {
  auto bytes = d.bytes();
  const bool stop_mid = std::getenv("ONECOPY_HELPER_STOP_MID_FILL") != nullptr;
  const std::size_t half = bytes.size() / 2;
  test::fill_pattern(bytes.first(half), seed, 0);
  if (stop_mid) ::raise(SIGSTOP);
  test::fill_pattern(bytes.subspan(half), seed, half);
}

int usage() {
  std::fprintf(stderr, "usage: engine_helper create|open-or-create NAME BYTES SEED | attach|hold|write NAME\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string cmd = argv[1];
  const std::string name = argv[2];
  try {
    store s = store::from_environment();
    if ((cmd == "create" || cmd == "open-or-create") && argc == 5) {
      const std::uint64_t bytes = std::strtoull(argv[3], nullptr, 10);
      const std::uint64_t seed = std::strtoull(argv[4], nullptr, 10);
      if (cmd == "create") {
        draft d = s.create(name, layout::bytes(bytes));
        fill(d, seed);
        segment seg = std::move(d).publish();
        std::printf("%016llx\n", static_cast<unsigned long long>(seg.info().checksum));
        return 0;
      }
      bool created = false;
      segment seg = s.open_or_create(name, layout::bytes(bytes), {}, [&](draft& d) {
        created = true;
        fill(d, seed);
      });
      std::printf("%s %016llx\n", created ? "created" : "attached",
                  static_cast<unsigned long long>(seg.compute_checksum()));
      return 0;
    }
    if (cmd == "attach" || cmd == "hold") {
      const auto start = std::chrono::steady_clock::now();
      segment seg = s.attach(name);
      const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
      std::printf("%016llx %.1f\n", static_cast<unsigned long long>(seg.compute_checksum()), us);
      std::fflush(stdout);
      if (cmd == "hold") {
        char c;
        while (::read(STDIN_FILENO, &c, 1) > 0) {
        }
      }
      return 0;
    }
    if (cmd == "write") {
      segment seg = s.attach(name);
      // Let the kernel, not a sanitizer's handler, decide what a write to a read-only page does.
      ::signal(SIGSEGV, SIG_DFL);
      volatile std::byte* p = const_cast<std::byte*>(seg.bytes().data());
      *p = std::byte{42};
      return 0;  // not reached when the page is read-only
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "engine_helper %s: %s\n", cmd.c_str(), e.what());
    return 1;
  }
  return usage();
}
