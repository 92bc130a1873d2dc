// SPDX-License-Identifier: Apache-2.0
// Internal, single source for CPU and GPU. XXH3-64 (seed 0, default secret) written so that
// one 16 MiB chunk can be hashed by many threads: the long-input loop is split into
// per-1 KiB-block lane sums (parallel) and a short sequential scramble chain per lane.
// Ported from xxHash 0.8 (BSD-2-Clause, Yann Collet), whose output is frozen since 0.8.0; the
// tests compare it bit for bit with libxxhash's XXH3_64bits on every length class.
//
// Included only by kernels.inl, inside no namespace, after ONECOPY_KERNELS_NS and ONECOPY_HD
// are defined, so each backend (cpp_k, omp_k, cuda_k) gets its own copy and no inline function
// is defined twice with different attributes.
#pragma once

#include <cstdint>
#include <cstring>

namespace onecopy::kernels::ONECOPY_KERNELS_NS::xxh3 {

using u8 = unsigned char;
using u32 = std::uint32_t;
using u64 = std::uint64_t;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "onecopy's kernels read data as little-endian");

constexpr u64 prime32_1 = 0x9E3779B1u;
constexpr u64 prime32_2 = 0x85EBCA77u;
constexpr u64 prime32_3 = 0xC2B2AE3Du;
constexpr u64 prime64_1 = 0x9E3779B185EBCA87ull;
constexpr u64 prime64_2 = 0xC2B2AE3D27D4EB4Full;
constexpr u64 prime64_3 = 0x165667B19E3779F9ull;
constexpr u64 prime64_4 = 0x85EBCA77C2B2AE63ull;
constexpr u64 prime64_5 = 0x27D4EB2F165667C5ull;

constexpr u64 stripe_len = 64;
constexpr u64 block_len = 1024;   // 16 stripes per block with the 192-byte default secret
constexpr u64 midsize_max = 240;  // longer inputs take the block loop
constexpr u64 secret_size = 192;

// The default secret, as bytes (for unaligned reads) and as its 24 little-endian words. CUDA
// keeps a copy in constant memory; host code (also the host side of a CUDA TU) reads its own.
#define ONECOPY_XXH3_SECRET_BYTES \
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c, \
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f, \
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21, \
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c, \
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3, \
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8, \
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d, \
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64, \
    0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb, \
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e, \
    0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce, \
    0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
#define ONECOPY_XXH3_SECRET_WORDS \
    0xbe4ba423396cfeb8ull, 0x1cad21f72c81017cull, 0xdb979083e96dd4deull, \
    0x1f67b3b7a4a44072ull, 0x78e5c0cc4ee679cbull, 0x2172ffcc7dd05a82ull, \
    0x8e2443f7744608b8ull, 0x4c263a81e69035e0ull, 0xcb00c391bb52283cull, \
    0xa32e531b8b65d088ull, 0x4ef90da297486471ull, 0xd8acdea946ef1938ull, \
    0x3f349ce33f76faa8ull, 0x1d4f0bc7c7bbdcf9ull, 0x3159b4cd4be0518aull, \
    0x647378d9c97e9fc8ull, 0xc3ebd33483acc5eaull, 0xeb6313faffa081c5ull, \
    0x49daf0b751dd0d17ull, 0x9e68d429265516d3ull, 0xfca1477d58be162bull, \
    0xce31d07ad1b8f88full, 0x280416958f3acb45ull, 0x7e404bbbcafbd7afull,
static constexpr u8 host_secret_bytes[secret_size] = {ONECOPY_XXH3_SECRET_BYTES};
static constexpr u64 host_secret_words[secret_size / 8] = {ONECOPY_XXH3_SECRET_WORDS};
#if defined(__CUDACC__)
static __constant__ const u8 device_secret_bytes[secret_size] = {ONECOPY_XXH3_SECRET_BYTES};
static __constant__ const u64 device_secret_words[secret_size / 8] = {ONECOPY_XXH3_SECRET_WORDS};
#endif
#undef ONECOPY_XXH3_SECRET_BYTES
#undef ONECOPY_XXH3_SECRET_WORDS

ONECOPY_HD inline const u8* secret_bytes() {
#if defined(__CUDA_ARCH__)
  return device_secret_bytes;
#else
  return host_secret_bytes;
#endif
}
ONECOPY_HD inline const u64* secret_words() {
#if defined(__CUDA_ARCH__)
  return device_secret_words;
#else
  return host_secret_words;
#endif
}

