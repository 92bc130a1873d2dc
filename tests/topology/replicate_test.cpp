// SPDX-License-Identifier: Apache-2.0
// The engine's replicated segments on this (one-node) machine: one file per node, NAME@nodeN,
// bound to its node; attach picks the caller's node's replica, attach_options::node overrides;
// list marks replicas; remove, replace and gc treat them as one segment. Multi-node placement
// runs in the QEMU guest (tests/numa-vm).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "onecopy/units.hpp"

namespace onecopy {
namespace {

class ReplicaTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/dev/shm/onecopy-replica-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    node_ = sysfs::current_node();
    others_ = sysfs::memory_nodes();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Files in the store (not hidden ones).
  std::set<std::string> files() const {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      const auto f = e.path().filename().string();
      if (f.front() != '.') out.insert(f);
    }
    return out;
  }
  std::set<std::string> temp_files() const {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      const auto f = e.path().filename().string();
      if (f.ends_with(".tmp")) out.insert(f);
    }
    return out;
  }
  create_options replicated(std::vector<int> nodes) const {
    create_options o;
    o.replicate_on = std::move(nodes);
    return o;
  }
  segment make(store& s, const std::string& name, std::vector<int> nodes, std::uint64_t size = 3 * MiB + 5) {
    draft d = s.create(name, layout::bytes(size), replicated(std::move(nodes)));
    auto bytes = d.bytes();
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(i * 7 + 1);
    return std::move(d).publish();
  }

  std::filesystem::path dir_;
  int node_ = 0;
  std::vector<int> others_;
};

TEST_F(ReplicaTest, OneFilePerNodeBoundToIt) {
  store s = store::at(dir_);
  const segment seg = make(s, "w", {node_});
  EXPECT_EQ(files(), std::set<std::string>{fmt::format("w@node{}", node_)});
  EXPECT_EQ(seg.name(), fmt::format("w@node{}", node_));
  EXPECT_EQ(seg.info().where, placement::bind_to({node_}));
  ASSERT_EQ(seg.info().histogram.size(), 1u);
  EXPECT_EQ(seg.info().histogram[0].node, node_);
  EXPECT_TRUE(s.exists("w"));
  EXPECT_TRUE(temp_files().empty());
}

TEST_F(ReplicaTest, AttachPicksTheCallersNodeAndTheOverride) {
  store s = store::at(dir_);
  { const segment created = make(s, "w", {node_}); }
  const segment seg = s.attach("w");
  EXPECT_EQ(seg.name(), fmt::format("w@node{}", node_));
  EXPECT_TRUE(seg.verify());
  EXPECT_EQ(seg.bytes()[1000], static_cast<std::byte>((1000 * 7 + 1) & 0xff));
  attach_options here;
  here.node = node_;
  EXPECT_EQ(s.attach("w", here).name(), seg.name());
  attach_options missing;
  missing.node = 1000;  // no replica there: an error, never another node's replica
  try {
    (void)s.attach("w", missing);
    ADD_FAILURE() << "attached a replica of node 1000";
  } catch (const os_error& e) {
    EXPECT_EQ(e.err(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("no replica on node 1000"), std::string::npos) << e.what();
  }
}

TEST_F(ReplicaTest, ListMarksReplicasAndRemoveTakesThemAll) {
  store s = store::at(dir_);
  { const segment a = make(s, "w", {node_}); }
  draft plain = s.create("plain", layout::bytes(4096));
  { const segment b = std::move(plain).publish(); }
  const auto entries = s.list();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "plain");
  EXPECT_EQ(entries[0].replica_node, -1);
  EXPECT_EQ(entries[0].replica_of, "");
  EXPECT_EQ(entries[1].name, fmt::format("w@node{}", node_));
  EXPECT_EQ(entries[1].replica_of, "w");
  EXPECT_EQ(entries[1].replica_node, node_);
  s.remove("w");
  EXPECT_FALSE(s.exists("w"));
  EXPECT_EQ(files(), std::set<std::string>{"plain"});
  EXPECT_THROW(s.remove("w"), os_error);
}

