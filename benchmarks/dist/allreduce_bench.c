/* The all-reduce alone: MPI_Allreduce (sum, in place) of N floats (default 124,439,808: GPT-2
 * 124M's gradient slab), after a barrier so no rank waits for another; prints rank 0's median
 * of 5. Built and run by bench.sh: mpicc -O2 allreduce_bench.c; mpirun -np 2 ./a.out [N] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  long n = argc > 1 ? atol(argv[1]) : 124439808L;
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  float *v = malloc(sizeof(float) * (size_t)n);
  for (long i = 0; i < n; i++) v[i] = (float)(i % 1000) * 1e-3f;
  double t[5];
  for (int r = 0; r < 5; r++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    t[r] = MPI_Wtime() - t0;
  }
  qsort(t, 5, sizeof(double), cmp);
  if (rank == 0)
    printf("MPI_Allreduce of %ld floats (%.0f MB) over %d ranks: median %.3f s (min %.3f)\n", n,
           n * 4 / 1e6, size, t[2], t[0]);
  free(v);
  MPI_Finalize();
  return 0;
}
