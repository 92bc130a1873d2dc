// SPDX-License-Identifier: Apache-2.0
// Round trips: files written by numpy and the safetensors package, loaded into one segment,
// compared tensor by tensor (dtype, shape, strides, bytes) with what numpy says they hold.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "onecopy/engine/formats/load.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/units.hpp"
#include "tensor_files.hpp"

namespace onecopy {
namespace {

namespace fs = std::filesystem;
using formats::load_into;
using formats::plan_load;

class LoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto why = test::python_missing(); !why.empty()) GTEST_SKIP() << why;
  }
  // Files go to a disk-backed temp dir (sparse files there cost nothing); segments to /dev/shm.
  test::temp_dir files_{fs::temp_directory_path(), "onecopy-formats"};
  test::temp_dir store_dir_;
  store s_ = store::at(store_dir_.path());
};

TEST_F(LoadTest, EverySafetensorsDtypeRoundTrips) {
  const auto dir = files_.path();
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("dtypes", dir));
  const auto expected = test::read_manifest(dir);
  auto r = load_into(s_, "all", {dir / "all.safetensors"});
  ASSERT_NO_FATAL_FAILURE(test::expect_segment_holds(r.segment, expected));
  EXPECT_TRUE(r.segment.info().bundle);
  // The metadata is kept as JSON and says what the writer was given.
  EXPECT_EQ(nlohmann::json::parse(r.segment.info().metadata), expected.manifest["metadata"]);
  // A fresh attach (another process would do this) sees the same.
  const segment again = s_.attach("all", {.populate = false, .verify = true});
  ASSERT_NO_FATAL_FAILURE(test::expect_segment_holds(again, expected));
}

TEST_F(LoadTest, TensorsKeepTheFilesOrderAndAreAligned) {
  const auto dir = files_.path();
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("dtypes", dir));
  const auto file = formats::inspect(dir / "all.safetensors");
  const auto r = load_into(s_, "all", {dir / "all.safetensors"}, {}, {.alignment = 4096});
  const auto& table = r.segment.info().tensors;
  ASSERT_EQ(table.size(), file.tensors.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(table[i].name, file.tensors[i].name);
    EXPECT_EQ(table[i].offset % 4096, 0u) << table[i].name;
    if (i > 0) {
      EXPECT_LE(file.tensors[i - 1].file_offset, file.tensors[i].file_offset);
    }
  }
}

TEST_F(LoadTest, EveryNpyDtypeOrderAndVersionRoundTrips) {
  const auto dir = files_.path();
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("npy", dir));
  const auto expected = test::read_manifest(dir);
  // A directory of .npy files: one bundle, tensors named by the files' stems.
  auto r = load_into(s_, "npys", {dir / "npy"});
  ASSERT_NO_FATAL_FAILURE(test::expect_segment_holds(r.segment, expected));
  EXPECT_EQ(r.segment.info().metadata, "");
  const auto plan = plan_load({dir / "npy"});
  std::set<std::string> versions;
  for (const auto& f : plan.files) versions.insert(f.version);
  EXPECT_EQ(versions, (std::set<std::string>{"1.0", "2.0", "3.0"}));
}

// On hugetlbfs nothing populates a draft before its fill: the load's preads fault its pages
// in, byte-swapping and leaving zeros between tensors as they go, and Fortran-order arrays are
// then written through the mapping. Every dtype, order and version still round-trips.
TEST_F(LoadTest, NpyAndSafetensorsRoundTripOnHugetlbfs) {
  test::scoped_hugepages pool{2 * MiB, 8};
  test::scoped_mount huge("hugetlbfs", "pagesize=2M");
  if (!huge.ok()) GTEST_SKIP() << huge.why();
  if (test::free_hugepages(2 * MiB) < 4) GTEST_SKIP() << "could not reserve 4 free 2 MiB huge pages";
  store s = store::at(huge.path() / "store");
  for (const std::string set : {"npy", "dtypes"}) {
    const auto dir = files_.path() / set;
    ASSERT_NO_FATAL_FAILURE(test::make_tensor_files(set, dir));
    const auto expected = test::read_manifest(dir);
    auto r = load_into(s, set, {set == "npy" ? dir / "npy" : dir / "all.safetensors"});
    EXPECT_EQ(r.segment.info().backing, backing_kind::hugetlbfs) << set;
    ASSERT_NO_FATAL_FAILURE(test::expect_segment_holds(r.segment, expected));
    EXPECT_TRUE(r.segment.verify()) << set;
  }
}