TEST_F(ReplicaTest, NameIsTakenByReplicasAndReplaceSwapsForms) {
  store s = store::at(dir_);
  { const segment a = make(s, "w", {node_}); }
  EXPECT_THROW((void)s.create("w", layout::bytes(10)), os_error);            // EEXIST
  EXPECT_THROW((void)s.create("w", layout::bytes(10), replicated({node_})), os_error);
  create_options single;
  single.replace = true;
  { const segment b = s.create("w", layout::bytes(10), single).publish(); }
  EXPECT_EQ(files(), std::set<std::string>{"w"});
  auto again = replicated({node_});
  again.replace = true;
  { const segment c = s.create("w", layout::bytes(20), again).publish(); }
  EXPECT_EQ(files(), std::set<std::string>{fmt::format("w@node{}", node_)});
  EXPECT_EQ(s.attach("w").info().data_size, 20u);
}

TEST_F(ReplicaTest, BadReplicaRequestsAreUsageErrors) {
  store s = store::at(dir_);
  EXPECT_THROW((void)s.create("w", layout::bytes(10), replicated({1000})), usage_error);
  EXPECT_THROW((void)s.create("w", layout::bytes(10), replicated({node_, node_})), usage_error);
  auto both = replicated({node_});
  both.where = placement::interleave_over();
  EXPECT_THROW((void)s.create("w", layout::bytes(10), both), usage_error);
  EXPECT_TRUE(files().empty());
  EXPECT_TRUE(temp_files().empty());
}

TEST_F(ReplicaTest, UnpublishedReplicasLeaveNothing) {
  store s = store::at(dir_);
  {
    draft d = s.create("w", layout::bytes(MiB), replicated({node_}));
    EXPECT_EQ(temp_files().size(), 1u);
  }
  EXPECT_TRUE(temp_files().empty());
  EXPECT_TRUE(files().empty());
  EXPECT_FALSE(s.exists("w"));
}

TEST_F(ReplicaTest, OrphanReplicaTempFilesAreCleanedUp) {
  store s = store::at(dir_);
  // A creator that died (no lock held) left a replica's temp file.
  const auto orphan = dir_ / fmt::format(".w@node{}.999999999.tmp", node_);
  { sys::unique_fd fd = sys::open(orphan, O_CREAT | O_WRONLY, 0600); }
  const auto report = s.gc();
  EXPECT_EQ(report.removed_temp_files, std::vector<std::filesystem::path>{orphan});
  // A creator that dies leaves its lock file too (publish, rm and a dropped draft remove it):
  // that is how the next creator knows to look for its temp files.
  std::filesystem::create_directories(dir_ / ".locks");
  { sys::unique_fd fd = sys::open(dir_ / ".locks" / "w.lock", O_CREAT | O_WRONLY, 0600); }
  { sys::unique_fd fd = sys::open(orphan, O_CREAT | O_WRONLY, 0600); }
  { const segment a = make(s, "w", {node_}); }  // create cleans them too
  EXPECT_TRUE(temp_files().empty());
}

TEST_F(ReplicaTest, OpenOrCreateReplicates) {
  store s = store::at(dir_);
  int fills = 0;
  const auto fill = [&](draft& d) {
    ++fills;
    std::fill(d.bytes().begin(), d.bytes().end(), std::byte{42});
  };
  const segment a = s.open_or_create("w", layout::bytes(MiB), replicated({node_}), fill);
  const segment b = s.open_or_create("w", layout::bytes(MiB), replicated({node_}), fill);
  EXPECT_EQ(fills, 1);
  EXPECT_EQ(b.name(), fmt::format("w@node{}", node_));
  EXPECT_EQ(b.bytes()[MiB - 1], std::byte{42});
}

}  // namespace
}  // namespace onecopy
