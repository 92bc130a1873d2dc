// SPDX-License-Identifier: Apache-2.0
// Segment format v2 (and v1, still read): every header and table field is validated against
// the file before use; a malformed file is an error naming the field, never a crash.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>

#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/units.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

class SegmentFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    s_ = std::make_unique<store>(store::at(dir_.path() / "store"));
    const auto l = layout::bundle({{"alpha", dtype::f32, {4, 4}}, {"bravo", dtype::i32, {8}}});
    create_options opts;
    opts.metadata = R"({"format":"pt"})";
    draft d = s_->create("good", l, opts);
    for (std::size_t i = 0; i < d.bytes().size(); ++i) d.bytes()[i] = static_cast<std::byte>(i * 7);
    segment seg = std::move(d).publish();
    std::ifstream in(seg.path(), std::ios::binary);
    good_.assign(std::istreambuf_iterator<char>(in), {});
    region_ = seg.info().region_size;
    region_start_ = good_.size() - region_;
    header_ = good_.size() - segment_header_size;
  }

  // Writes bytes as segment "bad" and returns the error attaching it gives.
  std::string attach_error(const std::string& bytes, attach_options opts = {}) {
    const auto path = dir_.path() / "store" / "bad";
    ::unlink(path.c_str());
    {
      std::ofstream out(path, std::ios::binary);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    ::chmod(path.c_str(), 0444);
    try {
      (void)s_->attach("bad", opts);
    } catch (const format_error& e) {
      return e.what();
    }
    return "(attached without error)";
  }

  template <class T>
  std::string with(std::size_t offset, T value) const {
    std::string b = good_;
    std::memcpy(b.data() + offset, &value, sizeof value);  // x86-64: little-endian like the format
    return b;
  }

  test::temp_dir dir_;
  std::unique_ptr<store> s_;
  std::string good_;
  std::size_t region_ = 0;        // v2: the header region is the file's last region_ bytes,
  std::size_t region_start_ = 0;  // starting with the tensor table,
  std::size_t header_ = 0;        // and ending with the fixed header
};

TEST_F(SegmentFormatTest, TheUntouchedCopyAttaches) {
  EXPECT_EQ(attach_error(good_), "(attached without error)");
  segment seg = s_->attach("good");
  EXPECT_EQ(seg.info().metadata, R"({"format":"pt"})");
  EXPECT_EQ(seg.info().version, 2u);
  EXPECT_EQ(seg.info().data_offset, 0u);  // v2: the data starts the file
  EXPECT_EQ(seg.info().region_size, region_);
  // The fixed header is the file's last 4 KiB.
  EXPECT_EQ(good_.compare(header_, 8, std::string("ONECOPY\0", 8)), 0);
}

struct mutation {
  const char* what;
  std::size_t offset;  // from the fixed header's start, or (table) from the region's
  std::uint64_t value;
  int width;  // bytes written
  const char* field;
  bool in_table = false;
};

