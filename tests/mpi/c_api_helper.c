/* SPDX-License-Identifier: Apache-2.0 */
/* The C API from C (compiled as C11): rank 0 shares a buffer of doubles, every rank checks the
 * values and the checksum, then a loader share and a deliberately bad call. Rank 0 prints one
 * JSON line: {"ok":…,"ranks":N,"same_checksum":…,"values_ok":…,"loader_ok":…,"bad_call":"…"}. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onecopy/mpi/share.h"

#define COUNT (1u << 20) /* 8 MiB of doubles */

static int fill_index(void* dest, uint64_t size, void* arg) {
  (void)arg;
  uint32_t* v = dest;
  for (uint64_t i = 0; i < size / sizeof *v; ++i) v[i] = (uint32_t)i;
  return 0;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  double* data = NULL;
  if (rank == 0) {
    data = malloc(COUNT * sizeof *data);
    for (uint64_t i = 0; i < COUNT; ++i) data[i] = (double)i * 0.5;
  }
  onecopy_mpi_options o;
  onecopy_mpi_options_init(&o);
  uint64_t shape[1] = {COUNT};
  o.dtype = "f64";
  o.ndim = 1;
  o.shape = shape;
  onecopy_mpi_segment* seg = NULL;
  /* Ranks other than the root pass size 0: they take the root's. */
  int rc = onecopy_mpi_share(MPI_COMM_WORLD, "c-table", rank == 0 ? COUNT * sizeof(double) : 0, data, &o, &seg);
  int ok = rc == ONECOPY_MPI_OK;
  int values_ok = 0, same = 0;
  if (ok) {
    const double* t = onecopy_mpi_data(seg);
    values_ok = onecopy_mpi_size(seg) == COUNT * sizeof(double);
    for (uint64_t i = 0; values_ok && i < COUNT; ++i) values_ok = t[i] == (double)i * 0.5;
    uint64_t sum = onecopy_mpi_compute_checksum(seg), min = 0, max = 0;
    MPI_Allreduce(&sum, &min, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&sum, &max, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    same = min == max && sum == onecopy_mpi_checksum(seg);
  } else {
    fprintf(stderr, "rank %d: %s\n", rank, onecopy_mpi_last_error());
  }
  onecopy_mpi_release(seg);

  onecopy_mpi_segment* idx = NULL;
  int loader_ok = onecopy_mpi_share_loader(MPI_COMM_WORLD, "c-index", 4096, fill_index, NULL, NULL, &idx) == 0 &&
                  ((const uint32_t*)onecopy_mpi_data(idx))[1023] == 1023;
  onecopy_mpi_release(idx);

  /* A bad name fails on every rank with the same message. */
  onecopy_mpi_segment* bad = NULL;
  int bad_rc = onecopy_mpi_share_loader(MPI_COMM_WORLD, "no/slash", 4096, fill_index, NULL, NULL, &bad);
  char bad_text[512];
  snprintf(bad_text, sizeof bad_text, "%d %s", bad_rc, onecopy_mpi_last_error());
  for (char* c = bad_text; *c; ++c)
    if (*c == '"' || *c == '\\' || (unsigned char)*c < 32) *c = '\'';

  int all_ok = 0, local = ok && values_ok && same && loader_ok && bad == NULL;
  MPI_Allreduce(&local, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  int finalize_rc = onecopy_mpi_finalize(MPI_COMM_WORLD);
  if (rank == 0)
    printf("{\"ok\":%s,\"ranks\":%d,\"same_checksum\":%s,\"values_ok\":%s,\"loader_ok\":%s,\"finalize\":%d,\"bad_call\":\"%s\"}\n",
           all_ok ? "true" : "false", size, same ? "true" : "false", values_ok ? "true" : "false",
           loader_ok ? "true" : "false", finalize_rc, bad_text);
  free(data);
  MPI_Finalize();
  return all_ok ? 0 : 1;
}