TEST_F(LoadTest, SeveralNpyFilesMakeOneBundleInArgumentOrder) {
  const auto dir = files_.path();
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("npy", dir));
  const auto expected = test::read_manifest(dir);
  auto r = load_into(s_, "three", {dir / "npy/fortran.npy", dir / "npy/big.c128.npy", dir / "npy/scalar.npy"});
  const auto views = r.segment.tensors();
  ASSERT_EQ(views.size(), 3u);
  EXPECT_EQ(views[0].name, "fortran");
  EXPECT_EQ(views[1].name, "big.c128");
  EXPECT_EQ(views[2].name, "scalar");
  for (const auto& x : expected.tensors)
    if (x.name == "fortran" || x.name == "big.c128" || x.name == "scalar")
      test::expect_tensor(r.segment.tensor(x.name), x);
}

TEST_F(LoadTest, OneNpyFileIsASingleArray) {
  const auto dir = files_.path();
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("npy", dir));
  const auto expected = test::read_manifest(dir);
  auto r = load_into(s_, "one", {dir / "npy/big.fortran.npy"});
  EXPECT_FALSE(r.segment.info().bundle);
  const auto it = std::find_if(expected.tensors.begin(), expected.tensors.end(),
                               [](const auto& t) { return t.name == "big.fortran"; });
  ASSERT_NE(it, expected.tensors.end());
  test::expected_tensor x = *it;
  x.name = "";
  test::expect_tensor(r.segment.array(), x);
  // …unless asked for a bundle.
  auto b = load_into(s_, "one-bundle", {dir / "npy/big.fortran.npy"}, {}, {.single_npy_as_array = false});
  EXPECT_TRUE(b.segment.info().bundle);
  test::expect_tensor(b.segment.tensor("big.fortran"), *it);
}

TEST_F(LoadTest, ShardedDirectoryLoadsThroughItsIndex) {
  const auto dir = files_.path();
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("sharded", dir));
  const auto expected = test::read_manifest(dir);
  const auto plan = plan_load({dir / "model"});
  ASSERT_EQ(plan.files.size(), 3u);
  EXPECT_EQ(plan.files[0].path.filename(), "model-00001-of-00003.safetensors");
  ASSERT_FALSE(plan.notes.empty());
  EXPECT_NE(plan.notes[0].find("model.safetensors.index.json: 10 tensors in 3 shards"), std::string::npos)
      << plan.notes[0];
  auto r = load_into(s_, "model", plan);
  ASSERT_NO_FATAL_FAILURE(test::expect_segment_holds(r.segment, expected));
  EXPECT_EQ(r.segment.info().metadata, R"({"format":"pt"})");
  // The index itself as the input does the same.
  const auto by_index = plan_load({dir / "model/model.safetensors.index.json"});
  EXPECT_EQ(by_index.layout.tensors().size(), 10u);
}

TEST_F(LoadTest, DirectoryWithoutIndexLoadsEverySafetensorsFile) {
  const auto dir = files_.path();
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("sharded", dir));
  const auto expected = test::read_manifest(dir);
  auto r = load_into(s_, "flat", {dir / "flat"});
  ASSERT_NO_FATAL_FAILURE(test::expect_segment_holds(r.segment, expected));
}

TEST_F(LoadTest, LargeHeaderWithTwentyThousandTensorsAndMegabytesOfMetadata) {
  const auto dir = files_.path();
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("large-header", dir));
  const auto expected = test::read_manifest(dir);
  const auto file = formats::inspect(dir / "large.safetensors");
  EXPECT_GT(file.header_size, 5'000'000u);
  auto r = load_into(s_, "large", {dir / "large.safetensors"});
  ASSERT_NO_FATAL_FAILURE(test::expect_segment_holds(r.segment, expected));
  const auto meta = nlohmann::json::parse(r.segment.info().metadata);
  EXPECT_EQ(meta["long"].get<std::string>().size(), 4u << 20);
}

