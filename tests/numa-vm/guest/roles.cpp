// SPDX-License-Identifier: Apache-2.0
#include "roles.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>

#include <fmt/format.h>

#include "gib_page_cases.hpp"
#include "guest_os.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "onecopy/units.hpp"
#include "placement_checks.hpp"

namespace numa_vm {

int run_creator(const std::vector<std::string>& args) {
  if (args.size() != 5 && args.size() != 6) {
    fmt::print(stderr, "usage: numa-vm-guest create DIR NAME PAGES PLACEMENT BYTES [NODE]\n");
    return 2;
  }
  try {
    if (args.size() == 6) pin_to_node(std::stoi(args[5]));
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
  if (args.size() != 4 && args.size() != 6) {
    fmt::print(stderr, "usage: numa-vm-guest read DIR NAME NODE FRAMES_FILE [SECONDS CONTROL_NODE]\n");
    return 2;
  }
  try {
    const int node = std::stoi(args[2]);
    const double seconds = args.size() == 6 ? std::stod(args[4]) : 0;
    std::vector<std::byte> control;
    // NUMA balancing never scans an address space made by exec in the first five minutes after
    // boot (every guest here): exec leaves mm->numa_next_scan at 0, jiffies start 300 s before
    // wrapping to 0 (INITIAL_JIFFIES), and the scanner waits while jiffies are "before" the next
    // scan. fork sets the parent's numa_next_scan to now + scan_delay and the child's address
    // space is a copy: read in a child.
    if (seconds > 0) {
      std::fflush(stdout);
      const pid_t child = ::fork();
      if (child < 0)
        throw std::runtime_error("fork of the reader (so that NUMA balancing scans it): " +
                                 onecopy::sys::errno_text(errno));
      if (child > 0) return wait_for_exit(child);
      pin_to_node(std::stoi(args[5]));
      control.assign(8 << 20, std::byte{1});  // first touch: on CONTROL_NODE
    }
    pin_to_node(node);
    const int running_on = onecopy::sysfs::current_node();
    onecopy::attach_options opts;
    opts.populate = true;
    opts.verify = true;  // reads every byte: throws on a checksum mismatch
    const auto seg = onecopy::store::at(args[0]).attach(args[1], opts);
    // Keep reading, long enough for automatic NUMA balancing to scan us (1 s delay, then every
    // second, two faults from the same node before it moves a page).
    int passes = 1;
    std::uint64_t sum = 0;
    for (const auto start = std::chrono::steady_clock::now();
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds; ++passes) {
      if (!seg.verify()) throw std::runtime_error("checksum mismatch while re-reading");
      for (std::size_t i = 0; i < control.size(); i += 4096) sum += static_cast<std::uint64_t>(control[i]);
    }
    if (!control.empty())
      fmt::print("  reader: control buffer ({} reads), first touched on node {}, is now at {}\n", sum / (control.size() / 4096),
                 args[5], histogram_text(nodes_of(control)));
    const auto live = seg.node_histogram();
    const auto mine = frames_of(seg.bytes());
    const auto theirs = read_frames(args[3]);
    std::size_t same = 0;
    for (std::size_t i = 0; i < mine.size() && i < theirs.size(); ++i) same += mine[i] != 0 && mine[i] == theirs[i];
    fmt::print("  reader pid {} on node {}: read {} time{}, checksum ok, node_histogram() {}, {} of {} "
               "data frames identical to the creator side's\n", ::getpid(), running_on, passes,
               passes == 1 ? "" : "s", histogram_text(live), same, mine.size());
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

int run_replica_reader(const std::vector<std::string>& args) {
  if (args.size() != 3) {
    fmt::print(stderr, "usage: numa-vm-guest read-replica DIR NAME NODE\n");
    return 2;
  }
  try {
    const int node = std::stoi(args[2]);
    pin_to_node(node);
    onecopy::attach_options opts;
    opts.verify = true;
    const auto seg = onecopy::store::at(args[0]).attach(args[1], opts);
    const auto live = seg.node_histogram();
    fmt::print("  replica reader pid {} on node {}: attached {}, checksum ok, pages {}\n", ::getpid(),
               onecopy::sysfs::current_node(), seg.name(), histogram_text(live));
    const std::string want = fmt::format("{}@node{}", args[1], node);
    bool ok = seg.name() == want;
    if (!ok) fmt::print("  replica reader: attached {}, expected the local replica {}\n", seg.name(), want);
    if (live.size() != 1 || live.front().node != node) {
      fmt::print("  replica reader: pages are at {}, expected all on node {}\n", histogram_text(live), node);
      ok = false;
    }
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print("  replica reader: {}\n", e.what());
    return 1;
  }
}

int run_gib_creator(const std::vector<std::string>& args) {
  if (args.size() != 2) {
    fmt::print(stderr, "usage: numa-vm-guest create-gib NAME SEED\n");
    return 2;
  }
  try {
    auto s = gib_store();
    auto d = s.create(args[0], onecopy::layout::bytes(onecopy::GiB), gib_pages_strict());
    if (const auto seed = std::stoull(args[1]); seed != 0) fill_pattern(d.bytes(), seed);
    const auto seg = std::move(d).publish();
    fmt::print("  creator pid {}: published {} ({} bytes)\n", ::getpid(), args[0], seg.info().file_size);
    return 0;
  } catch (const std::exception& e) {
    fmt::print("  creator: {}\n", e.what());
    return 1;
  }
}

int run_gib_reader(const std::vector<std::string>& args) {
  if (args.size() != 3) {
    fmt::print(stderr, "usage: numa-vm-guest read-gib NAME SEED FIRST_FRAME\n");
    return 2;
  }
  try {
    const auto seed = std::stoull(args[1]);
    const auto first_frame = std::stoull(args[2]);
    auto start = std::chrono::steady_clock::now();
    onecopy::attach_options opts;
    opts.verify = true;  // reads every byte: throws on a checksum mismatch
    const auto seg = gib_store().attach(args[0], opts);
    const double attach_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    start = std::chrono::steady_clock::now();
    const auto mismatch = first_pattern_mismatch(seg.bytes(), seed);
    const double scan_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // One 1 GiB page: 262144 consecutive 4 KiB frames from a 1 GiB-aligned one, the creator's.
    const auto frames = frames_of(seg.bytes());
    constexpr std::uint64_t frames_per_page = onecopy::GiB / 4096;
    std::size_t contiguous = 0;
    while (contiguous < frames.size() && frames[contiguous] == first_frame + contiguous) ++contiguous;
    fmt::print("  reader pid {}: attach + verify {:.2f} s, every byte checked in {:.2f} s, {} bytes, data frames "
               "{:#x}.. ({} of {} consecutive from the creator's first)\n", ::getpid(), attach_s, scan_s,
               seg.bytes().size(), frames.empty() ? 0 : frames.front(), contiguous, frames.size());
    bool ok = true;
    auto fail = [&](const std::string& why) {
      fmt::print("  reader: {}\n", why);
      ok = false;
    };
    if (seg.bytes().size() != onecopy::GiB) fail(fmt::format("{} data bytes, not 1 GiB", seg.bytes().size()));
    if (mismatch != seg.bytes().size()) fail(fmt::format("byte {} differs from the pattern", mismatch));
    if (first_frame % frames_per_page != 0) fail(fmt::format("frame {:#x} does not start a 1 GiB page", first_frame));
    if (contiguous != frames_per_page || frames.size() != frames_per_page)
      fail("the data is not the creator's one physical 1 GiB page");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print("  reader: {}\n", e.what());
    return 1;
  }
}

}  // namespace numa_vm
