// SPDX-License-Identifier: Apache-2.0
#include "guest_os.hpp"

#include <fcntl.h>
#include <numaif.h>
#include <sched.h>
#include <spawn.h>
#include <sys/io.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "onecopy/sys/calls.hpp"
#include "onecopy/sys/fd.hpp"
#include "onecopy/topology/sysfs.hpp"

extern char** environ;

namespace numa_vm {
namespace {

std::filesystem::path pool_file(int node, const char* what) {
  return fmt::format("/sys/devices/system/node/node{}/hugepages/hugepages-2048kB/{}", node, what);
}

}  // namespace

std::uint64_t free_huge_pages(int node) { return onecopy::sysfs::free_hugepages(node, huge_2m); }

void set_huge_pool(int node, std::uint64_t pages) {
  onecopy::sys::write_text(pool_file(node, "nr_hugepages"), std::to_string(pages));
  const auto got = onecopy::sys::read_number(pool_file(node, "nr_hugepages")).value_or(0);
  if (got != pages)
    throw std::runtime_error(fmt::format("node {}: asked for {} 2 MiB pages, the kernel gave {}", node, pages, got));
}

std::uint64_t node_shmem_bytes(int node) {
  // "Node 1 Shmem:            8192 kB"
  std::istringstream in(onecopy::sys::read_text(fmt::format("/sys/devices/system/node/node{}/meminfo", node)));
  std::string line;
  while (std::getline(in, line)) {
    const auto at = line.find(" Shmem:");
    if (at == std::string::npos) continue;
    return std::stoull(line.substr(at + 7)) * 1024;
  }
  throw std::runtime_error(fmt::format("node {}: no Shmem line in its meminfo", node));
}

std::vector<std::uint64_t> frames_of(std::span<const std::byte> range) {
  constexpr std::uint64_t page = 4096;
  const auto first = reinterpret_cast<std::uintptr_t>(range.data()) / page;
  const std::size_t count = (range.size() + page - 1) / page;
  std::vector<std::uint64_t> entries(count);
  const auto fd = onecopy::sys::open("/proc/self/pagemap", O_RDONLY);
  const std::size_t bytes = count * sizeof(std::uint64_t);
  if (onecopy::sys::pread_full(fd.get(), entries.data(), bytes, first * sizeof(std::uint64_t),
                               "/proc/self/pagemap") != bytes)
    throw std::runtime_error("/proc/self/pagemap: short read");
  for (auto& e : entries) e = (e >> 63) != 0 ? e & ((1ull << 55) - 1) : 0;  // present → PFN
  return entries;
}

std::vector<onecopy::node_pages> nodes_of(std::span<const std::byte> range) {
  std::vector<void*> pages;
  for (std::size_t at = 0; at < range.size(); at += 4096) pages.push_back(const_cast<std::byte*>(range.data() + at));
  std::vector<int> status(pages.size(), -1);
  if (::move_pages(0, pages.size(), pages.data(), nullptr, status.data(), 0) != 0)
    throw std::runtime_error("move_pages: " + onecopy::sys::errno_text(errno));
  std::map<int, std::uint64_t> counts;
  for (int s : status)
    if (s >= 0) ++counts[s];
  std::vector<onecopy::node_pages> out;
  for (auto [node, n] : counts) out.push_back({node, n});
  return out;
}

void write_frames(const std::filesystem::path& file, const std::vector<std::uint64_t>& frames) {
  std::ofstream out(file);
  for (auto f : frames) out << f << '\n';
  if (!out.flush()) throw std::runtime_error(fmt::format("cannot write {}", file.string()));
}

std::vector<std::uint64_t> read_frames(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error(fmt::format("cannot read {}", file.string()));
  std::vector<std::uint64_t> frames;
  for (std::uint64_t f; in >> f;) frames.push_back(f);
  return frames;
}

void pin_to_node(int node) {
  const auto cpus = onecopy::sysfs::node_cpus(node);
  if (cpus.empty()) throw std::runtime_error(fmt::format("node {} has no CPUs to run on", node));
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(static_cast<std::size_t>(c), &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0)
    throw std::runtime_error(fmt::format("sched_setaffinity(node {}: CPUs {}): {}", node,
                                         onecopy::sys::format_cpulist(cpus), onecopy::sys::errno_text(errno)));
  ::sched_yield();  // move now, so the next getcpu() reports the new node
}

int spawn_self(const std::vector<std::string>& args) { return wait_for_exit(start_self(args)); }

pid_t start_self(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  std::vector<std::string> all{"numa-vm-guest"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> vars(env);
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(nullptr);
  std::fflush(stdout);
  pid_t pid = 0;
  if (const int err = ::posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), envp.data()); err != 0)
    throw std::runtime_error(fmt::format("posix_spawn(/proc/self/exe {}): {}", args.front(), onecopy::sys::errno_text(err)));
  return pid;
}

bool wait_until_stopped(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, WUNTRACED) < 0)
    if (errno != EINTR) throw std::runtime_error(fmt::format("waitpid({}): {}", pid, onecopy::sys::errno_text(errno)));
  return WIFSTOPPED(status);
}

int wait_for_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::runtime_error(fmt::format("waitpid({}): {}", pid, onecopy::sys::errno_text(errno)));
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

std::filesystem::path fresh_dir(const std::filesystem::path& path) {
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);  // a store is 0700
  return path;
}

void qemu_exit(int code) {
  // The serial console may still hold the last lines: let it send them before QEMU goes away.
  std::fflush(stdout);
  std::fflush(stderr);
  ::tcdrain(STDOUT_FILENO);
  ::tcdrain(STDERR_FILENO);
  ::usleep(300 * 1000);
  constexpr unsigned short port = 0xf4;  // -device isa-debug-exit,iobase=0xf4,iosize=0x04
  if (::ioperm(port, 4, 1) != 0) {
    std::fprintf(stderr, "numa-vm: ioperm(0xf4): %s\n", onecopy::sys::errno_text(errno).c_str());
    return;
  }
  ::outb(static_cast<unsigned char>(code), port);
  ::sleep(5);  // QEMU exits at the write; only a guest without the device gets here
  std::fprintf(stderr, "numa-vm: isa-debug-exit did not end QEMU\n");
}

}  // namespace numa_vm
