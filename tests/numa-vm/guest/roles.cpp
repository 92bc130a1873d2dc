// SPDX-License-Identifier: Apache-2.0
#include "roles.hpp"

#include <unistd.h>

#include <exception>

#include <fmt/format.h>

#include "guest_os.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "placement_checks.hpp"

namespace numa_vm {

int run_creator(const std::vector<std::string>& args) {
  if (args.size() != 5) {
    fmt::print(stderr, "usage: numa-vm-guest create DIR NAME PAGES PLACEMENT BYTES\n");
    return 2;
  }
  try {
    auto s = onecopy::store::at(args[0]);
    onecopy::create_options opts;
    opts.pages = onecopy::parse_page_size(args[2]);
    opts.strict = true;
    opts.where = onecopy::placement::parse(args[3]);
    const auto m = make_segment(s, args[1], std::stoull(args[4]), opts);
    fmt::print("  creator pid {} on node {}: published {} ({}), pages {}; exits now\n", ::getpid(),
               onecopy::sysfs::current_node(), args[1], m.report.where.to_string(),
               histogram_text(m.seg.info().histogram));
    return 0;
  } catch (const std::exception& e) {
    fmt::print("  creator: {}\n", e.what());
    return 1;
  }
}

int run_reader(const std::vector<std::string>& args) {
  if (args.size() != 4) {
    fmt::print(stderr, "usage: numa-vm-guest read DIR NAME NODE FRAMES_FILE\n");
    return 2;
  }
  try {
    const int node = std::stoi(args[2]);
    pin_to_node(node);
    const int running_on = onecopy::sysfs::current_node();
    onecopy::attach_options opts;
    opts.populate = true;
    opts.verify = true;  // reads every byte: throws on a checksum mismatch
    const auto seg = onecopy::store::at(args[0]).attach(args[1], opts);
    const auto live = seg.node_histogram();
    const auto mine = frames_of(seg.bytes());
    const auto theirs = read_frames(args[3]);
    std::size_t same = 0;
    for (std::size_t i = 0; i < mine.size() && i < theirs.size(); ++i) same += mine[i] != 0 && mine[i] == theirs[i];
    fmt::print("  reader pid {} on node {}: checksum ok, node_histogram() {}, {} of {} data frames "
               "identical to the creator side's\n", ::getpid(), running_on, histogram_text(live), same,
               mine.size());
    bool ok = true;
    auto fail = [&](const std::string& why) {
      fmt::print("  reader: {}\n", why);
      ok = false;
    };
    if (running_on != node) fail(fmt::format("runs on node {}, not on node {}", running_on, node));
    if (live != seg.info().histogram)
      fail(fmt::format("pages are at {}, the segment recorded {}", histogram_text(live),
                       histogram_text(seg.info().histogram)));
    if (same != mine.size() || mine.size() != theirs.size())
      fail(fmt::format("{} of {} frames differ: the reader got other pages", mine.size() - same, mine.size()));
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print("  reader: {}\n", e.what());
    return 1;
  }
}

}  // namespace numa_vm
