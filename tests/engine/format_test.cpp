// SPDX-License-Identifier: Apache-2.0
// Segment format v1: every header and table field is validated against the file before use;
// a malformed file is an error naming the field, never a crash.
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
};

TEST_F(SegmentFormatTest, TheUntouchedCopyAttaches) {
  EXPECT_EQ(attach_error(good_), "(attached without error)");
  segment seg = s_->attach("good");
  EXPECT_EQ(seg.info().metadata, R"({"format":"pt"})");
  EXPECT_EQ(seg.info().data_offset % 4096, 0u);
}

struct mutation {
  const char* what;
  std::size_t offset;
  std::uint64_t value;
  int width;  // bytes written
  const char* field;
};

TEST_F(SegmentFormatTest, EveryCorruptedFieldIsNamed) {
  const std::uint64_t size = good_.size();
  const mutation cases[] = {
      {"magic", 0, 0x58, 1, "magic"},
      {"version 2", 8, 2, 4, "version"},
      {"header size", 12, 8192, 4, "header_size"},
      {"file size off by one", 16, size + 1, 8, "file_size"},
      {"data offset unaligned", 24, 4097, 8, "data_offset"},
      {"data offset past the end", 24, size + 4096, 8, "data_offset"},
      {"data size huge", 32, ~0ull - 100, 8, "data_size"},
      {"no tensors", 40, 0, 4, "tensor_count"},
      {"2^30 tensors", 40, 1u << 30, 4, "tensor_count"},
      {"unknown flag", 44, 0x81, 4, "flags"},
      {"table inside header", 48, 16, 8, "table_offset"},
      {"table size", 56, 100, 8, "table_size"},
      {"metadata before table", 64, 0, 8, "metadata_offset"},
      {"metadata past data", 72, ~0ull / 2, 8, "metadata_offset"},
      {"checksum algorithm", 80, 9, 4, "checksum_algorithm"},
      {"chunk size", 84, 20, 4, "checksum_chunk_log2"},
      {"checksum value", 88, 0x1234, 8, "header_checksum"},
      {"page size", 96, 12345, 8, "page_size"},
      {"huge bytes", 104, ~0ull, 8, "huge_bytes"},
      {"backing", 112, 9, 4, "backing"},
      {"policy", 116, 7, 4, "policy"},
      {"histogram count", 248, 65, 4, "histogram_count"},
      {"histogram node", 256, 5000, 4, "histogram"},
      {"asked policy", 1360, 99, 4, "asked_policy"},
      {"creator pid", 1280, 77, 4, "header_checksum"},
      {"reserved byte", 2000, 1, 1, "header_checksum"},
      {"tensor dtype", 4096, 999, 2, "tensor[0].dtype"},
      {"tensor rank", 4098, 17, 2, "tensor[0].rank"},
      {"tensor name length", 4100, 300, 2, "tensor[0].name_len"},
      {"tensor without name", 4100, 0, 2, "tensor[0].name"},
      {"tensor offset unaligned", 4104, 1, 8, "tensor[0] 'alpha'.offset"},
      {"tensor offset past data", 4104, 1ull << 40, 8, "tensor[0] 'alpha'.offset"},
      {"tensor size", 4112, 65, 8, "tensor[0] 'alpha'.size"},
      {"tensor dims", 4120, 5, 8, "tensor[0] 'alpha'.size"},
      {"overlapping tensors", 4096 + 512 + 8, 0, 8, "overlaps tensor 'alpha'"},
      {"tensor name byte", 4096 + 152, 'A', 1, "header_checksum"},
  };
  for (const auto& c : cases) {
    std::string bytes = good_;
    std::memcpy(bytes.data() + c.offset, &c.value, static_cast<std::size_t>(c.width));
    const std::string error = attach_error(bytes);
    EXPECT_NE(error.find(c.field), std::string::npos) << c.what << " → " << error;
    EXPECT_NE(error.find("store/bad"), std::string::npos) << c.what << " → " << error;
  }
}

TEST_F(SegmentFormatTest, HostNameMustBeTerminated) {
  std::string bytes = good_;
  std::memset(bytes.data() + 1296, 'h', 64);
  EXPECT_NE(attach_error(bytes).find("creator_host"), std::string::npos);
}

TEST_F(SegmentFormatTest, DuplicateTensorNamesAreRejected) {
  std::string bytes = good_;
  // Give tensor 1 tensor 0's name ("alpha", 5 bytes).
  std::memcpy(bytes.data() + 4096 + 512 + 4, bytes.data() + 4096 + 4, 2);
  std::memcpy(bytes.data() + 4096 + 512 + 152, "alpha", 5);
  EXPECT_NE(attach_error(bytes).find("duplicate name 'alpha'"), std::string::npos) << attach_error(bytes);
}

TEST_F(SegmentFormatTest, TruncatedFilesAreRejectedBeforeAnyRead) {
  EXPECT_NE(attach_error(good_.substr(0, good_.size() - 4096)).find("file_size"), std::string::npos);
  EXPECT_NE(attach_error(good_.substr(0, 100)).find("file size: 100 bytes"), std::string::npos);
  EXPECT_NE(attach_error(std::string()).find("file size: 0 bytes"), std::string::npos);
}

TEST_F(SegmentFormatTest, CorruptedDataFailsVerification) {
  std::string bytes = good_;
  const std::uint64_t data_offset = 8192;  // header + 2 table entries + metadata fit in 8 KiB
  bytes[data_offset + 5] = static_cast<char>(bytes[data_offset + 5] ^ 1);
  EXPECT_EQ(attach_error(bytes), "(attached without error)");  // lazy attach does not read data
  EXPECT_NE(attach_error(bytes, {.verify = true}).find("checksum"), std::string::npos);
  segment seg = s_->attach("bad");
  EXPECT_FALSE(seg.verify());
}

TEST(SegmentHeaderTest, WriteThenParseRoundTrips) {
  const auto l = layout::bundle({{"w", dtype::bf16, {2, 3, 4}}, {"b", dtype::f8_e4m3, {7}}});
  segment_info info = plan_segment_file(l, "meta");
  info.file_size = info.data_offset + 4096;
  info.page_size = 2 * MiB;
  info.backing = backing_kind::thp;
  info.where = placement::interleave_over({0, 1, 8});
  info.asked = numa_policy::automatic;
  info.histogram = {{0, 3}, {8, 4}};
  info.creator_host = "host";
  info.creator_pid = 42;
  std::vector<std::byte> file(info.file_size);
  write_segment_header(file, info);
  const segment_info back = parse_segment(file, file.size(), "mem");
  EXPECT_EQ(back.where, info.where);
  EXPECT_EQ(back.asked, numa_policy::automatic);
  EXPECT_EQ(back.histogram, info.histogram);
  EXPECT_EQ(back.metadata, "meta");
  EXPECT_EQ(back.creator_host, "host");
  ASSERT_EQ(back.tensors.size(), 2u);
  EXPECT_EQ(back.tensors[0].shape, (std::vector<std::uint64_t>{2, 3, 4}));
  EXPECT_EQ(back.tensors[1].type, dtype::f8_e4m3);
  EXPECT_EQ(back.tensors[1].offset, 64u);
  // Files written before the asked policy was recorded hold zeros there: "not recorded".
  info.asked.reset();
  write_segment_header(file, info);
  EXPECT_FALSE(parse_segment(file, file.size(), "mem").asked.has_value());
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
