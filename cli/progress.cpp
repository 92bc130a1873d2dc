// SPDX-License-Identifier: Apache-2.0
#include "progress.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "describe.hpp"

namespace onecopy::cli {
namespace {

using clock = std::chrono::steady_clock;

// The engine calls one at a time (fill_progress), so this needs no lock of its own.
class progress_line {
 public:
  explicit progress_line(std::string what) : what_(std::move(what)) {}
  progress_line(const progress_line&) = delete;
  progress_line& operator=(const progress_line&) = delete;
  // A fill that failed half-way: its error is printed on a clean line.
  ~progress_line() { erase(); }

  void operator()(std::uint64_t done, std::uint64_t total) {
    const auto now = clock::now();
    if (!first_) first_ = {now, done};  // the rate counts from the first piece on
    const double elapsed = std::chrono::duration<double>(now - first_->at).count();
    if (done >= total) {
      erase();  // the result follows on a clean line
      return;
    }
    if (!drawn_ && total < progress_after_bytes && elapsed < progress_after_seconds) return;
    if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    const std::string rate = elapsed > 0 ? ", " + rate_text(done - first_->done, elapsed) : "";
    fmt::print(stderr, "\r{}: {} of {} ({}%){}\033[K", what_, format_bytes(done), format_bytes(total),
               done * 100 / total, rate);
    std::fflush(stderr);
    drawn_ = true;
    last_draw_ = now;
  }

 private:
  void erase() {
    if (drawn_) std::fputs("\r\033[K", stderr);
    drawn_ = false;
  }

  struct mark {
    clock::time_point at;
    std::uint64_t done;
  };
  std::string what_;
  std::optional<mark> first_;
  clock::time_point last_draw_;
  bool drawn_ = false;
};

}  // namespace

fill_progress terminal_progress(const console& out, std::string what) {
  if (out.quiet() || ::isatty(STDERR_FILENO) != 1) return {};
  // std::function copies its target: share one line between the copies.
  auto line = std::make_shared<progress_line>(std::move(what));
  return [line](std::uint64_t done, std::uint64_t total) { (*line)(done, total); };
}

}  // namespace onecopy::cli
