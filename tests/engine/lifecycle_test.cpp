// SPDX-License-Identifier: Apache-2.0
// The segment lifecycle (create → fill → publish → attach → remove), run once per backing.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include "backings.hpp"
#include "onecopy/engine/checksum.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "pattern.hpp"

namespace onecopy {
namespace {

using test::fill_pattern;
using test::matches_pattern;

constexpr std::uint64_t segment_bytes = 24 * MiB;  // more than one 16 MiB checksum chunk

// smaps fields of the mapping that contains addr, in bytes.
std::uint64_t smaps_field(const void* addr, const std::string& key) {
  std::ifstream in("/proc/self/smaps");
  std::string line;
  bool inside = false;
  const auto target = reinterpret_cast<std::uintptr_t>(addr);
  while (std::getline(in, line)) {
    std::uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream words(line);
    if (std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') < line.find(' ') &&
        (words >> std::hex >> lo >> dash >> hi) && dash == '-') {
      inside = target >= lo && target < hi;
      continue;
    }
    if (inside && line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1)) * 1024;
  }
  return 0;
}

template <class Backing>
class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backing_ = std::make_unique<Backing>();
    if (auto why = backing_->skip_reason(); !why.empty()) GTEST_SKIP() << Backing::label << ": " << why;
  }
  store make_store() { return store::at(backing_->store_dir()); }
  segment put(store& s, const std::string& name, std::uint64_t seed, create_options opts = {}) {
    draft d = s.create(name, layout::bytes(segment_bytes), opts);
    fill_pattern(d.bytes(), seed, 0);
    return std::move(d).publish();
  }
  std::unique_ptr<Backing> backing_;
};

TYPED_TEST_SUITE(LifecycleTest, test::all_backings, test::backing_names);

TYPED_TEST(LifecycleTest, PublishedSegmentHoldsTheFilledBytes) {
  store s = this->make_store();
  segment seg = this->put(s, "weights", 7);
  EXPECT_EQ(seg.info().data_size, segment_bytes);
  EXPECT_TRUE(matches_pattern(seg.bytes(), 7));
  EXPECT_EQ(seg.info().checksum, segment_checksum(seg.bytes()));
  EXPECT_TRUE(seg.verify());

  segment again = s.attach("weights");
  EXPECT_NE(again.bytes().data(), seg.bytes().data());
  EXPECT_EQ(again.info().checksum, seg.info().checksum);
  EXPECT_TRUE(matches_pattern(again.bytes(), 7));
  EXPECT_EQ(again.info().creator_pid, ::getpid());
  EXPECT_FALSE(again.info().bundle);
  EXPECT_EQ(again.array().shape.size(), 1u);
  EXPECT_EQ(again.array().shape[0], segment_bytes);
}

TYPED_TEST(LifecycleTest, PageSizeIsTheOneTheKernelGave) {
  store s = this->make_store();
  segment seg = this->put(s, "pages", 1);
  EXPECT_EQ(seg.info().backing, TypeParam::kind);
  EXPECT_EQ(seg.info().page_size, TypeParam::page_size);
  // A reader that prefaults its mapping sees the same page size in its own smaps.
  segment reader = s.attach("pages", {.populate = true});
  const void* addr = reader.bytes().data();
  if constexpr (TypeParam::kind == backing_kind::hugetlbfs) {
    EXPECT_EQ(smaps_field(addr, "KernelPageSize"), 2 * MiB);
    EXPECT_EQ(seg.info().huge_bytes, seg.info().file_size);
  } else if constexpr (TypeParam::kind == backing_kind::thp) {
    EXPECT_GT(smaps_field(addr, "ShmemPmdMapped"), 0u);
    // within_size: every whole 2 MiB of the file is a huge page; the 4 KiB tail is not.
    EXPECT_EQ(seg.info().huge_bytes, seg.info().file_size / (2 * MiB) * (2 * MiB));
  } else {
    EXPECT_EQ(smaps_field(addr, "KernelPageSize"), 4 * KiB);
    EXPECT_EQ(seg.info().huge_bytes, 0u);
  }
}

