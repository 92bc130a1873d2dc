/* SPDX-License-Identifier: Apache-2.0 */
/* onecopy::mpi for C and Fortran: share a read-only array over an MPI communicator, one copy
 * per node, attached by every rank. Every function that takes a communicator is collective
 * over it. Failures return a nonzero code on every rank; onecopy_mpi_last_error() says which
 * rank failed, where and why.
 *
 *   onecopy_mpi_options o;
 *   onecopy_mpi_options_init(&o);
 *   onecopy_mpi_segment* t;
 *   if (onecopy_mpi_share_file(MPI_COMM_WORLD, "table", 0, "/data/table.bin", 0, &o, &t) != 0) {
 *     fprintf(stderr, "%s\n", onecopy_mpi_last_error());
 *     MPI_Abort(MPI_COMM_WORLD, 1);
 *   }
 *   const double* table = onecopy_mpi_data(t);
 *   ...
 *   onecopy_mpi_release(t);
 *   onecopy_mpi_finalize(MPI_COMM_WORLD);   (or just MPI_Finalize)
 *
 * Fortran (ISO_C_BINDING) and mpi4py pass communicators as MPI_Fint handles: use the _f
 * variants (comm%MPI_VAL in the mpi_f08 module, comm in mpi, comm.py2f() in mpi4py). */
#ifndef ONECOPY_MPI_SHARE_H
#define ONECOPY_MPI_SHARE_H

#include <mpi.h>
#include <stdint.h>

#if defined(__GNUC__)
#define ONECOPY_MPI_EXPORT __attribute__((visibility("default")))
#else
#define ONECOPY_MPI_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes. */
#define ONECOPY_MPI_OK 0
#define ONECOPY_MPI_FAILED 1 /* a rank failed a step (onecopy_mpi_last_error says which) */
#define ONECOPY_MPI_USAGE 2  /* bad arguments (on any rank) */

/* onecopy_mpi_options.scope */
#define ONECOPY_MPI_SCOPE_JOB 0        /* removed at onecopy_mpi_finalize / MPI_Finalize */
#define ONECOPY_MPI_SCOPE_PERSISTENT 1 /* stays; the next job step finds it and skips the load */
/* onecopy_mpi_options.copies */
#define ONECOPY_MPI_PER_NODE 0  /* one copy per node */
#define ONECOPY_MPI_REPLICATE 1 /* one copy per NUMA node the node's ranks run on */

typedef struct onecopy_mpi_options {
  int scope;             /* ONECOPY_MPI_SCOPE_JOB (default) or _PERSISTENT */
  int copies;            /* ONECOPY_MPI_PER_NODE (default) or _REPLICATE */
  int root;              /* rank holding the buffer or file (default 0) */
  const char* pages;     /* "auto" (NULL), "1g", "2m", "thp", "4k" */
  const char* numa;      /* per-node NUMA placement, as `onecopy put --numa`: NULL/"local",
                            "auto", "bind:N", "interleave[:N,M]" (ONECOPY_MPI_PER_NODE) */
  uint64_t chunk_bytes;  /* broadcast piece size; 0 = 64 MiB */
  /* Element type and shape recorded in the segment ("f32", "float64", "i32", ...). NULL: raw
   * bytes (u8). With a dtype, size must equal the product of shape times the element size. */
  const char* dtype;
  int ndim;
  const uint64_t* shape;
} onecopy_mpi_options;

typedef struct onecopy_mpi_segment onecopy_mpi_segment;

/* Fills dest (size bytes) on each node leader that creates the segment; returns 0, or nonzero
 * to fail the share on every rank. */
typedef int (*onecopy_mpi_loader)(void* dest, uint64_t size, void* arg);

/* The defaults. */
ONECOPY_MPI_EXPORT void onecopy_mpi_options_init(onecopy_mpi_options* opts);

/* Shares size bytes that the root rank holds at buffer (the others pass NULL). A rank other
 * than the root may pass size 0: it takes the root's. *out is the segment on success. */
ONECOPY_MPI_EXPORT int onecopy_mpi_share(MPI_Comm comm, const char* name, uint64_t size,
                                         const void* buffer, const onecopy_mpi_options* opts,
                                         onecopy_mpi_segment** out);
/* Shares a file that the root reads from offset (the others' path is ignored). size 0 on the
 * root: the rest of its file; size 0 elsewhere: the root's size. */
ONECOPY_MPI_EXPORT int onecopy_mpi_share_file(MPI_Comm comm, const char* name, uint64_t size,
                                              const char* path, uint64_t offset,
                                              const onecopy_mpi_options* opts,
                                              onecopy_mpi_segment** out);
/* Shares size bytes that each creating node leader fills with load(dest, size, arg). */
ONECOPY_MPI_EXPORT int onecopy_mpi_share_loader(MPI_Comm comm, const char* name, uint64_t size,
                                                onecopy_mpi_loader load, void* arg,
                                                const onecopy_mpi_options* opts,
                                                onecopy_mpi_segment** out);
/* Removes the job-scope segments shared over comm (after a barrier). */
ONECOPY_MPI_EXPORT int onecopy_mpi_finalize(MPI_Comm comm);

/* The same with Fortran communicator handles. */
ONECOPY_MPI_EXPORT int onecopy_mpi_share_f(MPI_Fint comm, const char* name, uint64_t size,
                                           const void* buffer, const onecopy_mpi_options* opts,
                                           onecopy_mpi_segment** out);
ONECOPY_MPI_EXPORT int onecopy_mpi_share_file_f(MPI_Fint comm, const char* name, uint64_t size,
                                                const char* path, uint64_t offset,
                                                const onecopy_mpi_options* opts,
                                                onecopy_mpi_segment** out);
ONECOPY_MPI_EXPORT int onecopy_mpi_share_loader_f(MPI_Fint comm, const char* name, uint64_t size,
                                                  onecopy_mpi_loader load, void* arg,
                                                  const onecopy_mpi_options* opts,
                                                  onecopy_mpi_segment** out);
ONECOPY_MPI_EXPORT int onecopy_mpi_finalize_f(MPI_Fint comm);

/* The segment's data (read-only: writing to it raises SIGSEGV) and its size in bytes. */
ONECOPY_MPI_EXPORT const void* onecopy_mpi_data(const onecopy_mpi_segment* seg);
ONECOPY_MPI_EXPORT uint64_t onecopy_mpi_size(const onecopy_mpi_segment* seg);
/* The checksum recorded at publish (chunked xxh3-64). */
ONECOPY_MPI_EXPORT uint64_t onecopy_mpi_checksum(const onecopy_mpi_segment* seg);
/* The checksum recomputed from the data on this rank (reads every page). */
ONECOPY_MPI_EXPORT uint64_t onecopy_mpi_compute_checksum(const onecopy_mpi_segment* seg);
/* 1 when this rank's node created the segment in this call, 0 when it found it. */
ONECOPY_MPI_EXPORT int onecopy_mpi_created_here(const onecopy_mpi_segment* seg);
/* Ranks sharing this rank's copy; nodes in the communicator. */
ONECOPY_MPI_EXPORT int onecopy_mpi_node_ranks(const onecopy_mpi_segment* seg);
ONECOPY_MPI_EXPORT int onecopy_mpi_nodes(const onecopy_mpi_segment* seg);
/* Unmaps it on this rank (not collective; the segment stays for the others). NULL is fine. */
ONECOPY_MPI_EXPORT void onecopy_mpi_release(onecopy_mpi_segment* seg);

/* This thread's last error message ("" after a success). */
ONECOPY_MPI_EXPORT const char* onecopy_mpi_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* ONECOPY_MPI_SHARE_H */
