/* Times OpenBLAS's cblas_sgemm (Debian's libopenblas) on one shape with a given thread count and
 * prints one JSON line, the same as `fuselm bench gemm`:
 *   {"impl":"openblas","m":..,"n":..,"k":..,"threads":..,"trans_a":..,"trans_b":..,"gflops":..}
 * gflops is the median over repeated runs (2*M*N*K flops per run), gflops_max the best run (the
 * least disturbed one, on a shared machine).
 *
 * Build: cc -O2 -o openblas_sgemm openblas_sgemm.c -lopenblas
 * Usage: openblas_sgemm --m M --n N --k K [--threads T] [--trans-a] [--trans-b] [--reps R]
 *                       [--beta B]
 * Operands are row-major with tight leading dimensions, as fuselm's linear layers use them. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int num_threads);

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static float *random_matrix(long long n, unsigned seed) {
  float *p = (float *)malloc((size_t)n * sizeof(float));
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  for (long long i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    p[i] = (float)((seed >> 8) & 0xffff) / 65536.0f - 0.5f;
  }
  return p;
}

int main(int argc, char **argv) {
  long long m = 256, n = 256, k = 256;
  int threads = 1, ta = 0, tb = 0, reps = 0;
  float beta = 0.0f;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "--m")) m = atoll(v), i++;
    else if (!strcmp(a, "--n")) n = atoll(v), i++;
    else if (!strcmp(a, "--k")) k = atoll(v), i++;
    else if (!strcmp(a, "--threads")) threads = atoi(v), i++;
    else if (!strcmp(a, "--reps")) reps = atoi(v), i++;
    else if (!strcmp(a, "--beta")) beta = (float)atof(v), i++;
    else if (!strcmp(a, "--trans-a")) ta = 1;
    else if (!strcmp(a, "--trans-b")) tb = 1;
    else {
      fprintf(stderr, "usage: %s --m M --n N --k K [--threads T] [--trans-a] [--trans-b] [--reps R] [--beta B]\n", argv[0]);
      return 2;
    }
  }
  if (m <= 0 || n <= 0 || k <= 0 || threads <= 0) {
    fprintf(stderr, "m, n, k and threads must be positive\n");
    return 2;
  }
  openblas_set_num_threads(threads);
  float *A = random_matrix(m * k, 1), *B = random_matrix(k * n, 2), *C = random_matrix(m * n, 3);
  long long lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
  double flop = 2.0 * (double)m * (double)n * (double)k;
  /* Enough repetitions for ~1 s of work (at least 5), after two warm-up calls. */
  for (int w = 0; w < 2; w++)
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, 1.0f, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
  if (reps <= 0) {
    double t0 = now_s();
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, 1.0f, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    double dt = now_s() - t0;
    reps = (int)(1.0 / (dt > 1e-6 ? dt : 1e-6));
    if (reps < 5) reps = 5;
    if (reps > 200) reps = 200;
  }
  double *gf = (double *)malloc(sizeof(double) * (size_t)reps);
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, 1.0f, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    gf[r] = flop / (now_s() - t0) * 1e-9;
  }
  qsort(gf, (size_t)reps, sizeof(double), cmp_double);
  double med = reps % 2 ? gf[reps / 2] : 0.5 * (gf[reps / 2 - 1] + gf[reps / 2]);
  printf("{\"impl\":\"openblas\",\"m\":%lld,\"n\":%lld,\"k\":%lld,\"threads\":%d,"
         "\"trans_a\":%s,\"trans_b\":%s,\"gflops\":%.2f,\"gflops_max\":%.2f}\n",
         m, n, k, threads, ta ? "true" : "false", tb ? "true" : "false", med, gf[reps - 1]);
  free(gf);
  free(A);
  free(B);
  free(C);
  return 0;
}
