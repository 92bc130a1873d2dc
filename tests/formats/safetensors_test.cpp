// SPDX-License-Identifier: Apache-2.0
// The safetensors parser on crafted bytes: what it accepts, and every rejection with a message
// naming the file, the tensor and the field.
#include <gtest/gtest.h>

#include <string>

#include "onecopy/engine/formats/safetensors.hpp"
#include "onecopy/error.hpp"

namespace onecopy {
namespace {

using formats::parse_safetensors;

// An 8-byte little-endian length, the header text, then data_len bytes of data.
std::string file_of(const std::string& header, std::uint64_t data_len = 0, std::uint64_t length = UINT64_MAX) {
  if (length == UINT64_MAX) length = header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xff);
  out += header;
  out.append(data_len, '\x5a');
  return out;
}

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// The message parse_safetensors throws, or "(accepted)".
std::string error_of(const std::string& file, std::uint64_t file_size = UINT64_MAX) {
  if (file_size == UINT64_MAX) file_size = file.size();
  try {
    (void)parse_safetensors(bytes_of(file), file_size, "m.safetensors");
  } catch (const format_error& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(SafetensorsParserTest, ReadsTensorsInOffsetOrderWithMetadata) {
  const std::string h = R"({"b":{"dtype":"I64","shape":[2],"data_offsets":[24,40]},)"
                        R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                        R"("s":{"dtype":"BF16","shape":[],"data_offsets":[40,42]},)"
                        R"("e":{"dtype":"F8_E4M3","shape":[0,7],"data_offsets":[42,42]},)"
                        R"("__metadata__":{"format":"pt"}}   )";
  const std::string f = file_of(h, 42);
  const auto file = parse_safetensors(bytes_of(f), f.size(), "m.safetensors");
  ASSERT_EQ(file.tensors.size(), 4u);
  EXPECT_EQ(file.tensors[0].name, "a");
  EXPECT_EQ(file.tensors[0].type, dtype::f32);
  EXPECT_EQ(file.tensors[0].shape, (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(file.tensors[0].file_offset, 8 + h.size());
  EXPECT_EQ(file.tensors[1].name, "b");
  EXPECT_EQ(file.tensors[1].file_offset, 8 + h.size() + 24);
  EXPECT_EQ(file.tensors[2].name, "s");
  EXPECT_TRUE(file.tensors[2].shape.empty());
  EXPECT_EQ(file.tensors[2].size, 2u);
  EXPECT_EQ(file.tensors[3].name, "e");
  EXPECT_EQ(file.tensors[3].size, 0u);
  EXPECT_EQ(file.metadata, R"({"format":"pt"})");
  EXPECT_EQ(file.header_size, 8 + h.size());
}

TEST(SafetensorsParserTest, EveryDtypeNameOfTheFormat) {
  const std::pair<const char*, dtype> names[] = {
      {"BOOL", dtype::boolean}, {"U8", dtype::u8}, {"I8", dtype::i8}, {"U16", dtype::u16},
      {"I16", dtype::i16}, {"U32", dtype::u32}, {"I32", dtype::i32}, {"U64", dtype::u64},
      {"I64", dtype::i64}, {"F16", dtype::f16}, {"BF16", dtype::bf16}, {"F32", dtype::f32},
      {"F64", dtype::f64}, {"C64", dtype::c64}, {"F8_E4M3", dtype::f8_e4m3},
      {"F8_E5M2", dtype::f8_e5m2}, {"F8_E8M0", dtype::f8_e8m0},
      {"F8_E4M3FNUZ", dtype::f8_e4m3fnuz}, {"F8_E5M2FNUZ", dtype::f8_e5m2fnuz}};
  for (const auto& [name, type] : names) {
    const auto size = dtype_size(type);
    const std::string h = std::string(R"({"t":{"dtype":")") + name + R"(","shape":[3],"data_offsets":[0,)" +
                          std::to_string(3 * size) + "]}}";
    const std::string f = file_of(h, 3 * size);
    const auto file = parse_safetensors(bytes_of(f), f.size(), "m.safetensors");
    EXPECT_EQ(file.tensors.at(0).type, type) << name;
  }
}

struct reject_case {
  const char* what;
  std::string file;
  std::string message;  // expected substring
  std::uint64_t file_size = UINT64_MAX;
};

const std::string ok_entry = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

TEST(SafetensorsParserTest, EveryRejectionNamesTheFileTheTensorAndTheField) {
  const std::string name256(256, 'n');
  const reject_case cases[] = {
      {"shorter than the length", std::string(5, '\0'),
       "m.safetensors: header length: the file has 5 bytes, fewer than the 8"},
      {"header over 100 MB", file_of("{}", 0, 100'000'001), "m.safetensors: header length: 100000001 bytes exceeds the limit of 100000000",
       200'000'000},
      {"header longer than the file", file_of("{}", 0, 1000),
       "m.safetensors: header length: 1000 bytes, but only 2 follow in the file (truncated?)"},
      {"header of 1 byte", file_of("{", 0), "header length: 1 bytes is too short"},
      {"not an object", file_of(R"(["a"])"), "m.safetensors: header: starts with byte 0x5b, not '{'"},
      {"invalid JSON", file_of(R"({"a":})"), "m.safetensors: header: not valid JSON: "},
      {"invalid UTF-8", file_of("{\"\xff\":1}"), "m.safetensors: header: not valid JSON: "},
      {"trailing garbage", file_of(R"({} x)"), "m.safetensors: header: not valid JSON: "},
      {"duplicate tensor", file_of(R"({"w":)" + ok_entry + R"(,"w":)" + ok_entry + "}", 8),
       "m.safetensors: header: duplicate key 'w' (two tensors of the same name)"},
      {"duplicate field", file_of(R"({"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
       "m.safetensors: header: duplicate key 'dtype'"},
      {"nested too deep", file_of(R"({"w":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}})", 8),
       "m.safetensors: header: nested deeper than a safetensors header can be"},
      {"metadata not an object", file_of(R"({"__metadata__":["x"]})"),
       "m.safetensors: __metadata__: a JSON array, not an object of strings"},
      {"metadata value not a string", file_of(R"({"__metadata__":{"n":1}})"),
       "m.safetensors: __metadata__: value of 'n' is a JSON number, not a string"},
      {"empty name", file_of(R"({"":)" + ok_entry + "}", 8), "m.safetensors: tensor '': name: empty"},
      {"name too long", file_of("{\"" + name256 + "\":" + ok_entry + "}", 8),
       "m.safetensors: tensor '" + name256.substr(0, 60) + "…' (256 bytes): name: 256 bytes; at most 255"},
      {"NUL in name", file_of(R"({"a\u0000b":)" + ok_entry + "}", 8), "m.safetensors: tensor 'a\\x00b': name: contains a NUL byte"},
      {"entry not an object", file_of(R"({"w":[1,2]})"), "m.safetensors: tensor 'w': entry: a JSON array, not an object"},
      {"dtype missing", file_of(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8), "m.safetensors: tensor 'w': dtype: missing"},
      {"dtype not a string", file_of(R"({"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", 8),
       "m.safetensors: tensor 'w': dtype: a JSON number, not a string"},
      {"dtype unknown", file_of(R"({"w":{"dtype":"float32","shape":[2],"data_offsets":[0,8]}})", 8),
       "m.safetensors: tensor 'w': dtype: 'float32' is not a supported type (BOOL U8"},
      {"dtype sub-byte", file_of(R"({"w":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}})", 1),
       "m.safetensors: tensor 'w': dtype: 'F4' packs several values per byte"},
      {"shape missing", file_of(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8), "m.safetensors: tensor 'w': shape: missing"},
      {"shape not an array", file_of(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8),
       "m.safetensors: tensor 'w': shape: a JSON number, not an array"},
      {"rank 17", file_of(R"({"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})", 4),
       "m.safetensors: tensor 'w': shape: rank 17 exceeds the maximum of 16"},
      {"negative dimension", file_of(R"({"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]}})", 8),
       "m.safetensors: tensor 'w': shape: dimension 1 is -1, not a non-negative integer"},
      {"fractional dimension", file_of(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8),
       "m.safetensors: tensor 'w': shape: dimension 0 is 2.5, not a non-negative integer"},
      {"dimension past 64 bits", file_of(R"({"w":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}})", 8),
       "m.safetensors: tensor 'w': shape: dimension 0 is "},
      {"size overflows", file_of(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
       "m.safetensors: tensor 'w': shape: dtype × shape overflows 64 bits"},
      {"data_offsets missing", file_of(R"({"w":{"dtype":"F32","shape":[2]}})", 8),
       "m.safetensors: tensor 'w': data_offsets: missing"},
      {"data_offsets of three", file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})", 8),
       "m.safetensors: tensor 'w': data_offsets: [0,4,8] is not [begin, end]"},
      {"data_offsets negative", file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8),
       "m.safetensors: tensor 'w': data_offsets: [-8,0] is not [begin, end]"},
      {"begin after end", file_of(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8),
       "m.safetensors: tensor 'w': data_offsets: begin 8 is after end 0"},
      {"end past the file", file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 7),
       "m.safetensors: tensor 'w': data_offsets: end 8 is past the data region's 7 bytes (truncated file?)"},
      {"size is not dtype × shape", file_of(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       "m.safetensors: tensor 'w': data_offsets: [0, 8) holds 8 bytes but F32 × [3] needs 12"},
      {"overlap", file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
       "m.safetensors: tensor 'b': data_offsets: [4, 12) overlaps tensor 'a' at [0, 8)"},
      {"same range twice", file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
       "m.safetensors: tensor 'b': data_offsets: [0, 8) overlaps tensor 'a' at [0, 8)"},
      {"gap", file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})", 24),
       "m.safetensors: tensor 'b': data_offsets: [16, 24) leaves bytes [8, 16) of the data region unused after tensor 'a'"},
      {"gap at start", file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
       "m.safetensors: tensor 'a': data_offsets: [4, 12) leaves bytes [0, 4) of the data region unused at its start"},
      {"bytes after the last tensor", file_of(R"({"a":)" + ok_entry + "}", 9),
       "m.safetensors: data region: 9 bytes, but the tensors end at 8 (1 bytes after the last tensor belong to none)"},
  };
  for (const auto& c : cases) {
    const std::string message = error_of(c.file, c.file_size);
    EXPECT_NE(message.find(c.message), std::string::npos) << c.what << ":\n  got      " << message
                                                           << "\n  expected " << c.message;
  }
}

TEST(SafetensorsParserTest, HeaderExtentIsCheckedBeforeAnythingIsRead) {
  // A length of 2^64-1 must not wrap around in 8 + N.
  const std::string f = file_of("{}", 0, UINT64_MAX - 1);
  EXPECT_THROW((void)formats::safetensors_header_extent(bytes_of(f), UINT64_MAX, "m"), format_error);
  // A caller that passes fewer bytes than the header needs gets a usage error, not a read past the end.
  const std::string g = file_of(R"({"a":)" + ok_entry + "}", 8);
  EXPECT_THROW((void)parse_safetensors(bytes_of(g).first(20), g.size(), "m"), usage_error);
}

}  // namespace
}  // namespace onecopy