TEST_F(SegmentFormatTest, EveryCorruptedFieldIsNamed) {
  const std::uint64_t size = good_.size();
  const mutation cases[] = {
      {"magic", 0, 0x58, 1, "magic"},
      {"version 3", 8, 3, 4, "version"},
      {"header size", 12, 8192, 4, "header_size"},
      {"file size off by one", 16, size + 1, 8, "file_size"},
      {"data offset", 24, 4096, 8, "data_offset"},
      {"data size into the header", 32, size - 4096, 8, "data_size"},
      {"data size huge", 32, ~0ull - 100, 8, "data_size"},
      {"no tensors", 40, 0, 4, "tensor_count"},
      {"2^30 tensors", 40, 1u << 30, 4, "tensor_count"},
      {"unknown flag", 44, 0x81, 4, "flags"},
      {"companion flag in a data file", 44, 0x5, 4, "flags"},
      {"table past the region", 48, 1u << 20, 8, "table_offset"},
      {"table size", 56, 100, 8, "table_size"},
      {"metadata past the region", 72, ~0ull / 2, 8, "metadata_offset"},
      {"checksum algorithm", 80, 9, 4, "checksum_algorithm"},
      {"chunk size", 84, 20, 4, "checksum_chunk_log2"},
      {"checksum value", 88, 0x1234, 8, "header_checksum"},
      {"page size", 96, 12345, 8, "page_size"},
      {"huge bytes", 104, ~0ull, 8, "huge_bytes"},
      {"backing", 112, 9, 4, "backing"},
      {"policy", 116, 7, 4, "policy"},
      {"histogram count", 248, 65, 4, "histogram_count"},
      {"histogram node", 256, 5000, 4, "histogram"},
      {"asked policy", 1640, 99, 4, "asked_policy"},
      {"creator pid", 1280, 77, 4, "header_checksum"},
      {"region size unaligned", 1360, 12345, 8, "region_size"},
      {"region size past the file", 1360, 1ull << 40, 8, "region_size"},
      {"region size too small", 1360, 0, 8, "region_size"},
      {"reserved byte", 2000, 1, 1, "header_checksum"},
      {"tensor dtype", 0, 999, 2, "tensor[0].dtype", true},
      {"tensor rank", 2, 17, 2, "tensor[0].rank", true},
      {"tensor name length", 4, 300, 2, "tensor[0].name_len", true},
      {"tensor without name", 4, 0, 2, "tensor[0].name", true},
      {"tensor offset unaligned", 8, 1, 8, "tensor[0] 'alpha'.offset", true},
      {"tensor offset past data", 8, 1ull << 40, 8, "tensor[0] 'alpha'.offset", true},
      {"tensor size", 16, 65, 8, "tensor[0] 'alpha'.size", true},
      {"tensor dims", 24, 5, 8, "tensor[0] 'alpha'.size", true},
      {"overlapping tensors", 512 + 8, 0, 8, "overlaps tensor 'alpha'", true},
      {"tensor name byte", 152, 'A', 1, "header_checksum", true},
      {"padding byte", 2048, 1, 1, "header_checksum", true},
  };
  for (const auto& c : cases) {
    std::string bytes = good_;
    std::memcpy(bytes.data() + (c.in_table ? region_start_ : header_) + c.offset, &c.value,
                static_cast<std::size_t>(c.width));
    const std::string error = attach_error(bytes);
    EXPECT_NE(error.find(c.field), std::string::npos) << c.what << " → " << error;
    EXPECT_NE(error.find("store/bad"), std::string::npos) << c.what << " → " << error;
  }
}

TEST_F(SegmentFormatTest, HostNameMustBeTerminated) {
  std::string bytes = good_;
  std::memset(bytes.data() + header_ + 1296, 'h', 64);
  EXPECT_NE(attach_error(bytes).find("creator_host"), std::string::npos);
}

TEST_F(SegmentFormatTest, DuplicateTensorNamesAreRejected) {
  std::string bytes = good_;
  // Give tensor 1 tensor 0's name ("alpha", 5 bytes).
  std::memcpy(bytes.data() + region_start_ + 512 + 4, bytes.data() + region_start_ + 4, 2);
  std::memcpy(bytes.data() + region_start_ + 512 + 152, "alpha", 5);
  EXPECT_NE(attach_error(bytes).find("duplicate name 'alpha'"), std::string::npos) << attach_error(bytes);
}

TEST_F(SegmentFormatTest, TruncatedFilesAreRejectedBeforeAnyRead) {
  // Cut at the end, the header is gone: nothing at either end says "segment".
  const std::string tail_cut = attach_error(good_.substr(0, good_.size() - 4096));
  EXPECT_NE(tail_cut.find("store/bad: magic: no onecopy segment header at its end (v2) or start (v1)"), std::string::npos)
      << tail_cut;
  // Cut at the start, the header says how long the file was.
  EXPECT_NE(attach_error(good_.substr(4096)).find("file_size"), std::string::npos);
  EXPECT_NE(attach_error(good_.substr(0, 100)).find("file size: 100 bytes"), std::string::npos);
  EXPECT_NE(attach_error(std::string()).find("file size: 0 bytes"), std::string::npos);
}

