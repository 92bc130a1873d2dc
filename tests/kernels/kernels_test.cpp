// SPDX-License-Identifier: Apache-2.0
// The Thrust kernels on the serial (CPP) and OpenMP backends, against plain serial references,
// on segments made by the engine: f32, f16/bf16 as raw bits, i64, odd sizes, empty tensors. The
// checksum must equal the engine's chunked xxh3 (libxxhash) bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "onecopy/engine/checksum.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/kernels/kernels.hpp"
#include "onecopy/units.hpp"
#include "large_input.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

using kernels::backend;

std::vector<std::byte> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v) b = static_cast<std::byte>(rng());
  return v;
}

// ---- references: obvious loops ----------------------------------------------------------------

double half_to_double(std::uint16_t h) {
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant ? std::numeric_limits<double>::quiet_NaN() : sign * std::numeric_limits<double>::infinity();
  return sign * std::ldexp(1024 + mant, exp - 25);
}
double bf16_to_double(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

struct float_ref {
  std::uint64_t count = 0, nans = 0;
  double sum = 0, min = std::numeric_limits<double>::infinity(), max = -std::numeric_limits<double>::infinity();
  void add(double v) {
    ++count;
    sum += v;
    if (std::isnan(v)) {
      ++nans;
      return;
    }
    min = std::min(min, v);
    max = std::max(max, v);
  }
};

void expect_float_reduction(const kernels::reduction& r, const float_ref& ref) {
  EXPECT_EQ(r.count, ref.count);
  EXPECT_EQ(r.nan_count, ref.nans);
  const double sum = std::get<double>(r.sum);
  if (std::isnan(ref.sum)) {
    EXPECT_TRUE(std::isnan(sum));
  } else if (std::isinf(ref.sum)) {
    EXPECT_EQ(sum, ref.sum);
  } else {
    EXPECT_NEAR(sum, ref.sum, 1e-9 * std::max(1.0, std::abs(ref.sum)));  // summation order differs
  }
  if (ref.count == ref.nans) {
    EXPECT_TRUE(std::holds_alternative<std::monostate>(r.min));
    EXPECT_TRUE(std::holds_alternative<std::monostate>(r.max));
  } else {
    EXPECT_EQ(std::get<double>(r.min), ref.min);
    EXPECT_EQ(std::get<double>(r.max), ref.max);
  }
}

// ---- fixture: a private store and one bundle segment of several dtypes -------------------------

class KernelsTest : public ::testing::TestWithParam<backend> {
 protected:
  static constexpr std::uint64_t n_f32 = 100'003, n_f16 = 4'099, n_bf16 = 777, n_i64 = 33'333;

  void SetUp() override {
    dir_ = std::make_unique<test::temp_dir>();
    store_ = std::make_unique<store>(store::at(dir_->path()));
    const auto l = layout::bundle({{"w_f32", dtype::f32, {n_f32}},
                                   {"w_f16", dtype::f16, {n_f16}},
                                   {"w_bf16", dtype::bf16, {7, 111}},
                                   {"ids", dtype::i64, {n_i64}},
                                   {"none", dtype::f32, {0, 5}}});
    draft d = store_->create("bundle", l);
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<float> u(-3.0f, 3.0f);
    auto f32 = d.tensor_bytes("w_f32");
    for (std::uint64_t i = 0; i < n_f32; ++i) {
      const float v = u(rng);
      std::memcpy(f32.data() + 4 * i, &v, 4);
    }
    // f16/bf16 as raw bits: every pattern class, NaN and infinities included.
    auto f16 = d.tensor_bytes("w_f16");
    for (std::uint64_t i = 0; i < n_f16; ++i) {
      const auto bits = static_cast<std::uint16_t>(i * 16u + (i >> 8));
      std::memcpy(f16.data() + 2 * i, &bits, 2);
    }
    const std::uint16_t specials[] = {0x7C00, 0xFC00, 0x7E00, 0x0001, 0x8000, 0x03FF};  // ±inf, NaN, subnormals, -0
    std::memcpy(f16.data(), specials, sizeof specials);
    auto bf16 = d.tensor_bytes("w_bf16");
    for (std::uint64_t i = 0; i < n_bf16; ++i) {
      const auto bits = static_cast<std::uint16_t>(rng());
      std::memcpy(bf16.data() + 2 * i, &bits, 2);
    }
    auto ids = d.tensor_bytes("ids");
    for (std::uint64_t i = 0; i < n_i64; ++i) {
      const std::int64_t v = static_cast<std::int64_t>(rng());  // full range: the sum wraps
      std::memcpy(ids.data() + 8 * i, &v, 8);
    }
    seg_.emplace(std::move(d).publish());
  }
  void TearDown() override {
    seg_.reset();
    store_.reset();
    dir_.reset();
  }

  std::unique_ptr<test::temp_dir> dir_;
  std::unique_ptr<store> store_;
  std::optional<segment> seg_;
};

TEST_P(KernelsTest, ChecksumOfASegmentEqualsItsHeader) {
  EXPECT_EQ(kernels::checksum(GetParam(), seg_->bytes()), seg_->info().checksum);
}

TEST_P(KernelsTest, ChecksumEqualsLibxxhashForEveryLengthClass) {
  // 0-16, 17-128, 129-240 (short paths), 241-1024 (no full block), block edges, and several
  // 16 MiB chunks with a short last one, at the tail of a buffer so reads end at its end.
  std::vector<std::size_t> sizes;
  for (std::size_t n = 0; n <= 300; ++n) sizes.push_back(n);
  for (std::size_t n : {1023u, 1024u, 1025u, 2047u, 2048u, 2049u, 4096u + 7u, 65'536u + 63u}) sizes.push_back(n);
  const auto data = random_bytes(33 * MiB + 5, 7);
  for (std::size_t n : sizes) {
    const std::span<const std::byte> s(data.data(), n);
    ASSERT_EQ(kernels::checksum(GetParam(), s), segment_checksum(s)) << n << " bytes";
  }
  for (std::size_t n : {16 * MiB - 1, 16 * MiB, 16 * MiB + 1, 16 * MiB + 241, 33 * MiB + 5}) {
    const std::span<const std::byte> s(data.data(), n);
    EXPECT_EQ(kernels::checksum(GetParam(), s), segment_checksum(s)) << n << " bytes";
  }
}

TEST_P(KernelsTest, ChecksumOfNothingIsTheEmptyCombination) {
  EXPECT_EQ(kernels::checksum(GetParam(), {}), segment_checksum({}));
}

TEST_P(KernelsTest, ChecksumRefusesUnalignedData) {
  const auto data = random_bytes(64, 1);
  EXPECT_THROW((void)kernels::checksum(GetParam(), std::span<const std::byte>(data).subspan(1)), usage_error);
}

TEST_P(KernelsTest, ReducesF32LikeASerialLoopInDouble) {
  const auto v = seg_->tensor("w_f32").as<float>();
  float_ref ref;
  for (float x : v) ref.add(x);
  expect_float_reduction(kernels::reduce(GetParam(), seg_->tensor("w_f32")), ref);
}

TEST_P(KernelsTest, DecodesF16AndBf16FromRawBits) {
  const auto h = seg_->tensor("w_f16").as<std::uint16_t>();
  float_ref ref16;
  for (auto x : h) ref16.add(half_to_double(x));
  const auto r16 = kernels::reduce(GetParam(), seg_->tensor("w_f16"));
  EXPECT_GT(r16.nan_count, 0u);
  EXPECT_EQ(std::get<double>(r16.min), -std::numeric_limits<double>::infinity());
  expect_float_reduction(r16, ref16);

  const auto b = seg_->tensor("w_bf16").as<std::uint16_t>();
  float_ref refb;
  for (auto x : b) refb.add(bf16_to_double(x));
  expect_float_reduction(kernels::reduce(GetParam(), seg_->tensor("w_bf16")), refb);
}

TEST_P(KernelsTest, SumsI64ExactlyModulo2To64) {
  const auto v = seg_->tensor("ids").as<std::int64_t>();
  std::uint64_t sum = 0;
  for (auto x : v) sum += static_cast<std::uint64_t>(x);
  const auto r = kernels::reduce(GetParam(), seg_->tensor("ids"));
  EXPECT_EQ(r.count, v.size());
  EXPECT_EQ(std::get<std::int64_t>(r.sum), static_cast<std::int64_t>(sum));
  EXPECT_EQ(std::get<std::int64_t>(r.min), *std::min_element(v.begin(), v.end()));
  EXPECT_EQ(std::get<std::int64_t>(r.max), *std::max_element(v.begin(), v.end()));
}

TEST_P(KernelsTest, ReducesEveryIntegerWidthAtOddSizes) {
  const auto raw = random_bytes(8 * 1001, 3);
  for (dtype t : {dtype::u8, dtype::i8, dtype::u16, dtype::i16, dtype::u32, dtype::i32, dtype::u64, dtype::boolean}) {
    const std::size_t size = dtype_size(t);
    const std::size_t n = 1001 - size;  // odd counts
    const std::span<const std::byte> data(raw.data(), n * size);
    const bool is_signed = t == dtype::i8 || t == dtype::i16 || t == dtype::i32;
    std::uint64_t sum = 0;
    std::int64_t smin = INT64_MAX, smax = INT64_MIN;
    std::uint64_t umin = UINT64_MAX, umax = 0;
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t u = 0;
      std::memcpy(&u, data.data() + i * size, size);
      std::int64_t s = 0;
      if (size == 1) s = static_cast<std::int8_t>(u);
      if (size == 2) s = static_cast<std::int16_t>(u);
      if (size == 4) s = static_cast<std::int32_t>(u);
      const std::uint64_t add = is_signed ? static_cast<std::uint64_t>(s) : u;
      sum += add;
      smin = std::min(smin, s), smax = std::max(smax, s), umin = std::min(umin, u), umax = std::max(umax, u);
    }
    const auto r = kernels::reduce(GetParam(), t, data);
    EXPECT_EQ(r.count, n) << dtype_name(t);
    if (is_signed) {
      EXPECT_EQ(std::get<std::int64_t>(r.sum), static_cast<std::int64_t>(sum)) << dtype_name(t);
      EXPECT_EQ(std::get<std::int64_t>(r.min), smin) << dtype_name(t);
      EXPECT_EQ(std::get<std::int64_t>(r.max), smax) << dtype_name(t);
    } else {
      EXPECT_EQ(std::get<std::uint64_t>(r.sum), sum) << dtype_name(t);
      EXPECT_EQ(std::get<std::uint64_t>(r.min), umin) << dtype_name(t);
      EXPECT_EQ(std::get<std::uint64_t>(r.max), umax) << dtype_name(t);
    }
  }
}

TEST_P(KernelsTest, AnEmptyTensorReducesToNothing) {
  const auto r = kernels::reduce(GetParam(), seg_->tensor("none"));
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(std::get<double>(r.sum), 0.0);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(r.min));
  EXPECT_TRUE(std::holds_alternative<std::monostate>(r.max));
}

TEST_P(KernelsTest, RefusesDtypesItCannotReduceAndRaggedSizes) {
  const auto raw = random_bytes(64, 3);
  EXPECT_THROW((void)kernels::reduce(GetParam(), dtype::c64, raw), usage_error);
  EXPECT_THROW((void)kernels::reduce(GetParam(), dtype::f32, std::span<const std::byte>(raw).first(10)), usage_error);
}

TEST_P(KernelsTest, GathersEmbeddingRowsLikeALoop) {
  // Rows of 111 f32 (word copies) and rows of 3 f16 = 6 bytes (byte copies).
  for (std::uint64_t row_bytes : {std::uint64_t{4 * 111}, std::uint64_t{6}}) {
    const auto table = seg_->tensor("w_f32").bytes.first(row_bytes * 800);
    const std::uint64_t rows = table.size() / row_bytes;
    std::vector<std::int64_t> idx64 = {0, static_cast<std::int64_t>(rows - 1), 5, 5, 17, 400, 1};
    std::vector<std::int32_t> idx32(idx64.begin(), idx64.end());
    std::vector<std::byte> expect(idx64.size() * row_bytes);
    for (std::size_t k = 0; k < idx64.size(); ++k)
      std::memcpy(expect.data() + k * row_bytes, table.data() + static_cast<std::uint64_t>(idx64[k]) * row_bytes, row_bytes);
    std::vector<std::byte> out(expect.size());
    kernels::gather_rows(GetParam(), table, row_bytes, std::span<const std::int64_t>(idx64), out);
    EXPECT_EQ(out, expect) << "int64 indices, rows of " << row_bytes;
    std::fill(out.begin(), out.end(), std::byte{0});
    kernels::gather_rows(GetParam(), table, row_bytes, std::span<const std::int32_t>(idx32), out);
    EXPECT_EQ(out, expect) << "int32 indices, rows of " << row_bytes;
  }
}

TEST_P(KernelsTest, GatherNamesTheFirstBadIndexAndWritesNothing) {
  const auto table = seg_->tensor("ids").bytes;  // rows of one i64
  const std::vector<std::int64_t> idx = {1, 2, static_cast<std::int64_t>(n_i64), -1};
  std::vector<std::byte> out(idx.size() * 8, std::byte{0x5a});
  try {
    kernels::gather_rows(GetParam(), table, 8, std::span<const std::int64_t>(idx), out);
    FAIL() << "expected usage_error";
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("indices[2] = 33333"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](std::byte b) { return b == std::byte{0x5a}; }));
  EXPECT_THROW(kernels::gather_rows(GetParam(), table, 8, std::span<const std::int64_t>(idx), std::span<std::byte>(out).first(8)),
               usage_error);
}

