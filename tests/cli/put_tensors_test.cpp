// SPDX-License-Identifier: Apache-2.0
// `onecopy put` with tensor files, run as a real process: what it prints, what `stat` shows of
// the bundle, and the exit codes and messages of bad input.
#include <gtest/gtest.h>

#include "formats/tensor_files.hpp"

namespace onecopy {
namespace {

namespace fs = std::filesystem;

class PutCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto why = test::python_missing(); !why.empty()) GTEST_SKIP() << why;
  }
  test::run_result onecopy(std::vector<std::string> args) const {
    args.insert(args.begin(), test::built("onecopy").string());
    return test::run(args, {{"ONECOPY_DIR", store_.path().string()}});
  }
  test::temp_dir files_{fs::temp_directory_path(), "onecopy-formats"};
  test::temp_dir store_;
};

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "in:\n" << (haystack)

TEST_F(PutCliTest, ShardedModelDirectoryBecomesOneBundle) {
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("sharded", files_.path()));
  const auto put = onecopy({"put", "llm", (files_.path() / "model").string()});
  ASSERT_EQ(put.code, 0) << put.err;
  EXPECT_CONTAINS(put.out, "put llm: 10 tensors (f32 10) and 1 file");  // config.json, kept
  EXPECT_CONTAINS(put.out, "kept 1 small files (config, tokenizer, …) as onecopy.files/*");
  EXPECT_CONTAINS(put.out, "model.safetensors.index.json: 10 tensors in 3 shards");
  EXPECT_CONTAINS(put.out, R"(metadata {"format":"pt"})");

  const auto stat = onecopy({"stat", "llm"});
  ASSERT_EQ(stat.code, 0) << stat.err;
  EXPECT_CONTAINS(stat.out, "model.layers.2.self_attn.q_proj.weight");
  EXPECT_CONTAINS(stat.out, "f32[8,16]");
  EXPECT_CONTAINS(stat.out, "lm_head.weight");

  const auto json = onecopy({"stat", "llm", "--json"});
  ASSERT_EQ(json.code, 0) << json.err;
  const auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["kind"], "bundle");
  EXPECT_EQ(j["tensors"].size(), 11u);
  EXPECT_EQ(j["tensors"][10]["name"], "onecopy.files/config.json");
  const auto meta = nlohmann::json::parse(j["metadata"].get<std::string>());
  EXPECT_EQ(meta["format"], "pt");
  EXPECT_EQ(meta["onecopy.source"]["files"].size(), 3u);  // the shards' names, sizes, headers
  EXPECT_EQ(meta["onecopy.source"]["kept"][0]["name"], "config.json");
  for (const auto& t : j["tensors"]) EXPECT_EQ(t["offset"].get<std::uint64_t>() % 64, 0u);
}

TEST_F(PutCliTest, SeveralNpyFilesAndJsonOutput) {
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("npy", files_.path()));
  const auto npy = files_.path() / "npy";
  const auto put = onecopy({"put", "arrays", (npy / "scalar.npy").string(), (npy / "fortran.npy").string(), "--json"});
  ASSERT_EQ(put.code, 0) << put.err;
  const auto j = nlohmann::json::parse(put.out);
  ASSERT_EQ(j["tensors"].size(), 2u);
  EXPECT_EQ(j["tensors"][0]["name"], "scalar");
  EXPECT_EQ(j["tensors"][1]["name"], "fortran");
  EXPECT_EQ(j["tensors"][1]["shape"], nlohmann::json::parse("[2,3,4]"));
  ASSERT_EQ(j["sources"].size(), 2u);
  EXPECT_EQ(j["sources"][0]["format"], "npy");
}

TEST_F(PutCliTest, MalformedFileExitsOneNamingFileTensorAndField) {
  const auto bad = files_.path() / "bad.safetensors";
  const std::string header = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
  std::string bytes(8, '\0');
  bytes[0] = static_cast<char>(header.size());
  std::ofstream(bad, std::ios::binary) << bytes << header << std::string(8, '\0');
  const auto put = onecopy({"put", "bad", bad.string()});
  EXPECT_EQ(put.code, 1);
  EXPECT_CONTAINS(put.err, "onecopy put: " + bad.string() + ": tensor 'w': data_offsets: [0, 8) holds 8 bytes but F32 × [3] needs 12");
  EXPECT_EQ(onecopy({"ls"}).out.find("bad"), std::string::npos);
}

TEST_F(PutCliTest, RawOptionsWithTensorFilesAreAUsageError) {
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("dtypes", files_.path()));
  const auto put = onecopy({"put", "x", (files_.path() / "all.safetensors").string(), "--dtype", "f32"});
  EXPECT_EQ(put.code, 2);
  EXPECT_CONTAINS(put.err, "--dtype and --shape describe raw files");
}

}  // namespace
}  // namespace onecopy
