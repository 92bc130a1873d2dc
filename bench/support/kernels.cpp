// SPDX-License-Identifier: Apache-2.0
#include "kernels.hpp"

#include <thread>
#include <vector>

namespace onecopy::bench {
namespace {

std::uint64_t sum_range(const std::uint64_t* w, std::size_t words) {
  std::uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  std::size_t i = 0;
  for (; i + 8 <= words; i += 8) {
    a0 += w[i];
    a1 += w[i + 1];
    a2 += w[i + 2];
    a3 += w[i + 3];
    a4 += w[i + 4];
    a5 += w[i + 5];
    a6 += w[i + 6];
    a7 += w[i + 7];
  }
  for (; i < words; ++i) a0 += w[i];
  return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

}  // namespace

std::uint64_t sequential_sum(std::span<const std::byte> bytes, unsigned threads) {
  const auto* w = reinterpret_cast<const std::uint64_t*>(bytes.data());
  const std::size_t words = bytes.size() / 8;
  if (threads <= 1) return sum_range(w, words);
  std::vector<std::uint64_t> parts(threads, 0);
  const std::size_t per = (words / threads + 7) / 8 * 8;
  {
    std::vector<std::jthread> pool;
    for (unsigned t = 1; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const std::size_t begin = std::min(words, t * per);
        const std::size_t end = t + 1 == threads ? words : std::min(words, begin + per);
        parts[t] = sum_range(w + begin, end - begin);
      });
    }
    parts[0] = sum_range(w, std::min(words, per));
  }
  std::uint64_t total = 0;
  for (auto p : parts) total += p;
  return total;
}

std::uint64_t gather_sum(std::span<const std::uint64_t> table, std::span<const std::uint32_t> index) {
  std::uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  std::size_t i = 0;
  const std::size_t n = index.size();
  for (; i + 4 <= n; i += 4) {
    a0 += table[index[i]];
    a1 += table[index[i + 1]];
    a2 += table[index[i + 2]];
    a3 += table[index[i + 3]];
  }
  for (; i < n; ++i) a0 += table[index[i]];
  return a0 + a1 + a2 + a3;
}

std::uint64_t dependent_sum(std::span<const std::uint64_t> table, std::uint64_t steps) {
  std::uint64_t sum = 0;
  std::uint64_t at = 0;
  for (std::uint64_t k = 0; k < steps; ++k) {
    const std::uint64_t v = table[at];
    sum += v;
    std::uint64_t z = (v ^ k) * 0xBF58476D1CE4E5B9ull;
    z ^= z >> 31;
    at = static_cast<std::uint64_t>((static_cast<unsigned __int128>(z) * table.size()) >> 64);
  }
  return sum;
}

void random_indices(std::span<std::uint32_t> index, std::uint64_t limit) {
  std::uint64_t state = 0x2545F4914F6CDD1Dull;
  for (auto& v : index) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    // Multiply-high maps z uniformly onto [0, limit) without a division.
    v = static_cast<std::uint32_t>((static_cast<unsigned __int128>(z) * limit) >> 64);
  }
}

}  // namespace onecopy::bench