// ---- small helpers ----------------------------------------------------------------------------

// Little-endian loads at any alignment (bytes assembled; the compiler merges them on the CPU).
ONECOPY_HD inline u64 read64(const u8* p) {
  u64 v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
ONECOPY_HD inline u32 read32(const u8* p) {
  return static_cast<u32>(p[0]) | static_cast<u32>(p[1]) << 8 | static_cast<u32>(p[2]) << 16 |
         static_cast<u32>(p[3]) << 24;
}
// An 8-byte-aligned little-endian word. pre: p % 8 == 0
ONECOPY_HD inline u64 load64_aligned(const u8* p) { return *reinterpret_cast<const u64*>(p); }

ONECOPY_HD inline u64 secret64(u64 offset) { return read64(secret_bytes() + offset); }
ONECOPY_HD inline u32 secret32(u64 offset) { return read32(secret_bytes() + offset); }
// The secret word at byte offset 8 * index.
ONECOPY_HD inline u64 secret_word(u64 index) { return secret_words()[index]; }

ONECOPY_HD inline u64 rotl64(u64 x, int r) { return (x << r) | (x >> (64 - r)); }
ONECOPY_HD inline u64 swap64(u64 x) {
  u64 r = 0;
  for (int i = 0; i < 8; ++i) r = (r << 8) | ((x >> (8 * i)) & 0xff);
  return r;
}

// Low 64 bits XOR high 64 bits of the 128-bit product.
ONECOPY_HD inline u64 mul128_fold64(u64 a, u64 b) {
#if defined(__CUDA_ARCH__)
  return (a * b) ^ __umul64hi(a, b);
#else
  const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  return static_cast<u64>(p) ^ static_cast<u64>(p >> 64);
#endif
}

ONECOPY_HD inline u64 xxh64_avalanche(u64 h) {
  h ^= h >> 33;
  h *= prime64_2;
  h ^= h >> 29;
  h *= prime64_3;
  h ^= h >> 32;
  return h;
}
ONECOPY_HD inline u64 avalanche(u64 h) {
  h ^= h >> 37;
  h *= 0x165667919E3779F9ull;
  h ^= h >> 32;
  return h;
}
ONECOPY_HD inline u64 rrmxmx(u64 h, u64 len) {
  h ^= rotl64(h, 49) ^ rotl64(h, 24);
  h *= 0x9FB21C651E98DF25ull;
  h ^= (h >> 35) + len;
  h *= 0x9FB21C651E98DF25ull;
  return h ^ (h >> 28);
}
ONECOPY_HD inline u64 mix16(const u8* in, u64 secret_offset) {
  return mul128_fold64(read64(in) ^ secret64(secret_offset), read64(in + 8) ^ secret64(secret_offset + 8));
}

// ---- inputs of at most 240 bytes (one thread) -------------------------------------------------

ONECOPY_HD inline u64 hash_0to16(const u8* in, u64 len) {
  if (len > 8) {
    const u64 lo = read64(in) ^ (secret64(24) ^ secret64(32));
    const u64 hi = read64(in + len - 8) ^ (secret64(40) ^ secret64(48));
    return avalanche(len + swap64(lo) + hi + mul128_fold64(lo, hi));
  }
  if (len >= 4) {
    const u64 in1 = read32(in);
    const u64 in2 = read32(in + len - 4);
    const u64 keyed = (in2 + (in1 << 32)) ^ (secret64(8) ^ secret64(16));
    return rrmxmx(keyed, len);
  }
  if (len > 0) {
    const u32 combined = static_cast<u32>(in[0]) << 16 | static_cast<u32>(in[len >> 1]) << 24 |
                         static_cast<u32>(in[len - 1]) | static_cast<u32>(len) << 8;
    return xxh64_avalanche(combined ^ static_cast<u64>(secret32(0) ^ secret32(4)));
  }
  return xxh64_avalanche(secret64(56) ^ secret64(64));
}

ONECOPY_HD inline u64 hash_17to128(const u8* in, u64 len) {
  u64 acc = len * prime64_1;
  if (len > 32) {
    if (len > 64) {
      if (len > 96) {
        acc += mix16(in + 48, 96);
        acc += mix16(in + len - 64, 112);
      }
      acc += mix16(in + 32, 64);
      acc += mix16(in + len - 48, 80);
    }
    acc += mix16(in + 16, 32);
    acc += mix16(in + len - 32, 48);
  }
  acc += mix16(in, 0);
  acc += mix16(in + len - 16, 16);
  return avalanche(acc);
}

ONECOPY_HD inline u64 hash_129to240(const u8* in, u64 len) {
  u64 acc = len * prime64_1;
  for (u64 i = 0; i < 8; ++i) acc += mix16(in + 16 * i, 16 * i);
  acc = avalanche(acc);
  const u64 rounds = len / 16;
  for (u64 i = 8; i < rounds; ++i) acc += mix16(in + 16 * i, 16 * (i - 8) + 3);
  acc += mix16(in + len - 16, 136 - 17);
  return avalanche(acc);
}

ONECOPY_HD inline u64 hash_short(const u8* in, u64 len) {
  if (len <= 16) return hash_0to16(in, len);
  if (len <= 128) return hash_17to128(in, len);
  return hash_129to240(in, len);
}

// ---- inputs longer than 240 bytes, one accumulator lane at a time ------------------------------
// accumulate_512 adds data word lane^1 and (key lo32 × key hi32) of data word lane to lane; the
// scramble after each full 1 KiB block depends only on that lane, so lanes are independent and
// the 16 stripes of a block can be summed before the (sequential) scramble.

ONECOPY_HD inline u64 init_acc(u64 lane) {
  switch (lane) {
    case 0: return prime32_3;
    case 1: return prime64_1;
    case 2: return prime64_2;
    case 3: return prime64_3;
    case 4: return prime64_4;
    case 5: return prime32_2;
    case 6: return prime64_5;
    default: return prime32_1;
  }
}

// Number of full blocks whose accumulation is followed by a scramble.
ONECOPY_HD inline u64 long_blocks(u64 len) { return len > midsize_max ? (len - 1) / block_len : 0; }

// One stripe's contribution to lane from aligned data and the aligned secret word index.
ONECOPY_HD inline u64 stripe_lane_aligned(const u8* stripe, u64 secret_word_index, u64 lane) {
  const u64 other = load64_aligned(stripe + 8 * (lane ^ 1));
  const u64 key = load64_aligned(stripe + 8 * lane) ^ secret_word(secret_word_index + lane);
  return other + (key & 0xFFFFFFFFull) * (key >> 32);
}
// The same from data and secret at any alignment.
ONECOPY_HD inline u64 stripe_lane(const u8* stripe, u64 secret_offset, u64 lane) {
  const u64 other = read64(stripe + 8 * (lane ^ 1));
  const u64 key = read64(stripe + 8 * lane) ^ secret64(secret_offset + 8 * lane);
  return other + (key & 0xFFFFFFFFull) * (key >> 32);
}

// Sum of the 16 stripes of one full block for lane. pre: block % 8 == 0 (address)
ONECOPY_HD inline u64 block_lane_sum(const u8* block, u64 lane) {
  u64 s = 0;
  for (u64 st = 0; st < block_len / stripe_len; ++st) s += stripe_lane_aligned(block + st * stripe_len, st, lane);
  return s;
}

ONECOPY_HD inline u64 scramble(u64 acc, u64 lane) {
  acc ^= acc >> 47;
  acc ^= secret_word((secret_size - stripe_len) / 8 + lane);
  return acc * prime32_1;
}

// After the chain over the full blocks: the last partial block and the last stripe, for lane.
// pre: len > 240, chunk % 8 == 0 (address)
ONECOPY_HD inline u64 finish_lane(u64 acc, const u8* chunk, u64 len, u64 lane) {
  const u64 blocks = long_blocks(len);
  const u64 stripes = ((len - 1) - block_len * blocks) / stripe_len;
  const u8* tail = chunk + blocks * block_len;
  for (u64 st = 0; st < stripes; ++st) acc += stripe_lane_aligned(tail + st * stripe_len, st, lane);
  return acc + stripe_lane(chunk + len - stripe_len, secret_size - stripe_len - 7, lane);
}

// The digest of a long input from its 8 finished lanes.
ONECOPY_HD inline u64 merge_lanes(const u64* acc, u64 len) {
  u64 r = len * prime64_1;
  for (u64 i = 0; i < 4; ++i)
    r += mul128_fold64(acc[2 * i] ^ secret64(11 + 16 * i), acc[2 * i + 1] ^ secret64(11 + 16 * i + 8));
  return avalanche(r);
}

}  // namespace onecopy::kernels::ONECOPY_KERNELS_NS::xxh3