TEST_P(KernelsTest, CompareFindsTheFirstDifferenceAndCountsWords) {
  const auto host = seg_->bytes();
  std::vector<std::byte> copy(host.begin(), host.end());
  auto same = kernels::compare(GetParam(), copy, host);
  EXPECT_TRUE(same.equal);
  EXPECT_FALSE(same.first_mismatch.has_value());
  copy[12'345] ^= std::byte{0x10};
  copy[12'346] ^= std::byte{0x01};  // same word
  copy[copy.size() - 1] ^= std::byte{0xff};
  auto diff = kernels::compare(GetParam(), copy, host);
  EXPECT_FALSE(diff.equal);
  EXPECT_EQ(diff.first_mismatch, 12'345u);
  EXPECT_EQ(diff.differing_words, 2u);
  // Unaligned ranges take the byte path.
  auto odd = kernels::compare(GetParam(), std::span<const std::byte>(copy).subspan(3, 20'000), host.subspan(3, 20'000));
  EXPECT_EQ(odd.first_mismatch, 12'342u);
  EXPECT_THROW((void)kernels::compare(GetParam(), copy, host.first(10)), usage_error);
}

INSTANTIATE_TEST_SUITE_P(CpuBackends, KernelsTest, ::testing::Values(backend::serial, backend::openmp),
                         [](const auto& p) { return std::string(kernels::to_string(p.param)); });

// ---- more than 2^31 elements (the CUDA half is in gpu_test.cpp) --------------------------------

TEST(KernelsLargeTest, MoreThan2To31ElementsOnOpenMp) {
  const test::large_input in;
  test::expect_large_input_right(backend::openmp, in, in.data());
}

// ---- the CUDA backend without a device: a clean error, never an abort --------------------------

TEST(CudaBackendTest, WithoutADeviceEveryKernelThrowsTheProbeReason) {
  if (kernels::available(backend::cuda)) GTEST_SKIP() << "a CUDA device is present (see kernels_gpu_test)";
  const auto data = random_bytes(4096, 1);
  const std::string reason = gpu::probe().reason;
  ASSERT_FALSE(reason.empty());
  try {
    (void)kernels::checksum(backend::cuda, data);
    FAIL() << "expected gpu_error";
  } catch (const gpu::gpu_error& e) {
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)kernels::reduce(backend::cuda, dtype::u8, data), gpu::gpu_error);
  EXPECT_THROW((void)kernels::compare(backend::cuda, data, data), gpu::gpu_error);
}

}  // namespace
}  // namespace onecopy
