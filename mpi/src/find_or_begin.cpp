// SPDX-License-Identifier: Apache-2.0
#include "find_or_begin.hpp"

#include <algorithm>
#include <cerrno>
#include <thread>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/units.hpp"

namespace onecopy::mpi::detail {

found_or_draft find_or_begin(store& s, std::string_view name, const layout& l,
                             const create_options& opts, std::chrono::milliseconds wait) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + wait;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    if (s.exists(name)) {
      try {
        return {s.attach(name), std::nullopt};
      } catch (const os_error& e) {
        if (e.err() != ENOENT) throw;  // removed between the look and the open: look again
      }
    }
    try {
      return {std::nullopt, s.create(name, l, opts)};
    } catch (const os_error& e) {
      if (e.err() != EEXIST && e.err() != EBUSY) throw;
      if (e.err() == EEXIST) continue;  // published while we looked
    }
    if (clock::now() >= deadline)
      throw timeout_error(fmt::format("segment '{}': another process has been creating it for over "
                                      "{} ms", name, wait.count()));
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

std::string layout_mismatch(const segment& seg, const layout& l) {
  const auto& info = seg.info();
  if (info.data_size != l.data_size())
    return fmt::format("it holds {} of data, share asked for {}", format_bytes(info.data_size),
                       format_bytes(l.data_size()));
  const auto have = seg.tensors();
  const auto& want = l.tensors();
  if (have.size() != want.size())
    return fmt::format("it holds {} tensors, share asked for {}", have.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const auto& h = have[i];
    const auto& w = want[i];
    if (h.name != w.name || h.type != w.type || !std::ranges::equal(h.shape, w.shape))
      return fmt::format("its tensor {} is '{}' {} [{}], share asked for '{}' {} [{}]", i, h.name,
                         dtype_name(h.type), fmt::join(h.shape, ","), w.name, dtype_name(w.type),
                         fmt::join(w.shape, ","));
  }
  return {};
}

}  // namespace onecopy::mpi::detail
