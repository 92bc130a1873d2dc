// SPDX-License-Identifier: Apache-2.0
// The CUDA path on a real device (ctest label `gpu`). Without one every test skips with the
// probe's one-line reason. Device memory comes from onecopy's own API (device_array,
// device_buffer): tests include no CUDA header.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "onecopy/engine/store.hpp"
#include "onecopy/kernels/device_buffer.hpp"
#include "onecopy/kernels/device_copy.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/kernels/host_registration.hpp"
#include "onecopy/kernels/kernels.hpp"
#include "onecopy/serve/client.hpp"
#include "onecopy/units.hpp"
#include "large_input.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

using kernels::backend;

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!gpu::probe().available) GTEST_SKIP() << gpu::probe().reason;
    dir_ = std::make_unique<test::temp_dir>();
    store s = store::at(dir_->path());
    draft d = s.create("t", layout::bundle({{"emb", dtype::f32, {1000, 64}}, {"ids", dtype::i64, {4097}}, {"h", dtype::f16, {333}}}));
    auto b = d.bytes();
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::byte>((i * 2654435761u) >> 13);
    seg_.emplace(std::move(d).publish());
  }
  std::unique_ptr<test::temp_dir> dir_;
  std::optional<segment> seg_;
};

TEST_F(GpuTest, ProbeDescribesEveryDevice) {
  for (const auto& d : gpu::probe().devices) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_TRUE(d.uuid.starts_with("GPU-")) << d.uuid;
    EXPECT_EQ(d.pci_bus_id.size(), 12u) << d.pci_bus_id;
    EXPECT_GT(d.memory_bytes, 0u);
    for (const auto& n : d.notes) ADD_FAILURE() << "cuda:" << d.ordinal << ": " << n;
  }
}

TEST_F(GpuTest, KernelsOnAProcessCopyMatchTheCpu) {
  const auto arr = gpu::device_array::copy_of(store::at(dir_->path()).attach("t"), 0);
  EXPECT_EQ(kernels::checksum(backend::cuda, {arr.data(), arr.size()}), seg_->info().checksum);
  for (const char* name : {"emb", "ids", "h"}) {
    const auto gpu = kernels::reduce(backend::cuda, arr.tensor(name));
    const auto cpu = kernels::reduce(backend::openmp, seg_->tensor(name));
    EXPECT_EQ(gpu.count, cpu.count) << name;
    EXPECT_EQ(gpu.nan_count, cpu.nan_count) << name;
    if (std::holds_alternative<double>(cpu.sum)) {
      EXPECT_NEAR(kernels::to_double(gpu.sum), kernels::to_double(cpu.sum), 1e-6 * std::abs(kernels::to_double(cpu.sum)) + 1e-9) << name;
    } else {
      EXPECT_EQ(gpu.sum, cpu.sum) << name;
    }
    EXPECT_EQ(gpu.min, cpu.min) << name;
    EXPECT_EQ(gpu.max, cpu.max) << name;
  }
  EXPECT_TRUE(kernels::compare(backend::cuda, {arr.data(), arr.size()}, seg_->bytes()).equal);
}

TEST_F(GpuTest, GatherOnTheDeviceMatchesTheCpu) {
  const auto arr = gpu::device_array::copy_of(store::at(dir_->path()).attach("t"), 0);
  const std::vector<std::int64_t> idx = {0, 999, 3, 3, 500};
  auto d_idx = gpu::device_buffer::allocate(idx.size() * 8);
  d_idx.upload(std::as_bytes(std::span(idx)));
  auto d_out = gpu::device_buffer::allocate(idx.size() * 256);
  kernels::gather_rows(backend::cuda, arr.tensor("emb").bytes, 256,
                       std::span<const std::int64_t>(reinterpret_cast<const std::int64_t*>(d_idx.data()), idx.size()),
                       {d_out.data(), d_out.size()});
  std::vector<std::byte> got(d_out.size()), want(d_out.size());
  d_out.download(got);
  kernels::gather_rows(backend::serial, seg_->tensor("emb").bytes, 256, std::span<const std::int64_t>(idx), want);
  EXPECT_EQ(got, want);
}

TEST_F(GpuTest, CompareFindsADifferenceOnTheDevice) {
  auto buf = gpu::device_buffer::allocate(seg_->bytes().size());
  std::vector<std::byte> host(seg_->bytes().begin(), seg_->bytes().end());
  host[100'000] ^= std::byte{1};
  buf.upload(host);
  const auto c = kernels::compare(backend::cuda, {buf.data(), buf.size()}, seg_->bytes());
  EXPECT_EQ(c.first_mismatch, 100'000u);
  EXPECT_EQ(c.differing_words, 1u);
}

TEST(GpuLargeTest, MoreThan2To31ElementsOnTheDevice) {
  if (!gpu::probe().available) GTEST_SKIP() << gpu::probe().reason;
  const test::large_input in;
  auto buf = gpu::device_buffer::allocate(test::large_elements);
  buf.upload(in.data());
  test::expect_large_input_right(backend::cuda, in, {buf.data(), buf.size()});
}

TEST_F(GpuTest, KernelsReadDataOnTheLastDevice) {
  // On a multi-GPU host the data is on another device than the current one (cuda:0).
  const int last = static_cast<int>(gpu::probe().devices.size()) - 1;
  auto buf = gpu::device_buffer::allocate(seg_->bytes().size(), last);
  buf.upload(seg_->bytes());
  EXPECT_EQ(kernels::checksum(backend::cuda, {buf.data(), buf.size()}), seg_->info().checksum);
  EXPECT_TRUE(kernels::compare(backend::cuda, {buf.data(), buf.size()}, seg_->bytes()).equal);
}

TEST_F(GpuTest, RegistrationGivesAZeroCopyPointer) {
  const auto reg = gpu::host_registration::of(*seg_);
  if (reg.mode() == gpu::register_mode::none) GTEST_SKIP() << "not registered: " << reg.reason();
  EXPECT_FALSE(reg.chunks().empty());
  ASSERT_NE(reg.device_data(), nullptr);
  EXPECT_EQ(kernels::checksum(backend::cuda, {reg.device_data(), reg.host_data().size()}), seg_->info().checksum);
}

TEST_F(GpuTest, TheServerSharesOneDeviceCopyThatImportsVerify) {
  auto server = test::spawn({test::built("onecopy").string(), "serve"}, {{"ONECOPY_DIR", dir_->path().string()}},
                            {.capture_stdout = true});
  const std::string ready = test::read_line(server.stdout_fd);
  ASSERT_TRUE(ready.starts_with("onecopy serve: listening on ")) << ready;
  {
    test::scoped_env e("ONECOPY_DIR", dir_->path().string());
    auto c2 = serve::client::connect(serve::default_socket_path());
    const auto a = c2.device_array("t", 0);
    for (const auto& r : a.reasons()) std::printf("note: %s\n", r.c_str());
    EXPECT_EQ(kernels::checksum(backend::cuda, {a.data(), a.size()}), seg_->info().checksum);
    EXPECT_EQ(a.tensors().size(), 3u);
  }
  ::kill(server.pid, SIGTERM);
  EXPECT_EQ(test::exit_code(test::wait_for(server.pid)), 0);
  ::close(server.stdout_fd);
}

}  // namespace
}  // namespace onecopy
