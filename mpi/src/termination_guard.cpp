// SPDX-License-Identifier: Apache-2.0
// The handler may only use async-signal-safe calls (unlink, write, sigaction, raise) and data
// prepared before it runs, so the guard's state is a plain static structure: a signal handler
// can reach nothing else.
#include "termination_guard.hpp"

#include <limits.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace onecopy::mpi::detail {
namespace {

constexpr int guarded_signals[] = {SIGTERM, SIGINT, SIGHUP};
constexpr int max_files = 8;

struct guard_state {
  std::atomic<bool> armed{false};
  char prefix[768] = {};
  std::atomic<const char*> step{""};
  char files[max_files][PATH_MAX] = {};
  std::atomic<int> file_count{0};
  struct sigaction previous[3] = {};
};
guard_state state;

// The message is assembled in one buffer and written with one write(): mpirun forwards it as
// one piece even while it tears the job down (several small writes came out interleaved or cut).
char message[2 * PATH_MAX + 1024];
std::size_t message_len = 0;

void append(const char* text) noexcept {
  for (; *text != '\0' && message_len + 1 < sizeof message; ++text) message[message_len++] = *text;
}

void write_message() noexcept {
  const char* at = message;
  std::size_t left = message_len;
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, at, left);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;
    }
    at += n;
    left -= static_cast<std::size_t>(n);
  }
}

const char* signal_name(int sig) noexcept {
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    default: return "a signal";
  }
}

void restore_previous() noexcept {
  for (int i = 0; i < 3; ++i) ::sigaction(guarded_signals[i], &state.previous[i], nullptr);
}

void on_termination(int sig) {
  const int saved_errno = errno;
  // Files first: the runtime may follow up with SIGKILL.
  const int n = state.file_count.load();
  bool gone[max_files] = {};  // removed now, or already by another rank of the node
  for (int i = 0; i < n && i < max_files; ++i) gone[i] = ::unlink(state.files[i]) == 0 || errno == ENOENT;
  message_len = 0;
  append(state.prefix);
  append("terminated by ");
  append(signal_name(sig));
  append(" while ");
  append(state.step.load());
  bool any = false;
  for (int i = 0; i < n && i < max_files; ++i) {
    append(any ? ", " : "; the node's unpublished draft ");
    append(state.files[i]);
    append(gone[i] ? " is removed" : " could not be removed ('onecopy gc' will)");
    any = true;
  }
  append(". The MPI runtime ends every rank when one rank dies or the job is cancelled: look for "
         "the first rank that failed.\n");
  write_message();
  // mpirun stops forwarding a rank's output once it has reaped the rank: give it a moment to
  // read the line (measured: without this pause about half of the lines were lost).
  struct timespec pause = {0, 200 * 1000 * 1000};
  ::nanosleep(&pause, nullptr);
  restore_previous();
  state.armed = false;
  errno = saved_errno;
  ::raise(sig);  // delivered with the previous action once this handler returns
}

}  // namespace

termination_guard::termination_guard(std::string_view segment_name, int rank, std::string_view host) noexcept {
  bool expected = false;
  if (!state.armed.compare_exchange_strong(expected, true)) return;
  active_ = true;
  try {
    const auto text = fmt::format("onecopy::mpi::share('{}'): rank {} on {}: ", segment_name, rank, host);
    const std::size_t n = std::min(text.size(), sizeof state.prefix - 1);
    std::memcpy(state.prefix, text.data(), n);
    state.prefix[n] = '\0';
  } catch (...) {
    std::strcpy(state.prefix, "onecopy::mpi::share: ");
  }
  state.step = "starting";
  state.file_count = 0;
  struct sigaction action {};
  action.sa_handler = on_termination;
  sigemptyset(&action.sa_mask);
  for (int s : guarded_signals) sigaddset(&action.sa_mask, s);
  for (int i = 0; i < 3; ++i) ::sigaction(guarded_signals[i], &action, &state.previous[i]);
}

termination_guard::~termination_guard() {
  if (!active_) return;
  // Block the signals while restoring, so the handler never runs half-way through.
  sigset_t block, old;
  sigemptyset(&block);
  for (int s : guarded_signals) sigaddset(&block, s);
  ::pthread_sigmask(SIG_BLOCK, &block, &old);
  if (state.armed) restore_previous();
  state.file_count = 0;
  state.armed = false;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void termination_guard::step(const char* text) noexcept {
  if (active_) state.step = text;
}

void termination_guard::watch(const std::vector<std::filesystem::path>& files) noexcept {
  if (!active_) return;
  int n = 0;
  state.file_count = 0;  // the handler never sees a half-copied entry
  for (const auto& f : files) {
    const std::string& s = f.native();
    if (n == max_files || s.size() >= PATH_MAX) break;
    std::memcpy(state.files[n], s.c_str(), s.size() + 1);
    ++n;
  }
  state.file_count = n;
}

void termination_guard::forget_files() noexcept {
  if (active_) state.file_count = 0;
}

}  // namespace onecopy::mpi::detail
