// SPDX-License-Identifier: Apache-2.0
// The public kernel API: checks arguments once, picks the backend's namespace (cpp_k, omp_k,
// cuda_k) and turns backend results into onecopy types. CUDA calls are gated by gpu::probe()
// and their exceptions (Thrust throws without a driver) become gpu_error.
#include "onecopy/kernels/kernels.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "backend_api.hpp"
#include "onecopy/engine/checksum.hpp"
#include "onecopy/error.hpp"
#include "onecopy/kernels/gpu.hpp"

namespace onecopy::kernels {
namespace {

using detail::elem_kind;

const unsigned char* bytes_of(std::span<const std::byte> s) { return reinterpret_cast<const unsigned char*>(s.data()); }

void require_cuda(std::string_view what) {
  const auto& p = gpu::probe();
  if (!p.available) throw gpu::gpu_error(fmt::format("{} on backend cuda: {}", what, p.reason));
}

// Runs f on the chosen backend; CUDA failures (Thrust's system_error, bad_alloc) → gpu_error.
// A CUDA kernel runs on the device that holds `data` (the other arguments must be there too or
// in host/managed memory), not on the calling thread's current device; that one is restored.
template <class Cpp, class Omp, class Cuda>
auto run(backend b, std::string_view what, std::initializer_list<const void*> data, Cpp&& cpp, Omp&& omp, Cuda&& cuda) {
  switch (b) {
    case backend::serial: return cpp();
    case backend::openmp: return omp();
    case backend::cuda: break;
  }
  require_cuda(what);
  try {
    const cuda_k::device_scope on_the_data_device(data);
    return cuda();
  } catch (const gpu::gpu_error&) {
    throw;
  } catch (const usage_error&) {
    throw;
  } catch (const std::exception& e) {
    throw gpu::gpu_error(fmt::format("{} on backend cuda: {}", what, e.what()));
  }
}

std::optional<elem_kind> kind_of(dtype t) {
  switch (t) {
    case dtype::u8: case dtype::boolean: return elem_kind::u8;
    case dtype::i8: return elem_kind::i8;
    case dtype::u16: return elem_kind::u16;
    case dtype::i16: return elem_kind::i16;
    case dtype::u32: return elem_kind::u32;
    case dtype::i32: return elem_kind::i32;
    case dtype::u64: return elem_kind::u64;
    case dtype::i64: return elem_kind::i64;
    case dtype::f16: return elem_kind::f16;
    case dtype::bf16: return elem_kind::bf16;
    case dtype::f32: return elem_kind::f32;
    case dtype::f64: return elem_kind::f64;
    default: return std::nullopt;
  }
}

void require_aligned(const void* p, std::size_t alignment, std::string_view what) {
  if (reinterpret_cast<std::uintptr_t>(p) % alignment != 0)
    throw usage_error(fmt::format("{}: the data at {} is not {}-byte aligned", what, p, alignment));
}

}  // namespace

std::string_view to_string(backend b) noexcept {
  switch (b) {
    case backend::serial: return "serial";
    case backend::openmp: return "openmp";
    case backend::cuda: return "cuda";
  }
  return "?";
}

bool available(backend b) noexcept {
  return b != backend::cuda || gpu::probe().available;
}

double to_double(const scalar& s) noexcept {
  if (const auto* i = std::get_if<std::int64_t>(&s)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<std::uint64_t>(&s)) return static_cast<double>(*u);
  if (const auto* d = std::get_if<double>(&s)) return *d;
  return std::numeric_limits<double>::quiet_NaN();
}

std::uint64_t checksum(backend b, std::span<const std::byte> data) {
  require_aligned(data.data(), 8, "checksum");
  std::vector<std::uint64_t> digests((data.size() + checksum_chunk_size - 1) / checksum_chunk_size);
  const auto* p = bytes_of(data);
  run(b, "checksum", {p},
      [&] { cpp_k::chunk_digests(p, data.size(), digests.data()); },
      [&] { omp_k::chunk_digests(p, data.size(), digests.data()); },
      [&] { cuda_k::chunk_digests(p, data.size(), digests.data()); });
  return combine_digests(digests);
}

reduction reduce(backend b, dtype t, std::span<const std::byte> data) {
  const auto kind = kind_of(t);
  if (!kind)
    throw usage_error(fmt::format("reduce: dtype {} is not supported (integers, bool, f16, bf16, f32, f64 are)",
                                  dtype_name(t)));
  const std::size_t size = dtype_size(t);
  if (data.size() % size != 0)
    throw usage_error(fmt::format("reduce: {} bytes is not a whole number of {} elements", data.size(), dtype_name(t)));
  require_aligned(data.data(), size, fmt::format("reduce {}", dtype_name(t)));
  const std::uint64_t n = data.size() / size;
  const auto* p = bytes_of(data);
  const detail::raw_reduction r = run(b, "reduce", {p},
      [&] { return cpp_k::reduce(*kind, p, n); },
      [&] { return omp_k::reduce(*kind, p, n); },
      [&] { return cuda_k::reduce(*kind, p, n); });
  reduction out;
  out.type = t;
  out.count = r.count;
  out.nan_count = r.nan_count;
  const bool have_extremes = r.count > r.nan_count;
  switch (r.kind) {
    case detail::sum_kind::signed_int:
      out.sum = static_cast<std::int64_t>(r.int_sum);
      if (have_extremes) out.min = r.int_min, out.max = r.int_max;
      break;
    case detail::sum_kind::unsigned_int:
      out.sum = r.int_sum;
      if (have_extremes) out.min = r.uint_min, out.max = r.uint_max;
      break;
    case detail::sum_kind::floating:
      out.sum = r.float_sum;
      if (have_extremes) out.min = r.float_min, out.max = r.float_max;
      break;
  }
  return out;
}

reduction reduce(backend b, const tensor_view& view) { return reduce(b, view.type, view.bytes); }

namespace {
template <class Index>
void gather_any(backend b, std::span<const std::byte> table, std::uint64_t row_bytes,
                std::span<const Index> indices, std::span<std::byte> out) {
  if (row_bytes == 0) throw usage_error("gather_rows: row_bytes is 0");
  if (table.size() % row_bytes != 0)
    throw usage_error(fmt::format("gather_rows: the table's {} bytes are not whole rows of {} bytes",
                                  table.size(), row_bytes));
  if (out.size() / row_bytes != indices.size() || out.size() % row_bytes != 0)
    throw usage_error(fmt::format("gather_rows: out holds {} bytes but {} rows of {} bytes need {}", out.size(),
                                  indices.size(), row_bytes, indices.size() * row_bytes));
  require_aligned(indices.data(), sizeof(Index), "gather_rows indices");
  const std::uint64_t rows = table.size() / row_bytes;
  const auto* t = bytes_of(table);
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  constexpr bool wide = sizeof(Index) == 8;
  const detail::bad_index bad = run(b, "gather_rows", {t, indices.data(), o},
      [&] { return cpp_k::gather_rows(t, rows, row_bytes, indices.data(), wide, indices.size(), o); },
      [&] { return omp_k::gather_rows(t, rows, row_bytes, indices.data(), wide, indices.size(), o); },
      [&] { return cuda_k::gather_rows(t, rows, row_bytes, indices.data(), wide, indices.size(), o); });
  if (bad.position != UINT64_MAX)
    throw usage_error(fmt::format("gather_rows: indices[{}] = {} is outside the table's {} rows (0..{})",
                                  bad.position, bad.value, rows, rows == 0 ? 0 : rows - 1));
}
}  // namespace

void gather_rows(backend b, std::span<const std::byte> table, std::uint64_t row_bytes,
                 std::span<const std::int64_t> indices, std::span<std::byte> out) {
  gather_any(b, table, row_bytes, indices, out);
}
void gather_rows(backend b, std::span<const std::byte> table, std::uint64_t row_bytes,
                 std::span<const std::int32_t> indices, std::span<std::byte> out) {
  gather_any(b, table, row_bytes, indices, out);
}

comparison compare(backend b, std::span<const std::byte> data, std::span<const std::byte> host) {
  if (data.size() != host.size())
    throw usage_error(fmt::format("compare: sizes differ ({} and {} bytes)", data.size(), host.size()));
  const auto* a = bytes_of(data);
  const auto* h = bytes_of(host);
  const detail::raw_comparison r = run(b, "compare", {a, h},
      [&] { return cpp_k::compare(a, h, data.size()); },
      [&] { return omp_k::compare(a, h, data.size()); },
      [&] { return cuda_k::compare_with_host(a, h, data.size()); });
  comparison out;
  out.equal = r.first_mismatch == UINT64_MAX;
  if (!out.equal) out.first_mismatch = r.first_mismatch;
  out.differing_words = r.differing_words;
  return out;
}

}  // namespace onecopy::kernels