// A 4.5 GiB tensor that is a hole in a sparse file, then two small tensors whose data offsets
// are beyond 4 GiB. Loading all of it would need a 4.5 GiB segment (4.5 GiB of RAM on tmpfs),
// so the test checks the offsets with inspect() and loads only the tensors after the hole:
// the reads then really happen at file offsets > 4 GiB while memory stays a few KiB.
TEST_F(LoadTest, DataOffsetsBeyondFourGiB) {
  const auto dir = files_.path();
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("big-offset", dir));
  const auto expected = test::read_manifest(dir);
  const std::uint64_t header = expected.manifest["header_bytes"];
  const std::uint64_t hole = expected.manifest["hole"];
  const auto file = formats::inspect(dir / "big.safetensors");
  ASSERT_EQ(file.tensors.size(), 3u);
  EXPECT_EQ(file.tensors[0].name, "hole");
  EXPECT_EQ(file.tensors[0].size, hole);
  EXPECT_EQ(file.tensors[1].name, "after.a");
  EXPECT_EQ(file.tensors[1].file_offset, header + hole);
  EXPECT_GT(file.tensors[1].file_offset, 4 * GiB);
  EXPECT_EQ(file.tensors[2].file_offset, header + hole + 64);

  auto r = load_into(s_, "after", {dir / "big.safetensors"}, {},
                     {.select = [](std::string_view name) { return name != "hole"; }});
  ASSERT_NO_FATAL_FAILURE(test::expect_segment_holds(r.segment, expected));
  EXPECT_LT(r.segment.info().file_size, 64 * KiB);
}

TEST_F(LoadTest, LoadingIsParallelAndSpansPieces) {
  // One tensor larger than several read pieces and many small ones, with 1 and 3 threads.
  const auto dir = files_.path();
  const auto script = dir / "make.py";
  {
    std::ofstream py(script);
    py << "import numpy as np, sys\n"
          "from safetensors.numpy import save_file\n"
          "rng = np.random.default_rng(5)\n"
          "t = {'big': rng.integers(0, 255, size=(5 * 8 << 20) // 2 + 3, dtype=np.uint16)}\n"
          "t.update({f'small.{i}': rng.standard_normal(i + 1).astype(np.float32) for i in range(300)})\n"
          "save_file(t, sys.argv[1])\n"
          "open(sys.argv[2], 'wb').write(t['big'].tobytes())\n";
  }
  const auto r0 = test::run({"/usr/bin/env", "python3", script.string(), (dir / "p.safetensors").string(),
                             (dir / "big.bin").string()});
  ASSERT_EQ(r0.code, 0) << r0.err;
  const std::string big = test::read_file(dir / "big.bin");
  for (unsigned threads : {1u, 3u}) {
    create_options opts;
    opts.threads = threads;
    const std::string name = "p" + std::to_string(threads);
    auto r = load_into(s_, name, {dir / "p.safetensors"}, opts);
    const auto v = r.segment.tensor("big");
    ASSERT_EQ(v.bytes.size(), big.size());
    EXPECT_EQ(std::memcmp(v.bytes.data(), big.data(), big.size()), 0) << threads << " threads";
    EXPECT_EQ(r.segment.tensors().size(), 301u);
  }
}

TEST_F(LoadTest, FillRefusesAFileThatChangedSinceItWasInspected) {
  const auto dir = files_.path();
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("sharded", dir));
  const auto plan = plan_load({dir / "flat"});
  const auto shard = dir / "flat/model-00002-of-00003.safetensors";
  fs::resize_file(shard, fs::file_size(shard) - 8);
  try {
    (void)load_into(s_, "changed", plan);
    FAIL() << "loaded a file that shrank";
  } catch (const format_error& e) {
    EXPECT_NE(std::string(e.what()).find("model-00002-of-00003.safetensors: changed since it was inspected"),
              std::string::npos) << e.what();
  }
  EXPECT_FALSE(s_.exists("changed"));  // the draft left nothing behind
}

TEST_F(LoadTest, FillIntoADraftOfOpenOrCreate) {
  const auto dir = files_.path();
  ASSERT_NO_FATAL_FAILURE(test::make_tensor_files("dtypes", dir));
  const auto expected = test::read_manifest(dir);
  const auto plan = plan_load({dir / "all.safetensors"});
  create_options opts;
  opts.metadata = plan.metadata;
  const segment seg = s_.open_or_create("ooc", plan.layout, opts, [&](draft& d) { formats::fill(d, plan); });
  ASSERT_NO_FATAL_FAILURE(test::expect_segment_holds(seg, expected));
}

}  // namespace
}  // namespace onecopy
