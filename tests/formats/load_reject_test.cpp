// SPDX-License-Identifier: Apache-2.0
// What plan_load refuses across files: repeated tensor names, shard indexes that disagree with
// their shards or point outside their directory, empty inputs — each with a message naming it.
#include <gtest/gtest.h>

#include <fstream>

#include "onecopy/engine/formats/load.hpp"
#include "onecopy/error.hpp"
#include "tensor_files.hpp"

namespace onecopy {
namespace {

namespace fs = std::filesystem;
using formats::plan_load;

class LoadRejectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto why = test::python_missing(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("sharded", dir()));
  }
  const fs::path& dir() const { return files_.path(); }
  fs::path index() const { return dir() / "model/model.safetensors.index.json"; }

  // Rewrites the index's weight_map with edit applied.
  template <class Edit>
  void edit_index(Edit edit) {
    auto j = nlohmann::json::parse(test::read_file(index()));
    edit(j["weight_map"]);
    std::ofstream(index()) << j.dump();
  }

  // The message plan_load(inputs) throws, or "(accepted)".
  static std::string error_of(const std::vector<fs::path>& inputs) {
    try {
      (void)plan_load(inputs);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "(accepted)";
  }

  test::temp_dir files_{fs::temp_directory_path(), "onecopy-formats"};
};

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "in: " << (haystack)

TEST_F(LoadRejectTest, TheSameTensorInTwoFiles) {
  const auto m = error_of({dir() / "flat/model-00001-of-00003.safetensors", dir() / "model/model-00001-of-00003.safetensors"});
  EXPECT_CONTAINS(m, "tensor 'model.layers.0.");
  EXPECT_CONTAINS(m, "' is in both ");
  EXPECT_CONTAINS(m, "flat/model-00001-of-00003.safetensors and ");
}

TEST_F(LoadRejectTest, TheSameFileTwice) {
  const auto f = dir() / "flat/model-00001-of-00003.safetensors";
  EXPECT_CONTAINS(error_of({f, dir() / "flat/../flat/model-00001-of-00003.safetensors"}), "is given twice");
}

TEST_F(LoadRejectTest, IndexListsATensorItsShardDoesNotHave) {
  edit_index([](auto& wm) { wm["ghost.weight"] = "model-00001-of-00003.safetensors"; });
  EXPECT_CONTAINS(error_of({dir() / "model"}),
                  "model.safetensors.index.json: weight_map: tensor 'ghost.weight' is listed in shard "
                  "model-00001-of-00003.safetensors, which has no such tensor");
}

TEST_F(LoadRejectTest, IndexMissesATensorOfAShard) {
  edit_index([](auto& wm) { wm.erase("lm_head.weight"); });
  EXPECT_CONTAINS(error_of({dir() / "model"}), "weight_map: tensor 'lm_head.weight' of shard model-00003-of-00003.safetensors is not listed");
}

TEST_F(LoadRejectTest, IndexPutsATensorInTheWrongShard) {
  edit_index([](auto& wm) { wm["lm_head.weight"] = "model-00001-of-00003.safetensors"; });
  EXPECT_CONTAINS(error_of({dir() / "model"}), "weight_map: tensor 'lm_head.weight' is listed in shard model-00001-of-00003.safetensors but is in model-00003-of-00003.safetensors");
}

TEST_F(LoadRejectTest, IndexNamesAShardOutsideItsDirectory) {
  edit_index([](auto& wm) { wm["lm_head.weight"] = "../flat/model-00003-of-00003.safetensors"; });
  EXPECT_CONTAINS(error_of({dir() / "model"}), "weight_map: tensor 'lm_head.weight': shard '../flat/model-00003-of-00003.safetensors' is not a plain file name");
}

TEST_F(LoadRejectTest, IndexNamesAMissingShard) {
  fs::remove(dir() / "model/model-00002-of-00003.safetensors");
  const auto m = error_of({dir() / "model"});
  EXPECT_CONTAINS(m, "model/model-00002-of-00003.safetensors");
  EXPECT_CONTAINS(m, "No such file or directory");
}

TEST_F(LoadRejectTest, IndexThatIsNotAnIndex) {
  std::ofstream(index()) << R"({"metadata": {}})";
  EXPECT_CONTAINS(error_of({dir() / "model"}), "model.safetensors.index.json: weight_map: missing or not an object");
  std::ofstream(index()) << R"({"weight_map": )";
  EXPECT_CONTAINS(error_of({index()}), "model.safetensors.index.json: not valid JSON: ");
}

TEST_F(LoadRejectTest, EmptyDirectoryAndNoTensors) {
  fs::create_directory(dir() / "empty");
  std::ofstream(dir() / "empty/README.md") << "no tensors here\n";
  EXPECT_CONTAINS(error_of({dir() / "empty"}), "empty has no .safetensors, *.safetensors.index.json or .npy files");
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("rejects", dir() / "rejects"));
  EXPECT_CONTAINS(error_of({dir() / "rejects/no_tensors.safetensors"}), "the inputs hold no tensors");
  EXPECT_CONTAINS(error_of({}), "no input files");
  EXPECT_CONTAINS(error_of({dir() / "nope.safetensors"}), "nope.safetensors");
}

TEST_F(LoadRejectTest, NothingSelected) {
  try {
    (void)plan_load({dir() / "flat"}, {.select = [](std::string_view) { return false; }});
    FAIL();
  } catch (const usage_error& e) {
    EXPECT_CONTAINS(e.what(), "no tensor was selected");
  }
}

TEST_F(LoadRejectTest, ShardsWithDifferentMetadataKeepTheFirstAndWarn) {
  // Not a rejection: the union of the shards' __metadata__, first wins, with a warning.
  const auto script = dir() / "meta.py";
  std::ofstream(script) << "import numpy as np, sys\nfrom safetensors.numpy import save_file\n"
                           "save_file({'a': np.zeros(2)}, sys.argv[1] + '/a.safetensors', metadata={'format': 'pt', 'x': '1'})\n"
                           "save_file({'b': np.zeros(2)}, sys.argv[1] + '/b.safetensors', metadata={'format': 'np', 'y': '2'})\n";
  fs::create_directory(dir() / "meta");
  ASSERT_EQ(test::run({"/usr/bin/env", "python3", script.string(), (dir() / "meta").string()}).code, 0);
  const auto plan = plan_load({dir() / "meta"});
  EXPECT_EQ(nlohmann::json::parse(plan.metadata), nlohmann::json::parse(R"({"format":"pt","x":"1","y":"2"})"));
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_CONTAINS(plan.warnings[0], "__metadata__ 'format' differs: a.safetensors has \"pt\", b.safetensors has \"np\"");
}

}  // namespace
}  // namespace onecopy
