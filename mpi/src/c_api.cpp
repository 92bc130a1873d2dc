// SPDX-License-Identifier: Apache-2.0
// The C API: thin wrappers over share() that turn exceptions into return codes and keep the
// message for onecopy_mpi_last_error().
#include "onecopy/mpi/share.h"

#include <cstring>
#include <new>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "onecopy/engine/dtype.hpp"
#include "onecopy/error.hpp"
#include "onecopy/mpi/share.hpp"
#include "agreement.hpp"
#include "context.hpp"
#include "share_internal.hpp"

struct onecopy_mpi_segment {
  onecopy::mpi::shared_segment shared;
};

namespace {

using namespace onecopy;

thread_local std::string last_error;

mpi::share_options to_options(const onecopy_mpi_options* o) {
  mpi::share_options opts;
  if (o == nullptr) return opts;
  if (o->scope != ONECOPY_MPI_SCOPE_JOB && o->scope != ONECOPY_MPI_SCOPE_PERSISTENT)
    throw usage_error(fmt::format("scope {} is not ONECOPY_MPI_SCOPE_JOB (0) or _PERSISTENT (1)", o->scope));
  if (o->copies != ONECOPY_MPI_PER_NODE && o->copies != ONECOPY_MPI_REPLICATE)
    throw usage_error(fmt::format("copies {} is not ONECOPY_MPI_PER_NODE (0) or _REPLICATE (1)", o->copies));
  opts.scope = o->scope == ONECOPY_MPI_SCOPE_JOB ? mpi::scope::job : mpi::scope::persistent;
  opts.copies = o->copies == ONECOPY_MPI_PER_NODE ? mpi::copies::per_node : mpi::copies::replicate;
  if (o->pages != nullptr) opts.create.pages = parse_page_size(o->pages);
  if (o->numa != nullptr) opts.create.where = placement::parse(o->numa);
  if (o->chunk_bytes != 0) opts.chunk_bytes = o->chunk_bytes;
  return opts;
}

int root_of(const onecopy_mpi_options* o) { return o == nullptr ? 0 : o->root; }

layout to_layout(const onecopy_mpi_options* o, std::uint64_t size) {
  if (o == nullptr || o->dtype == nullptr) return layout::bytes(size);
  const auto type = parse_dtype(o->dtype);
  if (!type) throw usage_error(fmt::format("dtype '{}' is not known (e.g. f32, float64, i32, u8)", o->dtype));
  if (o->ndim < 0 || (o->ndim > 0 && o->shape == nullptr))
    throw usage_error(fmt::format("shape: ndim {} with {} shape", o->ndim, o->shape ? "a" : "a NULL"));
  std::vector<std::uint64_t> shape(o->shape, o->shape + o->ndim);
  layout l = layout::array(*type, shape);
  if (l.data_size() != size)
    throw usage_error(fmt::format("dtype {} with shape [{}] is {} bytes, size says {}", o->dtype,
                                  fmt::join(shape, ","), l.data_size(), size));
  return l;
}

// Runs the share, storing the segment in *out; every exception becomes a code and a message.
template <class F>
int run(onecopy_mpi_segment** out, F&& f) noexcept {
  last_error.clear();
  try {
    if (out == nullptr) throw usage_error("out is NULL");
    *out = nullptr;
    *out = new onecopy_mpi_segment{f()};
    return ONECOPY_MPI_OK;
  } catch (const mpi::share_error& e) {
    last_error = e.what();
    return e.kind() == "usage_error" ? ONECOPY_MPI_USAGE : ONECOPY_MPI_FAILED;
  } catch (const usage_error& e) {
    last_error = e.what();
    return ONECOPY_MPI_USAGE;
  } catch (const std::exception& e) {
    last_error = e.what();
    return ONECOPY_MPI_FAILED;
  } catch (...) {
    last_error = "unknown exception";
    return ONECOPY_MPI_FAILED;
  }
}

// Options and layout are checked as an agreed step: a bad one on any rank fails every rank.
mpi::shared_segment share_with(MPI_Comm comm, const char* name, std::uint64_t size, const mpi::source& src,
                               const onecopy_mpi_options* o) {
  const std::string_view n = name == nullptr ? std::string_view() : std::string_view(name);
  const std::uint64_t bytes = mpi::detail::agreed_size(comm, n, src, size);
  std::optional<layout> l;
  mpi::share_options opts;
  mpi::detail::agree(mpi::detail::context_of(comm).comm, mpi::detail::attempt([&] {
                       l = to_layout(o, bytes);
                       opts = to_options(o);
                     }),
                     n, "checking arguments");
  return mpi::share(comm, n, *l, src, opts);
}

int share_buffer(MPI_Comm comm, const char* name, uint64_t size, const void* buffer,
                 const onecopy_mpi_options* o, onecopy_mpi_segment** out) noexcept {
  return run(out, [&] {
    std::span<const std::byte> bytes;
    if (buffer != nullptr) bytes = {static_cast<const std::byte*>(buffer), size};
    return share_with(comm, name, size, mpi::source::buffer(bytes, root_of(o)), o);
  });
}

int share_file(MPI_Comm comm, const char* name, uint64_t size, const char* path, uint64_t offset,
               const onecopy_mpi_options* o, onecopy_mpi_segment** out) noexcept {
  return run(out, [&] {
    return share_with(comm, name, size, mpi::source::file(path == nullptr ? "" : path, root_of(o), offset), o);
  });
}

int share_loader(MPI_Comm comm, const char* name, uint64_t size, onecopy_mpi_loader load, void* arg,
                 const onecopy_mpi_options* o, onecopy_mpi_segment** out) noexcept {
  return run(out, [&] {
    auto fill = [&](draft& d) {
      if (load == nullptr) throw usage_error("the loader is NULL");
      auto bytes = d.bytes();
      if (const int rc = load(bytes.data(), bytes.size(), arg); rc != 0)
        throw std::runtime_error(fmt::format("the loader returned {}", rc));
    };
    return share_with(comm, name, size, mpi::source::load(fill), o);
  });
}

int finalize(MPI_Comm comm) noexcept {
  last_error.clear();
  try {
    mpi::finalize(comm);
    return ONECOPY_MPI_OK;
  } catch (const std::exception& e) {
    last_error = e.what();
    return ONECOPY_MPI_FAILED;
  }
}

}  // namespace

