// SPDX-License-Identifier: Apache-2.0
// The keyvals are plain ints in static storage: MPI hands back the attribute values, which own
// everything else (the registry is deleted by MPI_COMM_SELF's attribute delete callback).
#include "context.hpp"

#include <cerrno>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "mpi_call.hpp"
#include "onecopy/error.hpp"

namespace onecopy::mpi::detail {
namespace {

// Every context of this process, in creation order (the order they were made collectively).
struct registry {
  std::vector<std::unique_ptr<context>> contexts;
};

int context_key = MPI_KEYVAL_INVALID;   // on user communicators: context*
int registry_key = MPI_KEYVAL_INVALID;  // on MPI_COMM_SELF: registry*

void free_comms(context& ctx) noexcept {
  if (ctx.node != MPI_COMM_NULL) MPI_Comm_free(&ctx.node);
  if (ctx.comm != MPI_COMM_NULL) MPI_Comm_free(&ctx.comm);
}

void finalize_quietly(context& ctx) noexcept {
  try {
    for (const auto& line : finalize_context(ctx))
      std::fprintf(stderr, "onecopy::mpi: warning: %s\n", line.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "onecopy::mpi: warning: finalize: %s\n", e.what());
  }
}

registry* find_registry() {
  if (registry_key == MPI_KEYVAL_INVALID) return nullptr;
  void* value = nullptr;
  int found = 0;
  check(MPI_Comm_get_attr(MPI_COMM_SELF, registry_key, &value, &found), "MPI_Comm_get_attr(MPI_COMM_SELF)");
  return found ? static_cast<registry*>(value) : nullptr;
}

void forget(context* ctx) noexcept {
  registry* reg = nullptr;
  try {
    reg = find_registry();
  } catch (...) {
  }
  if (reg == nullptr) return;
  std::erase_if(reg->contexts, [&](const std::unique_ptr<context>& c) { return c.get() == ctx; });
}

// The user freed a communicator share() used: finalize it (MPI_Comm_free is collective too).
int on_user_comm_delete(MPI_Comm, int, void* value, void*) {
  auto* ctx = static_cast<context*>(value);
  if (ctx->releasing) return MPI_SUCCESS;
  ctx->releasing = true;
  finalize_quietly(*ctx);
  free_comms(*ctx);
  forget(ctx);  // deletes ctx
  return MPI_SUCCESS;
}

// MPI_Finalize: finalize every context still alive, in creation order, then drop them.
int on_self_delete(MPI_Comm, int, void* value, void*) {
  std::unique_ptr<registry> reg(static_cast<registry*>(value));
  for (auto& ctx : reg->contexts) {
    finalize_quietly(*ctx);
    ctx->releasing = true;
    MPI_Comm_delete_attr(ctx->user, context_key);
    free_comms(*ctx);
  }
  reg.reset();
  MPI_Comm_free_keyval(&context_key);
  MPI_Comm_free_keyval(&registry_key);  // marked freed; MPI drops it once this attribute is gone
  return MPI_SUCCESS;
}

registry& the_registry() {
  if (registry_key == MPI_KEYVAL_INVALID) {
    check(MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, on_self_delete, &registry_key, nullptr),
          "MPI_Comm_create_keyval");
    check(MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, on_user_comm_delete, &context_key, nullptr),
          "MPI_Comm_create_keyval");
  }
  if (registry* reg = find_registry()) return *reg;
  auto reg = std::make_unique<registry>();
  check(MPI_Comm_set_attr(MPI_COMM_SELF, registry_key, reg.get()), "MPI_Comm_set_attr(MPI_COMM_SELF)");
  return *reg.release();
}

}  // namespace

context* find_context(MPI_Comm comm) {
  if (context_key == MPI_KEYVAL_INVALID) return nullptr;
  void* value = nullptr;
  int found = 0;
  check(MPI_Comm_get_attr(comm, context_key, &value, &found), "MPI_Comm_get_attr");
  return found ? static_cast<context*>(value) : nullptr;
}

context& context_of(MPI_Comm comm) {
  registry& reg = the_registry();
  if (context* ctx = find_context(comm)) return *ctx;
  auto ctx = std::make_unique<context>();
  ctx->user = comm;
  check(MPI_Comm_dup(comm, &ctx->comm), "MPI_Comm_dup");
  const int rc = MPI_Comm_set_errhandler(ctx->comm, MPI_ERRORS_RETURN);
  if (rc == MPI_SUCCESS) {
    const int split = MPI_Comm_split_type(ctx->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &ctx->node);
    if (split != MPI_SUCCESS) {
      free_comms(*ctx);
      check(split, "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)");
    }
  } else {
    free_comms(*ctx);
    check(rc, "MPI_Comm_set_errhandler");
  }
  if (const int set = MPI_Comm_set_attr(comm, context_key, ctx.get()); set != MPI_SUCCESS) {
    free_comms(*ctx);
    check(set, "MPI_Comm_set_attr");
  }
  reg.contexts.push_back(std::move(ctx));
  return *reg.contexts.back();
}

std::vector<std::string> finalize_context(context& ctx) {
  check(MPI_Barrier(ctx.comm), "MPI_Barrier(finalize)");
  std::vector<std::string> failures;
  for (auto& s : ctx.job_segments) {
    try {
      s.where.remove(s.name);
    } catch (const os_error& e) {
      if (e.err() != ENOENT) failures.push_back(fmt::format("remove job segment '{}': {}", s.name, e.what()));
    } catch (const std::exception& e) {
      failures.push_back(fmt::format("remove job segment '{}': {}", s.name, e.what()));
    }
  }
  ctx.job_segments.clear();
  return failures;
}

}  // namespace onecopy::mpi::detail
