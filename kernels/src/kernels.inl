// SPDX-License-Identifier: Apache-2.0
// The one Thrust source of onecopy's kernels: chunked xxh3 checksum, sum/min/max per dtype,
// row gather (embedding lookup) and compare. kernels_cpp.cpp, kernels_omp.cpp and
// kernels_cuda.cu include it after naming their namespace (ONECOPY_KERNELS_NS) and Thrust system
// (ONECOPY_THRUST_SYSTEM: cpp, omp or cuda), so the same code runs serially, on OpenMP threads
// and on a GPU. Raw const pointers in; every algorithm gets the system's own policy (sys::par)
// and temporaries are the system's own vector type: no Thrust template is instantiated with the
// same name and a different body in two TUs of one binary (which `thrust::device` and
// thrust::device_vector would be, since they follow THRUST_DEVICE_SYSTEM).
#if !defined(ONECOPY_KERNELS_NS) || !defined(ONECOPY_THRUST_SYSTEM)
#error "define ONECOPY_KERNELS_NS and ONECOPY_THRUST_SYSTEM before including kernels.inl"
#endif

#if defined(__CUDACC__)
#define ONECOPY_HD __host__ __device__
#else
#define ONECOPY_HD
#endif

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <thrust/copy.h>
#include <thrust/find.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform.h>
#include <thrust/transform_reduce.h>

#include "backend_api.hpp"
#include "xxh3.hpp"

namespace onecopy::kernels::ONECOPY_KERNELS_NS {
namespace {

using u8 = unsigned char;
using u64 = std::uint64_t;
using i64 = std::int64_t;
using detail::elem_kind;
namespace sys = thrust::ONECOPY_THRUST_SYSTEM;
template <class T>
using sys_vector = sys::vector<T>;

constexpr u64 chunk_size = u64{16} << 20;  // must equal onecopy::checksum_chunk_size
constexpr u64 lanes = 8;
constexpr u64 chunks_per_batch = 64;       // bounds the lane-sum temporary to 64 MiB

// Thrust counts with signed differences: build the bounds from unsigned counts explicitly.
inline thrust::counting_iterator<u64> index_at(u64 i) { return thrust::counting_iterator<u64>(i); }

ONECOPY_HD inline u64 chunk_length(u64 chunk, u64 size) {
  const u64 begin = chunk * chunk_size;
  return size - begin < chunk_size ? size - begin : chunk_size;
}

// ---- checksum: three passes per batch of chunks -----------------------------------------------
// Why the engine's own checksum (chunked xxh3-64) and not a second, GPU-friendlier one: the
// owner verifies a device copy against the value already in the segment header, so no extra
// CPU pass over the data is needed (that would cost as much as the copy), and there is one
// definition of "intact" everywhere (publish, `onecopy verify`, device copies). XXH3's long loop
// parallelizes well enough: per 1 KiB block and accumulator lane the 16 stripe products are a
// plain sum (pass 1, fully parallel); only the scramble between blocks is sequential — 16383
// dependent multiply-xor steps per chunk and lane (pass 2, one thread per chunk × 8 lanes),
// a fraction of a millisecond; chunks are independent. Tests compare it bit for bit with
// libxxhash on every length class.

// Pass 1, one thread per (chunk, block, lane): the lane's sum over the block's 16 stripes.
struct block_sums_fn {
  const u8* data;
  u64 size, first_chunk, blocks_per_chunk;
  ONECOPY_HD u64 operator()(u64 t) const {
    const u64 lane = t % lanes;
    const u64 block = (t / lanes) % blocks_per_chunk;
    const u64 chunk = first_chunk + t / lanes / blocks_per_chunk;
    if (block >= xxh3::long_blocks(chunk_length(chunk, size))) return 0;
    return xxh3::block_lane_sum(data + chunk * chunk_size + block * xxh3::block_len, lane);
  }
};

// Pass 2, one thread per (chunk, lane): the sequential scramble chain, then the tail stripes.
struct lane_chain_fn {
  const u8* data;
  const u64* sums;
  u64* accs;
  u64 size, first_chunk, blocks_per_chunk;
  ONECOPY_HD void operator()(u64 t) const {
    const u64 lane = t % lanes;
    const u64 chunk = first_chunk + t / lanes;
    const u64 len = chunk_length(chunk, size);
    if (len <= xxh3::midsize_max) {
      accs[t] = 0;
      return;
    }
    u64 acc = xxh3::init_acc(lane);
    const u64 blocks = xxh3::long_blocks(len);  // <= blocks_per_chunk
    if (blocks > 0) {
      const u64* s = sums + (t / lanes) * blocks_per_chunk * lanes + lane;
      for (u64 b = 0; b < blocks; ++b) acc = xxh3::scramble(acc + s[b * lanes], lane);
    }
    accs[t] = xxh3::finish_lane(acc, data + chunk * chunk_size, len, lane);
  }
};

// Pass 3, one thread per chunk: merge the lanes (or hash a short last chunk directly).
struct digest_fn {
  const u8* data;
  const u64* accs;
  u64 size, first_chunk;
  ONECOPY_HD u64 operator()(u64 c) const {
    const u64 chunk = first_chunk + c;
    const u64 len = chunk_length(chunk, size);
    const u8* p = data + chunk * chunk_size;
    if (len <= xxh3::midsize_max) return xxh3::hash_short(p, len);
    return xxh3::merge_lanes(accs + c * lanes, len);
  }
};

// ---- reductions -------------------------------------------------------------------------------

struct int_acc {
  u64 count, sum;
  i64 min, max;
};
struct uint_acc {
  u64 count, sum, min, max;
};
struct float_acc {
  u64 count, nans;
  double sum, min, max;
};

template <class T>
ONECOPY_HD inline T load(const u8* base, u64 i) {
  return reinterpret_cast<const T*>(base)[i];
}

ONECOPY_HD inline float bits_to_float(std::uint32_t bits) {
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}
// IEEE binary16 → float, exactly (subnormals, infinities and NaN included).
ONECOPY_HD inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  const std::uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;  // mant × 2^-24
    return sign ? -v : v;
  }
  if (exp == 31) return bits_to_float(sign | 0x7f800000u | (mant << 13));
  return bits_to_float(sign | ((exp + 112u) << 23) | (mant << 13));
}
ONECOPY_HD inline float bfloat16_to_float(std::uint16_t b) { return bits_to_float(static_cast<std::uint32_t>(b) << 16); }