TEST_F(SegmentFormatTest, CorruptedDataFailsVerification) {
  std::string bytes = good_;
  bytes[5] = static_cast<char>(bytes[5] ^ 1);  // v2: the data starts the file
  EXPECT_EQ(attach_error(bytes), "(attached without error)");  // lazy attach does not read data
  EXPECT_NE(attach_error(bytes, {.verify = true}).find("checksum"), std::string::npos);
  segment seg = s_->attach("bad");
  EXPECT_FALSE(seg.verify());
}

// Segments published by onecopy before format v2 (kept as the v1 engine wrote them:
// tests/engine/fixtures, from `onecopy put` of a safetensors file and of a .npy file).
class SegmentV1Test : public SegmentFormatTest {
 protected:
  static std::string fixture(const char* name) {
    std::ifstream in(std::filesystem::path(ENGINE_FIXTURES) / name, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
};

TEST_F(SegmentV1Test, OldSegmentsAreStillRead) {
  const std::string bundle = fixture("v1_bundle.segment");
  ASSERT_EQ(bundle.size(), 12288u);
  EXPECT_EQ(attach_error(bundle, {.verify = true}), "(attached without error)");
  segment seg = s_->attach("bad");
  EXPECT_EQ(seg.info().version, 1u);
  EXPECT_EQ(seg.info().data_offset, 8192u);
  EXPECT_TRUE(seg.info().metadata.starts_with(R"({"format":"pt",)")) << seg.info().metadata;
  EXPECT_TRUE(seg.verify());
  const auto alpha = seg.tensor("alpha");
  EXPECT_EQ(std::vector<std::uint64_t>(alpha.shape.begin(), alpha.shape.end()), (std::vector<std::uint64_t>{4, 4}));
  float a[16];
  std::memcpy(a, alpha.bytes.data(), sizeof a);
  EXPECT_EQ(a[5], 5.0f);  // numpy's arange(16)
  std::int32_t b[8];
  std::memcpy(b, seg.tensor("bravo").bytes.data(), sizeof b);
  EXPECT_EQ(b[7], 21);  // arange(8) * 3

  EXPECT_EQ(attach_error(fixture("v1_array.segment"), {.verify = true}), "(attached without error)");
  segment array = s_->attach("bad");
  double d[1000];
  ASSERT_EQ(array.array().bytes.size(), sizeof d);
  std::memcpy(d, array.array().bytes.data(), sizeof d);
  EXPECT_EQ(d[999], 499.5);
  // Listed and checked like any other segment.
  bool listed = false;
  for (const auto& e : s_->list()) listed |= e.name == "bad" && e.info.version == 1;
  EXPECT_TRUE(listed);
  EXPECT_TRUE(s_->problems().empty());
}

TEST_F(SegmentV1Test, CorruptedOldSegmentsAreNamedToo) {
  std::string bytes = fixture("v1_bundle.segment");
  std::memcpy(bytes.data() + 4096 + 152, "A", 1);  // a tensor name byte
  EXPECT_NE(attach_error(bytes).find("store/bad: header_checksum"), std::string::npos) << attach_error(bytes);
  bytes = fixture("v1_bundle.segment");
  bytes[8] = 7;  // version
  const std::string error = attach_error(bytes);
  EXPECT_NE(error.find("store/bad: version: format version 7 is not supported (this build reads 1 and 2)"),
            std::string::npos) << error;
  bytes = fixture("v1_bundle.segment");
  bytes.resize(bytes.size() - 4096);
  EXPECT_NE(attach_error(bytes).find("file_size"), std::string::npos) << attach_error(bytes);
}

TEST(SegmentHeaderTest, WriteThenParseRoundTrips) {
  const auto l = layout::bundle({{"w", dtype::bf16, {2, 3, 4}}, {"b", dtype::f8_e4m3, {7}}});
  segment_info info = plan_segment_file(l, "meta");
  EXPECT_EQ(info.region_size, 8192u);  // two table entries, 4 bytes of metadata, the header
  info.file_size = segment_file_size(info, 4096);
  EXPECT_EQ(info.file_size, 4096 + 8192u);
  info.page_size = 2 * MiB;
  info.backing = backing_kind::thp;
  info.where = placement::interleave_over({0, 1, 8});
  info.asked = numa_policy::automatic;
  info.histogram = {{0, 3}, {8, 4}};
  info.creator_host = "host";
  info.creator_pid = 42;
  std::vector<std::byte> region(info.region_size);
  write_segment_header(region, info);
  const segment_info back = parse_segment(region, info.file_size, false, "mem");
  EXPECT_EQ(back.where, info.where);
  EXPECT_EQ(back.asked, numa_policy::automatic);
  EXPECT_EQ(back.histogram, info.histogram);
  EXPECT_EQ(back.metadata, "meta");
  EXPECT_EQ(back.creator_host, "host");
  ASSERT_EQ(back.tensors.size(), 2u);
  EXPECT_EQ(back.tensors[0].shape, (std::vector<std::uint64_t>{2, 3, 4}));
  EXPECT_EQ(back.tensors[1].type, dtype::f8_e4m3);
  EXPECT_EQ(back.tensors[1].offset, 64u);
  // The same region read as a companion: the header says where it belongs.
  EXPECT_THROW((void)parse_segment(region, info.file_size, true, "mem"), format_error);
  info.in_companion = true;
  info.data_file = "w";
  info.data_device = 7;
  info.data_inode = 99;
  EXPECT_EQ(segment_file_size(info, GiB), GiB);  // an exact page: no page for the header
  info.file_size = GiB;
  write_segment_header(region, info);
  const segment_info companion = parse_segment(region, GiB, true, "mem");
  EXPECT_EQ(companion.data_file, "w");
  EXPECT_EQ(companion.data_inode, 99u);
  EXPECT_THROW((void)parse_segment(region, GiB, false, "mem"), format_error);
  // Files written before the asked policy was recorded hold zeros there: "not recorded".
  info.asked.reset();
  write_segment_header(region, info);
  EXPECT_FALSE(parse_segment(region, GiB, true, "mem").asked.has_value());
}

TEST(LayoutTest, RejectsBadTensorTables) {
  EXPECT_THROW((void)layout::bundle({{"", dtype::f32, {1}}}), usage_error);
  EXPECT_THROW((void)layout::bundle({{"a", dtype::f32, {1}}, {"a", dtype::f32, {1}}}), usage_error);
  EXPECT_THROW((void)layout::bundle({{std::string(256, 'n'), dtype::f32, {1}}}), usage_error);
  EXPECT_THROW((void)layout::array(dtype::f32, std::vector<std::uint64_t>(17, 1)), usage_error);
  EXPECT_THROW((void)layout::array(dtype::f64, {1ull << 62, 4}), usage_error);
  EXPECT_EQ(layout::bundle({{"a", dtype::u8, {1}}, {"b", dtype::u8, {1}}}).tensors()[1].offset, 64u);
}

TEST(DtypeTest, ParsesNumpyAndSafetensorsSpellings) {
  EXPECT_EQ(parse_dtype("F32"), dtype::f32);
  EXPECT_EQ(parse_dtype("float32"), dtype::f32);
  EXPECT_EQ(parse_dtype("BF16"), dtype::bf16);
  EXPECT_EQ(parse_dtype("F8_E4M3"), dtype::f8_e4m3);
  EXPECT_EQ(parse_dtype("bool"), dtype::boolean);
  EXPECT_FALSE(parse_dtype("complex256").has_value());
  EXPECT_EQ(dtype_size(dtype::c128), 16u);
}

}  // namespace
}  // namespace onecopy
