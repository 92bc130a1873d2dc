// SPDX-License-Identifier: Apache-2.0
// Test support for the formats suite: tensor files written by the real writers (numpy and the
// safetensors package, through make_tensor_files.py) and the expected tensors numpy computed
// for them, compared tensor by tensor with a segment.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "onecopy/engine/segment.hpp"
#include "support/test_support.hpp"

namespace onecopy::test {

/// One tensor as numpy wrote it: onecopy dtype name, shape, numpy's C-order strides, bytes.
struct expected_tensor {
  std::string name;
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::vector<std::int64_t> strides;
  std::string bytes;
};

/// What make_tensor_files.py says a KIND's files hold.
struct expected_files {
  std::vector<expected_tensor> tensors;
  nlohmann::json manifest;  ///< the whole manifest.json (extra fields such as "metadata")
};

/// Empty when python3 with numpy and safetensors can run; else why not (the test skips).
inline std::string python_missing() {
  static const std::string why = [] {
    const auto r = run({"/usr/bin/env", "python3", "-c", "import numpy, safetensors"});
    return r.code == 0 ? std::string()
                       : "python3 with numpy and safetensors is needed (scripts/install-deps.sh --python): " + r.err;
  }();
  return why;
}

/// Runs make_tensor_files.py KIND DIR. Fails the test (with the script's stderr) on error.
inline void make_tensor_files(const std::string& kind, const std::filesystem::path& dir) {
  const auto r = run({"/usr/bin/env", "python3", ONECOPY_SOURCE_DIR "/tests/formats/make_tensor_files.py",
                      kind, dir.string()});
  ASSERT_EQ(r.code, 0) << "make_tensor_files.py " << kind << " failed:\n" << r.err;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline expected_files read_manifest(const std::filesystem::path& dir) {
  expected_files e;
  e.manifest = nlohmann::json::parse(read_file(dir / "manifest.json"));
  const std::string blob = read_file(dir / "expected.bin");
  for (const auto& t : e.manifest["tensors"]) {
    expected_tensor x;
    x.name = t["name"];
    x.dtype = t["dtype"];
    x.shape = t["shape"].get<std::vector<std::uint64_t>>();
    x.strides = t["strides"].get<std::vector<std::int64_t>>();
    x.bytes = blob.substr(t["offset"].get<std::size_t>(), t["size"].get<std::size_t>());
    e.tensors.push_back(std::move(x));
  }
  return e;
}

/// The view holds exactly what numpy wrote: dtype, shape, strides, element count and bytes,
/// 64-byte aligned.
inline void expect_tensor(const tensor_view& v, const expected_tensor& x) {
  SCOPED_TRACE("tensor '" + x.name + "'");
  EXPECT_EQ(dtype_name(v.type), x.dtype);
  EXPECT_EQ(std::vector<std::uint64_t>(v.shape.begin(), v.shape.end()), x.shape);
  EXPECT_EQ(v.strides(), x.strides);
  std::uint64_t count = 1;
  for (auto d : x.shape) count *= d;
  EXPECT_EQ(v.element_count(), count);
  EXPECT_EQ(v.bytes.size(), x.bytes.size());
  EXPECT_EQ(v.bytes.size(), count * dtype_size(v.type));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v.bytes.data()) % 64, 0u);
  EXPECT_TRUE(v.bytes.size() == x.bytes.size() &&
              std::memcmp(v.bytes.data(), x.bytes.data(), x.bytes.size()) == 0)
      << "bytes differ";
}

/// Every expected tensor is in the segment, by name, and holds what numpy wrote.
inline void expect_segment_holds(const segment& seg, const expected_files& e) {
  const auto views = seg.tensors();
  ASSERT_EQ(views.size(), e.tensors.size());
  std::map<std::string_view, const tensor_view*> by_name;  // segment::tensor() is a linear search
  for (const auto& v : views) by_name[v.name] = &v;
  for (const auto& x : e.tensors) {
    const auto it = by_name.find(x.name);
    ASSERT_NE(it, by_name.end()) << "no tensor '" << x.name << "'";
    expect_tensor(*it->second, x);
  }
}

}  // namespace onecopy::test