struct load_int_fn {
  const u8* data;
  elem_kind kind;
  ONECOPY_HD int_acc operator()(u64 i) const {
    i64 v = 0;
    switch (kind) {
      case elem_kind::i8: v = load<std::int8_t>(data, i); break;
      case elem_kind::i16: v = load<std::int16_t>(data, i); break;
      case elem_kind::i32: v = load<std::int32_t>(data, i); break;
      default: v = load<i64>(data, i); break;
    }
    return {1, static_cast<u64>(v), v, v};
  }
};
struct load_uint_fn {
  const u8* data;
  elem_kind kind;
  ONECOPY_HD uint_acc operator()(u64 i) const {
    u64 v = 0;
    switch (kind) {
      case elem_kind::u8: v = load<std::uint8_t>(data, i); break;
      case elem_kind::u16: v = load<std::uint16_t>(data, i); break;
      case elem_kind::u32: v = load<std::uint32_t>(data, i); break;
      default: v = load<u64>(data, i); break;
    }
    return {1, v, v, v};
  }
};
struct load_float_fn {
  const u8* data;
  elem_kind kind;
  ONECOPY_HD float_acc operator()(u64 i) const {
    double v = 0;
    switch (kind) {
      case elem_kind::f16: v = half_to_float(load<std::uint16_t>(data, i)); break;
      case elem_kind::bf16: v = bfloat16_to_float(load<std::uint16_t>(data, i)); break;
      case elem_kind::f32: v = load<float>(data, i); break;
      default: v = load<double>(data, i); break;
    }
    if (v != v) return {1, 1, v, std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
    return {1, 0, v, v, v};
  }
};

struct combine_fn {
  ONECOPY_HD int_acc operator()(const int_acc& a, const int_acc& b) const {
    return {a.count + b.count, a.sum + b.sum, a.min < b.min ? a.min : b.min, a.max > b.max ? a.max : b.max};
  }
  ONECOPY_HD uint_acc operator()(const uint_acc& a, const uint_acc& b) const {
    return {a.count + b.count, a.sum + b.sum, a.min < b.min ? a.min : b.min, a.max > b.max ? a.max : b.max};
  }
  ONECOPY_HD float_acc operator()(const float_acc& a, const float_acc& b) const {
    return {a.count + b.count, a.nans + b.nans, a.sum + b.sum, a.min < b.min ? a.min : b.min,
            a.max > b.max ? a.max : b.max};
  }
};

// ---- gather -----------------------------------------------------------------------------------

template <class Index>
struct bad_index_fn {
  u64 rows;
  ONECOPY_HD bool operator()(Index i) const { return i < 0 || static_cast<u64>(i) >= rows; }
};

template <class Word, class Index>
struct row_word_fn {
  const Word* table;
  const Index* indices;
  u64 words_per_row;
  ONECOPY_HD Word operator()(u64 j) const {
    const u64 row = static_cast<u64>(indices[j / words_per_row]);
    return table[row * words_per_row + j % words_per_row];
  }
};

template <class Index>
detail::bad_index gather_typed(const u8* table, u64 rows, u64 row_bytes, const Index* indices, u64 count, u8* out) {
  const Index* bad = thrust::find_if(sys::par, indices, indices + count, bad_index_fn<Index>{rows});
  if (bad != indices + count) {
    const auto position = static_cast<u64>(bad - indices);
    // Copy the value within the system, then read it through the system's vector (a device
    // read under CUDA).
    sys_vector<Index> value(1);
    thrust::copy(sys::par, bad, bad + 1, value.begin());
    return {position, static_cast<i64>(value[0])};
  }
  const bool words = row_bytes % 4 == 0 && reinterpret_cast<std::uintptr_t>(table) % 4 == 0 &&
                     reinterpret_cast<std::uintptr_t>(out) % 4 == 0;
  if (words) {
    const u64 wpr = row_bytes / 4;
    auto* dst = reinterpret_cast<std::uint32_t*>(out);
    thrust::transform(sys::par, index_at(0), index_at(count * wpr), dst,
                      row_word_fn<std::uint32_t, Index>{reinterpret_cast<const std::uint32_t*>(table), indices, wpr});
  } else {
    thrust::transform(sys::par, index_at(0), index_at(count * row_bytes), out,
                      row_word_fn<u8, Index>{table, indices, row_bytes});
  }
  return {};
}

// ---- compare ----------------------------------------------------------------------------------

struct diff_acc {
  u64 first, words;
};
ONECOPY_HD inline u64 lowest_set_bit(u64 x) {
#if defined(__CUDA_ARCH__)
  return static_cast<u64>(__ffsll(static_cast<long long>(x)) - 1);
#else
  return static_cast<u64>(__builtin_ctzll(x));
#endif
}
template <bool Aligned>
struct word_diff_fn {
  const u8* a;
  const u8* b;
  u64 size;
  ONECOPY_HD diff_acc operator()(u64 w) const {
    const u64 begin = w * 8;
    if (Aligned && begin + 8 <= size) {
      const u64 x = xxh3::load64_aligned(a + begin) ^ xxh3::load64_aligned(b + begin);
      if (x == 0) return {UINT64_MAX, 0};
      return {begin + lowest_set_bit(x) / 8, 1};  // little-endian: the lowest byte comes first
    }
    for (u64 i = begin; i < size && i < begin + 8; ++i)
      if (a[i] != b[i]) return {i, 1};
    return {UINT64_MAX, 0};
  }
};
struct diff_combine_fn {
  ONECOPY_HD diff_acc operator()(const diff_acc& x, const diff_acc& y) const {
    return {x.first < y.first ? x.first : y.first, x.words + y.words};
  }
};

}  // namespace