extern "C" {

void onecopy_mpi_options_init(onecopy_mpi_options* opts) {
  if (opts == nullptr) return;
  std::memset(opts, 0, sizeof *opts);
  opts->scope = ONECOPY_MPI_SCOPE_JOB;
  opts->copies = ONECOPY_MPI_PER_NODE;
}

int onecopy_mpi_share(MPI_Comm comm, const char* name, uint64_t size, const void* buffer,
                      const onecopy_mpi_options* opts, onecopy_mpi_segment** out) {
  return share_buffer(comm, name, size, buffer, opts, out);
}
int onecopy_mpi_share_file(MPI_Comm comm, const char* name, uint64_t size, const char* path, uint64_t offset,
                           const onecopy_mpi_options* opts, onecopy_mpi_segment** out) {
  return share_file(comm, name, size, path, offset, opts, out);
}
int onecopy_mpi_share_loader(MPI_Comm comm, const char* name, uint64_t size, onecopy_mpi_loader load,
                             void* arg, const onecopy_mpi_options* opts, onecopy_mpi_segment** out) {
  return share_loader(comm, name, size, load, arg, opts, out);
}
int onecopy_mpi_finalize(MPI_Comm comm) { return finalize(comm); }

int onecopy_mpi_share_f(MPI_Fint comm, const char* name, uint64_t size, const void* buffer,
                        const onecopy_mpi_options* opts, onecopy_mpi_segment** out) {
  return share_buffer(MPI_Comm_f2c(comm), name, size, buffer, opts, out);
}
int onecopy_mpi_share_file_f(MPI_Fint comm, const char* name, uint64_t size, const char* path,
                             uint64_t offset, const onecopy_mpi_options* opts, onecopy_mpi_segment** out) {
  return share_file(MPI_Comm_f2c(comm), name, size, path, offset, opts, out);
}
int onecopy_mpi_share_loader_f(MPI_Fint comm, const char* name, uint64_t size, onecopy_mpi_loader load,
                               void* arg, const onecopy_mpi_options* opts, onecopy_mpi_segment** out) {
  return share_loader(MPI_Comm_f2c(comm), name, size, load, arg, opts, out);
}
int onecopy_mpi_finalize_f(MPI_Fint comm) { return finalize(MPI_Comm_f2c(comm)); }

const void* onecopy_mpi_data(const onecopy_mpi_segment* seg) {
  return seg == nullptr ? nullptr : seg->shared.seg.bytes().data();
}
uint64_t onecopy_mpi_size(const onecopy_mpi_segment* seg) {
  return seg == nullptr ? 0 : seg->shared.seg.bytes().size();
}
uint64_t onecopy_mpi_checksum(const onecopy_mpi_segment* seg) {
  return seg == nullptr ? 0 : seg->shared.seg.info().checksum;
}
uint64_t onecopy_mpi_compute_checksum(const onecopy_mpi_segment* seg) {
  return seg == nullptr ? 0 : seg->shared.seg.compute_checksum();
}
int onecopy_mpi_created_here(const onecopy_mpi_segment* seg) {
  return seg != nullptr && seg->shared.report.created_here ? 1 : 0;
}
int onecopy_mpi_node_ranks(const onecopy_mpi_segment* seg) { return seg == nullptr ? 0 : seg->shared.report.node_ranks; }
int onecopy_mpi_nodes(const onecopy_mpi_segment* seg) { return seg == nullptr ? 0 : seg->shared.report.nodes; }
void onecopy_mpi_release(onecopy_mpi_segment* seg) { delete seg; }
const char* onecopy_mpi_last_error(void) { return last_error.c_str(); }

}  // extern "C"