TYPED_TEST(LifecycleTest, DataStartsOnAPageAndTheHeaderEndsTheFile) {
  // Format v2: an array of exactly one 2 MiB page starts the file, page-aligned, and the
  // header region follows it (on hugetlbfs, in the file's last page).
  store s = this->make_store();
  draft d = s.create("exact", layout::bytes(2 * MiB));
  fill_pattern(d.bytes(), 11, 0);
  segment seg = std::move(d).publish();
  EXPECT_EQ(seg.info().data_offset, 0u);
  EXPECT_EQ(seg.info().region_size, 8 * KiB);  // one table entry and the fixed header
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(seg.bytes().data()) % TypeParam::page_size, 0u);
  const std::uint64_t expected = TypeParam::kind == backing_kind::hugetlbfs ? 4 * MiB : 2 * MiB + 8 * KiB;
  EXPECT_EQ(seg.info().file_size, expected);
  EXPECT_EQ(std::filesystem::file_size(seg.path()), expected);
  std::ifstream in(seg.path(), std::ios::binary);
  in.seekg(static_cast<std::streamoff>(expected - 4096));
  char magic[8] = {};
  in.read(magic, sizeof magic);
  EXPECT_EQ(std::string(magic, 8), std::string("ONECOPY\0", 8));
  segment reader = s.attach("exact", {.populate = true});
  EXPECT_TRUE(matches_pattern(reader.bytes(), 11));
  EXPECT_TRUE(reader.verify());
  if constexpr (TypeParam::kind == backing_kind::thp) {
    // The whole array is one huge page (v1's header before the data split it over two).
    EXPECT_GE(smaps_field(reader.bytes().data(), "ShmemPmdMapped"), 2 * MiB);
  }
}

// A fill from a file that covers part of the data, off page boundaries. On hugetlbfs the draft's
// pages are not populated before it: its preads fault them in, then populate maps the rest.
// Either way the bytes no fill wrote are zeros, the checksum taken while copying is the data's,
// and every page of the file is mapped and recorded.
TYPED_TEST(LifecycleTest, AFillFromAFileLeavesZerosAroundItAndRecordsEveryPage) {
  test::temp_dir files;
  const auto source = files.path() / "source.bin";
  std::vector<std::byte> written(8 * MiB + 4 * KiB + 24);
  fill_pattern(written, 5, 0);
  std::ofstream(source, std::ios::binary)
      .write(reinterpret_cast<const char*>(written.data()), static_cast<std::streamsize>(written.size()));
  store s = this->make_store();
  draft d = s.create("filled", layout::bytes(segment_bytes));
  const std::uint64_t at = 3 * MiB + 512;
  d.read_from_file(source, 0, at, written.size());
  segment seg = std::move(d).publish();

  const auto data = seg.bytes();
  const auto zero = [](std::byte b) { return b == std::byte{0}; };
  EXPECT_TRUE(std::ranges::all_of(data.first(at), zero));
  EXPECT_TRUE(std::ranges::equal(data.subspan(at, written.size()), written));
  EXPECT_TRUE(std::ranges::all_of(data.subspan(at + written.size()), zero));
  EXPECT_EQ(seg.info().checksum, segment_checksum(data));
  EXPECT_TRUE(seg.verify());
  std::uint64_t recorded = 0;
  for (const auto& n : seg.info().histogram) recorded += n.pages;
  const std::uint64_t page = seg.info().page_size;
  EXPECT_EQ(recorded, (seg.info().file_size + page - 1) / page);
  if constexpr (TypeParam::kind == backing_kind::hugetlbfs) {
    EXPECT_EQ(seg.info().huge_bytes, seg.info().file_size);
    // The creator's own mapping holds every page of the file, the header's included.
    const void* addr = data.data();
    EXPECT_EQ(smaps_field(addr, "Private_Hugetlb") + smaps_field(addr, "Shared_Hugetlb"), seg.info().file_size);
  }
}

TYPED_TEST(LifecycleTest, PiecesWrittenInOneCallAreCheckedAsTheyLand) {
  // A bundle's tensors from memory, as Python's put writes them: out of order, with gaps (zeros)
  // between them, one of them crossing a 16 MiB checksum chunk.
  std::vector<std::byte> a(5 * MiB + 40), b(12 * MiB + 8), c(100);
  fill_pattern(a, 1, 0);
  fill_pattern(b, 2, 0);
  fill_pattern(c, 3, 0);
  const std::vector<draft::piece> pieces = {{9 * MiB, b}, {64, a}, {segment_bytes - c.size(), c}};
  store s = this->make_store();
  draft d = s.create("pieces", layout::bytes(segment_bytes));
  d.write(pieces);
  segment seg = std::move(d).publish();

  const auto data = seg.bytes();
  std::vector<std::byte> expected(segment_bytes);
  for (const auto& p : pieces) std::ranges::copy(p.bytes, expected.begin() + static_cast<std::ptrdiff_t>(p.data_offset));
  EXPECT_TRUE(std::ranges::equal(data, expected));
  EXPECT_EQ(seg.info().checksum, segment_checksum(data));
  EXPECT_TRUE(seg.verify());

  // A second write makes publish checksum the region again: still the data's checksum.
  draft twice = s.create("twice", layout::bytes(segment_bytes));
  twice.write(pieces);
  twice.write(0, c);
  std::ranges::copy(c, expected.begin());
  segment seg2 = std::move(twice).publish();
  EXPECT_TRUE(std::ranges::equal(seg2.bytes(), expected));
  EXPECT_EQ(seg2.info().checksum, segment_checksum(expected));
}