// ---- entry points (declared in backend_api.hpp) -----------------------------------------------

void chunk_digests(const unsigned char* data, std::uint64_t size, std::uint64_t* digests) {
  const u64 chunks = (size + chunk_size - 1) / chunk_size;
  sys_vector<u64> sums;
  sys_vector<u64> accs;
  sys_vector<u64> out;
  for (u64 c0 = 0; c0 < chunks; c0 += chunks_per_batch) {
    const u64 n = chunks - c0 < chunks_per_batch ? chunks - c0 : chunks_per_batch;
    // The batch's first chunk is its longest: it sets the stride of the lane sums.
    const u64 blocks = xxh3::long_blocks(chunk_length(c0, size));
    sums.resize(n * blocks * lanes);
    accs.resize(n * lanes);
    out.resize(n);
    u64* s = thrust::raw_pointer_cast(sums.data());
    u64* a = thrust::raw_pointer_cast(accs.data());
    if (blocks > 0)
      thrust::transform(sys::par, index_at(0), index_at(n * blocks * lanes), s, block_sums_fn{data, size, c0, blocks});
    thrust::for_each(sys::par, index_at(0), index_at(n * lanes), lane_chain_fn{data, s, a, size, c0, blocks});
    thrust::transform(sys::par, index_at(0), index_at(n), out.begin(), digest_fn{data, a, size, c0});
    thrust::copy(out.begin(), out.end(), digests + c0);
  }
}

