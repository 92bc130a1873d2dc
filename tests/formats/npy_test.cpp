// SPDX-License-Identifier: Apache-2.0
// The .npy parser on crafted headers (every rejection, with its message), and on files numpy
// itself writes with dtypes onecopy refuses.
#include <gtest/gtest.h>

#include <string>

#include "onecopy/engine/formats/npy.hpp"
#include "onecopy/engine/formats/tensor_file.hpp"
#include "onecopy/error.hpp"
#include "tensor_files.hpp"

namespace onecopy {
namespace {

using formats::parse_npy;

// magic, version, length (u16 for 1.x, else u32), the dict, then data_len bytes.
std::string npy_of(const std::string& dict, std::uint64_t data_len, int major = 1, int minor = 0,
                   std::int64_t length = -1) {
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += static_cast<char>(minor);
  const auto n = static_cast<std::uint64_t>(length < 0 ? static_cast<std::int64_t>(dict.size()) : length);
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  out += dict;
  out.append(data_len, '\x11');
  return out;
}

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::string error_of(const std::string& file) {
  try {
    (void)parse_npy(bytes_of(file), file.size(), "a.npy");
  } catch (const format_error& e) {
    return e.what();
  }
  return "(accepted)";
}

std::string dict(const std::string& descr, const std::string& fortran = "False", const std::string& shape = "(2, 3)") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n";
}

TEST(NpyParserTest, ReadsTypesOrdersAndShapes) {
  struct ok_case {
    std::string dict;
    dtype type;
    std::vector<std::uint64_t> shape;
    bool fortran;
    bool swapped;
  };
  const ok_case cases[] = {
      {dict("<f4"), dtype::f32, {2, 3}, false, false},
      {dict(">f8", "True"), dtype::f64, {2, 3}, true, true},
      {dict("|b1", "False", "()"), dtype::boolean, {}, false, false},
      {dict("|u1", "False", "(0,)"), dtype::u8, {0}, false, false},
      {dict(">i1", "False", "(4,)"), dtype::i8, {4}, false, false},  // one byte: nothing to swap
      {dict("=i2"), dtype::i16, {2, 3}, false, false},
      {dict("<c16", "False", "(3L, 2L)"), dtype::c128, {3, 2}, false, false},  // Python 2 longs
      {"{\"descr\":\"<u8\",\"fortran_order\":False,\"shape\":(1,2,1)}", dtype::u64, {1, 2, 1}, false, false},
  };
  for (const auto& c : cases) {
    const std::uint64_t size = [&] {
      std::uint64_t n = dtype_size(c.type);
      for (auto d : c.shape) n *= d;
      return n;
    }();
    for (int major : {1, 2, 3}) {
      const std::string f = npy_of(c.dict, size, major);
      const auto file = parse_npy(bytes_of(f), f.size(), "a.npy");
      ASSERT_EQ(file.tensors.size(), 1u);
      const auto& t = file.tensors[0];
      EXPECT_EQ(t.type, c.type) << c.dict;
      EXPECT_EQ(t.shape, c.shape) << c.dict;
      EXPECT_EQ(t.fortran_order, c.fortran) << c.dict;
      EXPECT_EQ(t.byte_swapped, c.swapped) << c.dict;
      EXPECT_EQ(t.file_offset, f.size() - size);
      EXPECT_EQ(t.size, size);
      EXPECT_EQ(file.version, std::to_string(major) + ".0");
    }
  }
}

TEST(NpyParserTest, EveryRejectionNamesTheFileAndTheField) {
  const struct {
    const char* what;
    std::string file;
    std::string message;
  } cases[] = {
      {"not npy", "PK\x03\x04 a zip", "a.npy: magic: not a .npy file"},
      {"empty", "", "a.npy: magic: not a .npy file"},
      {"version 4.0", npy_of(dict("<f4"), 24, 4), "a.npy: version: 4.0 is not supported (1.0, 2.0, 3.0)"},
      {"version 1.1", npy_of(dict("<f4"), 24, 1, 1), "a.npy: version: 1.1 is not supported"},
      {"ends in the version", std::string("\x93NUMPY\x01", 7), "a.npy: version: the file ends after 7 bytes"},
      {"ends in the length", std::string("\x93NUMPY\x02\x00\x10\x00", 10), "a.npy: header length: the file ends after 10 bytes"},
      {"length over the limit", npy_of(dict("<f4"), 24, 2, 0, 2 << 20), "a.npy: header length: 2097152 bytes exceeds the limit of 1048576"},
      {"length past the file", npy_of("{}", 0, 1, 0, 500), "a.npy: header length: 500 bytes, but only 2 follow in the file (truncated?)"},
      {"not a dict", npy_of("['descr']", 0), "a.npy: header: expected '{' (at byte 0 of the header dict)"},
      {"unterminated", npy_of("{'descr': '<f4", 0), "a.npy: header: unterminated string"},
      {"missing descr", npy_of("{'fortran_order': False, 'shape': (2,)}", 8), "a.npy: descr: missing"},
      {"missing shape", npy_of("{'descr': '<f4', 'fortran_order': False}", 8), "a.npy: shape: missing"},
      {"missing fortran_order", npy_of("{'descr': '<f4', 'shape': (2,)}", 8), "a.npy: fortran_order: missing"},
      {"extra key", npy_of("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8),
       "a.npy: header: unexpected key 'x' (a .npy header has descr, fortran_order, shape)"},
      {"duplicate key", npy_of("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8),
       "a.npy: header: duplicate key 'descr'"},
      {"structured", npy_of("{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (2,)}", 8),
       "a.npy: header: descr: a structured dtype (a list of fields) is not supported"},
      {"object", npy_of(dict("|O"), 48), "a.npy: descr: '|O' is an object array (pickled Python objects), not supported"},
      {"unicode", npy_of(dict("<U5"), 120), "a.npy: descr: '<U5' is a string array, not supported"},
      {"bytes", npy_of(dict("|S3"), 18), "a.npy: descr: '|S3' is a string array, not supported"},
      {"void", npy_of(dict("|V2"), 12), "a.npy: descr: '|V2' is a void/raw-bytes type, not supported (bfloat16"},
      {"datetime", npy_of(dict("<M8[D]"), 48), "a.npy: descr: '<M8[D]' is a datetime/timedelta type"},
      {"long double", npy_of(dict("<f16"), 96), "a.npy: descr: '<f16' is long double (platform-specific), not supported"},
      {"unknown kind", npy_of(dict("<x4"), 24), "a.npy: descr: '<x4' is not a supported type"},
      {"no byte order", npy_of(dict("f4"), 24), "a.npy: descr: 'f4' has no byte order"},
      {"'|' on a multi-byte type", npy_of(dict("|f4"), 24), "a.npy: descr: '|f4' has no byte order ('|') but a multi-byte type"},
      {"fortran_order not a bool", npy_of(dict("<f4", "1"), 24), "a.npy: header: fortran_order: expected True or False"},
      {"shape not a tuple", npy_of(dict("<f4", "False", "[2, 3]"), 24), "a.npy: header: expected '('"},
      {"negative dimension", npy_of(dict("<f4", "False", "(2, -3)"), 24),
       "a.npy: header: shape: expected a non-negative integer"},
      {"rank 17", npy_of(dict("<f4", "False", "(1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1)"), 4),
       "a.npy: header: shape: rank exceeds the maximum of 16"},
      {"dimension past 64 bits", npy_of(dict("<f4", "False", "(18446744073709551616,)"), 4),
       "a.npy: header: shape: dimension overflows 64 bits"},
      {"size overflows", npy_of(dict("<f8", "False", "(4294967296, 4294967296)"), 4),
       "a.npy: shape: dtype × shape overflows 64 bits"},
      {"truncated data", npy_of(dict("<f4"), 20), "a.npy: data: 20 bytes follow the header but '<f4' × [2, 3] needs 24 (truncated?)"},
      {"trailing bytes", npy_of(dict("<f4"), 25), "a.npy: data: 25 bytes follow the header but '<f4' × [2, 3] needs 24 (trailing bytes)"},
      {"text after the dict", npy_of("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", 8),
       "a.npy: header: unexpected text after the header dict"},
  };
  for (const auto& c : cases) {
    const std::string message = error_of(c.file);
    EXPECT_NE(message.find(c.message), std::string::npos) << c.what << ":\n  got      " << message
                                                           << "\n  expected " << c.message;
  }
}

// What numpy itself writes for dtypes onecopy refuses: each message says what the type is.
TEST(NpyParserTest, NumpyFilesOfUnsupportedTypesAreRefusedClearly) {
  if (const auto why = test::python_missing(); !why.empty()) GTEST_SKIP() << why;
  test::temp_dir dir(std::filesystem::temp_directory_path(), "onecopy-npy");
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("rejects", dir.path()));
  const std::pair<const char*, const char*> cases[] = {
      {"structured.npy", "header: descr: a structured dtype"},
      {"object.npy", "descr: '|O' is an object array"},
      {"unicode.npy", "descr: '<U2' is a string array"},
      {"bytes.npy", "descr: '|S2' is a string array"},
      {"datetime.npy", "descr: '<M8[D]' is a datetime/timedelta type"},
      {"longdouble.npy", "is long double"},
      {"void.npy", "descr: '|V2' is a void/raw-bytes type"},
      {"truncated.npy", "data: 396 bytes follow the header but '<f4' × [100] needs 400 (truncated?)"},
      {"truncated.safetensors", "tensor 'w': data_offsets: end 64 is past the data region's 63 bytes"},
  };
  for (const auto& [file, message] : cases) {
    const auto path = dir.path() / file;
    try {
      (void)formats::inspect(path);
      ADD_FAILURE() << file << " was accepted";
    } catch (const format_error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind(path.string() + ": ", 0), 0u) << what;
      EXPECT_NE(what.find(message), std::string::npos) << file << ": " << what;
    }
  }
}

TEST(InspectTest, NamesTheFileForOsErrorsAndUnknownContent) {
  try {
    (void)formats::inspect("/nonexistent/w.safetensors");
    FAIL();
  } catch (const os_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/w.safetensors"), std::string::npos) << e.what();
  }
  test::temp_dir dir(std::filesystem::temp_directory_path(), "onecopy-npy");
  const auto other = dir.path() / "notes.txt";
  std::ofstream(other) << "hello, these are not tensors\n";
  try {
    (void)formats::inspect(other);
    FAIL();
  } catch (const format_error& e) {
    EXPECT_NE(std::string(e.what()).find("notes.txt: neither a .safetensors nor a .npy file"), std::string::npos) << e.what();
  }
  try {
    (void)formats::inspect(dir.path());
    FAIL();
  } catch (const format_error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace onecopy
