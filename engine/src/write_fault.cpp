// SPDX-License-Identifier: Apache-2.0
// The write-fault report: a fixed registry of mappings and a SIGSEGV handler that reads it.
// The handler may only use async-signal-safe calls (write, sigaction) and data prepared before
// it runs: the registry is a static array of atomic pointers to immutable records, and the
// message is formatted by hand into a stack buffer.
#include "onecopy/engine/write_fault.hpp"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>

#include "fault_registry.hpp"
#include "onecopy/error.hpp"

namespace onecopy {
namespace {

constexpr int max_records = 4096;
std::array<std::atomic<detail::fault_record*>, max_records> records{};

std::mutex install_mutex;  // install/uninstall only; never taken by the handler
std::atomic<bool> installed{false};
struct sigaction previous {};
std::atomic<bool> reported{false};  // one line per process, however often the fault repeats

// A fixed buffer and appenders that never allocate.
struct line {
  char text[1024];
  std::size_t len = 0;
  void add(const char* s, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n && len + 1 < sizeof text; ++i) text[len++] = s[i];
  }
  void add(const char* s) noexcept { add(s, std::strlen(s)); }
  void add(std::uint64_t v, int base = 10) noexcept {
    char digits[24];
    int n = 0;
    do {
      const auto d = static_cast<int>(v % static_cast<unsigned>(base));
      digits[n++] = static_cast<char>(d < 10 ? '0' + d : 'a' + d - 10);
      v /= static_cast<unsigned>(base);
    } while (v != 0 && n < 24);
    while (n > 0) add(&digits[--n], 1);
  }
  void write() const noexcept {
    std::size_t done = 0;
    while (done < len) {
      const ssize_t n = ::write(STDERR_FILENO, text + done, len - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }
};

void report(const detail::fault_record& r, std::uintptr_t addr) noexcept {
  line l;
  l.add("onecopy: write to read-only onecopy segment '");
  l.add(r.name->data(), r.name->size());
  l.add("' (");
  // Format v2 keeps the header region after the data (v1: before it).
  if (addr < r.data || addr - r.data >= r.info->data_size) {
    l.add("its header");
  } else {
    const std::uint64_t offset = addr - r.data;
    l.add("offset ");
    l.add(offset);
    for (const auto& t : r.info->tensors) {
      if (offset >= t.offset && offset < t.offset + t.size) {
        if (t.name.empty()) break;  // the single array of an array segment
        l.add(", tensor '");
        l.add(t.name.data(), t.name.size());
        l.add("' byte ");
        l.add(offset - t.offset);
        break;
      }
    }
  }
  l.add(") at 0x");
  l.add(addr, 16);
  l.add(": segments are shared and read-only; copy before changing (numpy: a.copy(), torch: "
        "t.clone())\n");
  l.write();
}

void on_segv(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  // Only faults in our mappings count: a runtime's own faults (guard pages a previous handler
  // resolves) pass through without using up the one report.
  if (info != nullptr && info->si_code == SEGV_ACCERR) {
    const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
    for (const auto& slot : records) {
      const detail::fault_record* r = slot.load(std::memory_order_acquire);
      if (r != nullptr && addr >= r->begin && addr < r->end) {
        if (!reported.exchange(true)) report(*r, addr);
        break;
      }
    }
  }
  errno = saved_errno;
  // Pass it on: the previous handler, else the default action. Returning re-runs the faulting
  // instruction, which faults again under that action: the process dies of SIGSEGV as it
  // would have without us (core dump included).
  if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    previous.sa_sigaction(sig, info, context);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
    return;
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGSEGV, &dfl, nullptr);
}

}  // namespace

void install_write_fault_report() {
  std::lock_guard lock(install_mutex);
  if (installed) return;
  struct sigaction action {};
  action.sa_sigaction = on_segv;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  if (::sigaction(SIGSEGV, &action, &previous) != 0) {
    const int err = errno;
    throw os_error(err, "sigaction(SIGSEGV)");
  }
  installed = true;
}

void uninstall_write_fault_report() noexcept {
  std::lock_guard lock(install_mutex);
  if (!installed) return;
  struct sigaction current {};
  ::sigaction(SIGSEGV, nullptr, &current);
  // Someone installed a handler after ours (and may chain to it): leave theirs in place.
  if ((current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == on_segv)
    ::sigaction(SIGSEGV, &previous, nullptr);
  installed = false;
}

bool write_fault_report_installed() noexcept { return installed; }

namespace detail {

fault_registration::fault_registration(const std::byte* mapping, std::size_t length,
                                       const std::string& name, const segment_info& info) noexcept {
  auto* r = new (std::nothrow) fault_record{reinterpret_cast<std::uintptr_t>(mapping),
                                            reinterpret_cast<std::uintptr_t>(mapping) + length,
                                            reinterpret_cast<std::uintptr_t>(mapping) + info.data_offset,
                                            &name, &info};
  if (r == nullptr) return;
  for (int i = 0; i < max_records; ++i) {
    detail::fault_record* empty = nullptr;
    if (records[static_cast<std::size_t>(i)].compare_exchange_strong(empty, r, std::memory_order_acq_rel)) {
      slot_ = i;
      return;
    }
  }
  delete r;  // full: this mapping goes unreported
}

fault_registration::fault_registration(fault_registration&& other) noexcept
    : slot_(std::exchange(other.slot_, -1)) {}

fault_registration& fault_registration::operator=(fault_registration&& other) noexcept {
  if (this != &other) {
    this->~fault_registration();
    slot_ = std::exchange(other.slot_, -1);
  }
  return *this;
}

fault_registration::~fault_registration() {
  if (slot_ < 0) return;
  // A handler running in another thread at this very moment could still read the record; it
  // would be reporting a write to a mapping being unmapped, in a process about to die.
  delete records[static_cast<std::size_t>(slot_)].exchange(nullptr, std::memory_order_acq_rel);
  slot_ = -1;
}

}  // namespace detail
}  // namespace onecopy