detail::raw_reduction reduce(detail::elem_kind kind, const unsigned char* data, std::uint64_t count) {
  detail::raw_reduction r;
  switch (kind) {
    case elem_kind::i8:
    case elem_kind::i16:
    case elem_kind::i32:
    case elem_kind::i64: {
      const int_acc init{0, 0, std::numeric_limits<i64>::max(), std::numeric_limits<i64>::min()};
      const int_acc x = thrust::transform_reduce(sys::par, index_at(0), index_at(count), load_int_fn{data, kind}, init, combine_fn{});
      r.kind = detail::sum_kind::signed_int;
      r.count = x.count;
      r.int_sum = x.sum;
      r.int_min = x.min;
      r.int_max = x.max;
      break;
    }
    case elem_kind::u8:
    case elem_kind::u16:
    case elem_kind::u32:
    case elem_kind::u64: {
      const uint_acc init{0, 0, std::numeric_limits<u64>::max(), 0};
      const uint_acc x = thrust::transform_reduce(sys::par, index_at(0), index_at(count), load_uint_fn{data, kind}, init, combine_fn{});
      r.kind = detail::sum_kind::unsigned_int;
      r.count = x.count;
      r.int_sum = x.sum;
      r.uint_min = x.min;
      r.uint_max = x.max;
      break;
    }
    default: {
      const double inf = std::numeric_limits<double>::infinity();
      const float_acc init{0, 0, 0.0, inf, -inf};
      const float_acc x = thrust::transform_reduce(sys::par, index_at(0), index_at(count), load_float_fn{data, kind}, init, combine_fn{});
      r.kind = detail::sum_kind::floating;
      r.count = x.count;
      r.nan_count = x.nans;
      r.float_sum = x.sum;
      r.float_min = x.min;
      r.float_max = x.max;
      break;
    }
  }
  return r;
}

detail::bad_index gather_rows(const unsigned char* table, std::uint64_t rows, std::uint64_t row_bytes,
                              const void* indices, bool index64, std::uint64_t count, unsigned char* out) {
  if (index64) return gather_typed(table, rows, row_bytes, static_cast<const i64*>(indices), count, out);
  return gather_typed(table, rows, row_bytes, static_cast<const std::int32_t*>(indices), count, out);
}

detail::raw_comparison compare(const unsigned char* a, const unsigned char* b, std::uint64_t size) {
  const u64 words = (size + 7) / 8;
  const diff_acc init{UINT64_MAX, 0};
  const bool aligned = reinterpret_cast<std::uintptr_t>(a) % 8 == 0 && reinterpret_cast<std::uintptr_t>(b) % 8 == 0;
  const diff_acc d = aligned
      ? thrust::transform_reduce(sys::par, index_at(0), index_at(words), word_diff_fn<true>{a, b, size}, init, diff_combine_fn{})
      : thrust::transform_reduce(sys::par, index_at(0), index_at(words), word_diff_fn<false>{a, b, size}, init, diff_combine_fn{});
  return {d.first, d.words};
}

}  // namespace onecopy::kernels::ONECOPY_KERNELS_NS

#undef ONECOPY_HD