TYPED_TEST(LifecycleTest, OverlappingOrOversizedPiecesAreUsageErrors) {
  std::vector<std::byte> bytes(2 * MiB);
  store s = this->make_store();
  draft d = s.create("bad-pieces", layout::bytes(segment_bytes));
  const std::vector<draft::piece> overlap = {{4 * MiB, bytes}, {5 * MiB, bytes}};
  try {
    d.write(overlap);
    ADD_FAILURE() << "overlapping pieces were written";
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("data offsets 4194304 and 5242880 of draft 'bad-pieces' overlap"),
              std::string::npos) << e.what();
  }
  const std::vector<draft::piece> beyond = {{segment_bytes - MiB, bytes}};
  EXPECT_THROW(d.write(beyond), usage_error);
  // Nothing was written: the draft still publishes its zeros.
  segment seg = std::move(d).publish();
  EXPECT_TRUE(std::ranges::all_of(seg.bytes(), [](std::byte x) { return x == std::byte{0}; }));
  EXPECT_TRUE(seg.verify());
}

TYPED_TEST(LifecycleTest, PublishedFileIsReadOnlyForEveryone) {
  store s = this->make_store();
  segment seg = this->put(s, "sealed", 3);
  struct stat st {};
  ASSERT_EQ(::stat(seg.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0444u);
  EXPECT_EQ(::stat(this->backing_->store_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TYPED_TEST(LifecycleTest, WritingThroughAReaderMappingFaults) {
  store s = this->make_store();
  (void)this->put(s, "ro", 4);
  segment reader = s.attach("ro");
  auto* p = const_cast<std::byte*>(reader.bytes().data());
  EXPECT_EXIT(
      {
        ::signal(SIGSEGV, SIG_DFL);  // the kernel decides, not a sanitizer's handler
        *reinterpret_cast<volatile std::byte*>(p) = std::byte{1};
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV), "");
}

TYPED_TEST(LifecycleTest, DraftDroppedWithoutPublishLeavesNothing) {
  store s = this->make_store();
  {
    draft d = s.create("abandoned", layout::bytes(segment_bytes));
    fill_pattern(d.bytes(), 5, 0);
  }
  for (const auto& e : std::filesystem::directory_iterator(this->backing_->store_dir()))
    EXPECT_EQ(e.path().filename(), ".locks") << "left behind: " << e.path();
  EXPECT_FALSE(s.exists("abandoned"));
  EXPECT_THROW((void)s.attach("abandoned"), os_error);
  // The name is free again.
  EXPECT_NO_THROW((void)this->put(s, "abandoned", 5));
}

TYPED_TEST(LifecycleTest, RemoveKeepsExistingMappingsValid) {
  store s = this->make_store();
  segment reader = this->put(s, "gone", 9);
  s.remove("gone");
  EXPECT_FALSE(s.exists("gone"));
  EXPECT_TRUE(matches_pattern(reader.bytes(), 9));
  EXPECT_TRUE(reader.verify());
  try {
    (void)s.attach("gone");
    FAIL() << "attach after remove succeeded";
  } catch (const os_error& e) {
    EXPECT_EQ(e.err(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("gone"), std::string::npos) << e.what();
  }
  EXPECT_THROW(s.remove("gone"), os_error);
}

TYPED_TEST(LifecycleTest, ListShowsEverySegmentWithItsPages) {
  store s = this->make_store();
  (void)this->put(s, "b", 1);
  segment held = this->put(s, "a", 2);
  const auto entries = s.list();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "a");
  EXPECT_EQ(entries[1].name, "b");
  EXPECT_EQ(entries[0].info.data_size, segment_bytes);
  EXPECT_EQ(entries[0].info.page_size, TypeParam::page_size);
  EXPECT_NE(std::find(entries[0].mapped_by.begin(), entries[0].mapped_by.end(), ::getpid()),
            entries[0].mapped_by.end());
}

TYPED_TEST(LifecycleTest, ReplacePublishesAtomicallyAndOldReadersKeepOldBytes) {
  store s = this->make_store();
  segment old_reader = this->put(s, "model", 1);
  segment fresh = this->put(s, "model", 2, {.replace = true});
  EXPECT_TRUE(matches_pattern(old_reader.bytes(), 1));
  EXPECT_TRUE(matches_pattern(s.attach("model").bytes(), 2));
  EXPECT_EQ(s.list().size(), 1u);
}

TYPED_TEST(LifecycleTest, BundleTensorsAreViewsByName) {
  store s = this->make_store();
  const auto l = layout::bundle({{"embed.weight", dtype::f32, {3, 4}},
                                 {"ids", dtype::i64, {5}},
                                 {"empty", dtype::u8, {0}},
                                 {"scalar", dtype::f64, {}}});
  draft d = s.create("bundle", l);
  auto w = d.tensor_bytes("embed.weight");
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<std::byte>(i);
  const double pi = 3.25;
  std::memcpy(d.tensor_bytes("scalar").data(), &pi, sizeof pi);
  segment seg = std::move(d).publish();

  segment r = s.attach("bundle");
  EXPECT_TRUE(r.info().bundle);
  ASSERT_EQ(r.tensors().size(), 4u);
  const tensor_view t = r.tensor("embed.weight");
  EXPECT_EQ(t.type, dtype::f32);
  ASSERT_EQ(t.shape.size(), 2u);
  EXPECT_EQ(t.shape[0], 3u);
  EXPECT_EQ(t.shape[1], 4u);
  EXPECT_EQ(t.strides(), (std::vector<std::int64_t>{16, 4}));
  EXPECT_EQ(t.bytes.size(), 48u);
  EXPECT_EQ(t.bytes[47], std::byte{47});
  EXPECT_EQ(r.tensor("ids").bytes.size(), 40u);
  EXPECT_EQ(r.tensor("empty").bytes.size(), 0u);
  EXPECT_EQ(r.tensor("scalar").as<double>()[0], 3.25);
  EXPECT_EQ(r.tensor("scalar").element_count(), 1u);
  for (const auto& v : r.tensors())
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v.bytes.data()) % 64, 0u) << v.name;
  EXPECT_THROW((void)r.tensor("missing"), usage_error);
  EXPECT_THROW((void)r.array(), usage_error);
  EXPECT_THROW((void)r.tensor("ids").as<float>(), usage_error);
}

TYPED_TEST(LifecycleTest, GcRemovesWhenUnusedSegmentsOnlyAfterTheLastReader) {
  store s = this->make_store();
  {
    segment reader = this->put(s, "scratch", 1, {.remove_when_unused = true});
    (void)this->put(s, "kept", 2);
    const auto report = s.gc();
    EXPECT_TRUE(report.removed_unused_segments.empty());
    EXPECT_TRUE(s.exists("scratch"));
  }
  const auto report = s.gc();
  EXPECT_EQ(report.removed_unused_segments, std::vector<std::string>{"scratch"});
  EXPECT_FALSE(s.exists("scratch"));
  EXPECT_TRUE(s.exists("kept"));
}

TYPED_TEST(LifecycleTest, OpenOrCreateFillsOnceThenAttaches) {
  store s = this->make_store();
  int fills = 0;
  auto fill = [&](draft& d) {
    ++fills;
    fill_pattern(d.bytes(), 11, 0);
  };
  segment first = s.open_or_create("table", layout::bytes(segment_bytes), {}, fill);
  segment second = s.open_or_create("table", layout::bytes(segment_bytes), {}, fill);
  EXPECT_EQ(fills, 1);
  EXPECT_TRUE(matches_pattern(second.bytes(), 11));
}

TYPED_TEST(LifecycleTest, BindAndInterleaveGoThroughMbindOnEveryMachine) {
  store s = this->make_store();
  segment bound = this->put(s, "bound", 1, {.where = placement::bind_to({0})});
  EXPECT_EQ(bound.info().where, placement::bind_to({0}));
  ASSERT_EQ(bound.info().histogram.size(), 1u);
  EXPECT_EQ(bound.info().histogram[0].node, 0);
  EXPECT_EQ(bound.info().histogram[0].pages, (bound.info().file_size + TypeParam::page_size - 1) / TypeParam::page_size);
  EXPECT_EQ(bound.node_histogram(), bound.info().histogram);

  segment spread = this->put(s, "spread", 2, {.where = placement::interleave_over()});
  EXPECT_EQ(spread.info().where.policy, numa_policy::interleave);
  EXPECT_FALSE(spread.info().where.nodes.empty());
  std::uint64_t pages = 0;
  for (const auto& h : spread.info().histogram) pages += h.pages;
  EXPECT_EQ(pages, (spread.info().file_size + TypeParam::page_size - 1) / TypeParam::page_size);

  try {
    (void)s.create("nowhere", layout::bytes(MiB), {.where = placement::bind_to({999})});
    FAIL() << "binding to node 999 succeeded";
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("node 999"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(s.exists("nowhere"));
}

}  // namespace
}  // namespace onecopy
