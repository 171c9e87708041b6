/* The machine's fp32 peak and memory bandwidth, for stating utilisation beside the GPT benchmarks.
 *
 *   fma   each thread runs a tight loop of independent fused multiply-adds on 12 vector registers
 *         (AVX-512 when the CPU has it, else AVX2+FMA; AVX2+FMA is required); 2 flops per lane per FMA. This is the
 *         arithmetic peak a GEMM could approach, at whatever clock the cores run under this load.
 *   read  each thread sums its half of a 512 MiB float array (the traffic of a weight-streaming
 *         decoder: every weight read once per token); bytes read / s.
 *   copy  STREAM-style copy a[i] = b[i] over 2 x 256 MiB arrays; (bytes read + bytes written) / s.
 * Each figure is the best of --reps repetitions (10 x --reps for the short FMA loop): peak capability;
 * on a shared machine the other processes' load still pulls these figures down.
 * Prints one JSON line: {"threads":T,"fma_isa":"avx2","fp32_peak_gflops":..,"read_gbs":..,"copy_gbs":..}
 *
 * Check that the loop kept its 12 chains: objdump -d machine_peak | grep -c vfmadd (24 or more).
 * Build: cc -O2 -pthread -o machine_peak machine_peak.c
 * Usage: machine_peak [--threads T] [--reps R] [--fma-only]   (--fma-only: the fp32 peak alone)
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define FMA_ITERS 20000000L

__attribute__((target("avx2,fma"))) static float fma_avx2(long iters) {
  /* distinct starting values: identical chains would be merged into one by the compiler */
  __m256 a0 = _mm256_set1_ps(1.00f), a1 = _mm256_set1_ps(1.01f), a2 = _mm256_set1_ps(1.02f),
         a3 = _mm256_set1_ps(1.03f), a4 = _mm256_set1_ps(1.04f), a5 = _mm256_set1_ps(1.05f),
         a6 = _mm256_set1_ps(1.06f), a7 = _mm256_set1_ps(1.07f), a8 = _mm256_set1_ps(1.08f),
         a9 = _mm256_set1_ps(1.09f), a10 = _mm256_set1_ps(1.10f), a11 = _mm256_set1_ps(1.11f);
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (long i = 0; i < iters; i++) {
    a0 = _mm256_fmadd_ps(a0, m, c); a1 = _mm256_fmadd_ps(a1, m, c);
    a2 = _mm256_fmadd_ps(a2, m, c); a3 = _mm256_fmadd_ps(a3, m, c);
    a4 = _mm256_fmadd_ps(a4, m, c); a5 = _mm256_fmadd_ps(a5, m, c);
    a6 = _mm256_fmadd_ps(a6, m, c); a7 = _mm256_fmadd_ps(a7, m, c);
    a8 = _mm256_fmadd_ps(a8, m, c); a9 = _mm256_fmadd_ps(a9, m, c);
    a10 = _mm256_fmadd_ps(a10, m, c); a11 = _mm256_fmadd_ps(a11, m, c);
    __asm__ volatile("" ::: "memory");
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

__attribute__((target("avx512f"))) static float fma_avx512(long iters) {
  __m512 a0 = _mm512_set1_ps(1.00f), a1 = _mm512_set1_ps(1.01f), a2 = _mm512_set1_ps(1.02f),
         a3 = _mm512_set1_ps(1.03f), a4 = _mm512_set1_ps(1.04f), a5 = _mm512_set1_ps(1.05f),
         a6 = _mm512_set1_ps(1.06f), a7 = _mm512_set1_ps(1.07f), a8 = _mm512_set1_ps(1.08f),
         a9 = _mm512_set1_ps(1.09f), a10 = _mm512_set1_ps(1.10f), a11 = _mm512_set1_ps(1.11f);
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (long i = 0; i < iters; i++) {
    a0 = _mm512_fmadd_ps(a0, m, c); a1 = _mm512_fmadd_ps(a1, m, c);
    a2 = _mm512_fmadd_ps(a2, m, c); a3 = _mm512_fmadd_ps(a3, m, c);
    a4 = _mm512_fmadd_ps(a4, m, c); a5 = _mm512_fmadd_ps(a5, m, c);
    a6 = _mm512_fmadd_ps(a6, m, c); a7 = _mm512_fmadd_ps(a7, m, c);
    a8 = _mm512_fmadd_ps(a8, m, c); a9 = _mm512_fmadd_ps(a9, m, c);
    a10 = _mm512_fmadd_ps(a10, m, c); a11 = _mm512_fmadd_ps(a11, m, c);
    __asm__ volatile("" ::: "memory");
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                           _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2"))) static float sum_avx2(const float *p, long n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  long i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_add_ps(s0, _mm256_load_ps(p + i));
    s1 = _mm256_add_ps(s1, _mm256_load_ps(p + i + 8));
    s2 = _mm256_add_ps(s2, _mm256_load_ps(p + i + 16));
    s3 = _mm256_add_ps(s3, _mm256_load_ps(p + i + 24));
  }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

static int use_avx512;
static float *arr_a, *arr_b;
static long n_floats;
static int n_threads;
static volatile float sink;

typedef struct {
  int id, kind; /* 0 fma, 1 read, 2 copy */
  pthread_barrier_t *bar;
  double t0, t1;
} job_t;

static void *worker(void *p) {
  job_t *j = (job_t *)p;
  long lo = n_floats * j->id / n_threads, hi = n_floats * (j->id + 1) / n_threads;
  pthread_barrier_wait(j->bar);
  j->t0 = now_s();
  if (j->kind == 0) {
    sink = use_avx512 ? fma_avx512(FMA_ITERS / 2) : fma_avx2(FMA_ITERS);
  } else if (j->kind == 1) {
    sink = sum_avx2(arr_a + lo, hi - lo); /* lo is a multiple of 32 floats: n_floats = 2^27 */
  } else {
    memcpy(arr_b + lo, arr_a + lo, (size_t)(hi - lo) * sizeof(float));
  }
  j->t1 = now_s();
  return NULL;
}

/* wall time from the first thread's start to the last thread's end */
static double run(int kind) {
  pthread_t th[64];
  job_t jobs[64];
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, (unsigned)n_threads);
  for (int i = 0; i < n_threads; i++) {
    jobs[i] = (job_t){i, kind, &bar, 0, 0};
    pthread_create(&th[i], NULL, worker, &jobs[i]);
  }
  double t0 = 1e300, t1 = 0;
  for (int i = 0; i < n_threads; i++) {
    pthread_join(th[i], NULL);
    if (jobs[i].t0 < t0) t0 = jobs[i].t0;
    if (jobs[i].t1 > t1) t1 = jobs[i].t1;
  }
  pthread_barrier_destroy(&bar);
  return t1 - t0;
}

int main(int argc, char **argv) {
  n_threads = 2;
  int reps = 5, fma_only = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--fma-only")) fma_only = 1; /* the peak alone: no 1 GiB of arrays */
    else if (i + 1 < argc && !strcmp(argv[i], "--threads")) n_threads = atoi(argv[++i]);
    else if (i + 1 < argc && !strcmp(argv[i], "--reps")) reps = atoi(argv[++i]);
  }
  if (n_threads < 1 || n_threads > 64 || reps < 1) {
    fprintf(stderr, "usage: machine_peak [--threads 1..64] [--reps R] [--fma-only]\n");
    return 2;
  }
  __builtin_cpu_init();
  use_avx512 = __builtin_cpu_supports("avx512f");
  if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
    fprintf(stderr, "machine_peak: needs AVX2+FMA or AVX-512\n");
    return 1;
  }
  if (fma_only) {
    double best = 1e300;
    for (int r = 0; r < 10 * reps; r++) {
      double t = run(0);
      if (t < best) best = t;
    }
    double lanes = use_avx512 ? 16 : 8, iters = use_avx512 ? FMA_ITERS / 2 : FMA_ITERS;
    printf("{\"threads\":%d,\"fma_isa\":\"%s\",\"fp32_peak_gflops\":%.1f}\n", n_threads,
           use_avx512 ? "avx512" : "avx2", (double)n_threads * iters * 12 * lanes * 2 / best / 1e9);
    return 0;
  }
  n_floats = 128L << 20; /* 512 MiB per array */
  arr_a = (float *)aligned_alloc(64, (size_t)n_floats * 4);
  arr_b = (float *)aligned_alloc(64, (size_t)n_floats * 4);
  if (!arr_a || !arr_b) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  for (long i = 0; i < n_floats; i++) arr_a[i] = (float)(i & 1023), arr_b[i] = 0;

  double best_fma = 1e300, best_read = 1e300, best_copy = 1e300;
  for (int r = 0; r < reps; r++) {
    double t;
    for (int f = 0; f < 10; f++) { /* 40 ms each: ten tries to catch a quiet moment on a shared machine */
      t = run(0);
      if (t < best_fma) best_fma = t;
    }
    t = run(1);
    if (t < best_read) best_read = t;
    t = run(2);
    if (t < best_copy) best_copy = t;
  }
  double lanes = use_avx512 ? 16 : 8;
  double iters = use_avx512 ? FMA_ITERS / 2 : FMA_ITERS;
  double flops = (double)n_threads * iters * 12 * lanes * 2;
  double bytes = (double)n_floats * 4;
  printf("{\"threads\":%d,\"fma_isa\":\"%s\",\"fp32_peak_gflops\":%.1f,\"read_gbs\":%.1f,"
         "\"copy_gbs\":%.1f}\n", n_threads, use_avx512 ? "avx512" : "avx2", flops / best_fma / 1e9,
         bytes / best_read / 1e9, 2 * bytes / best_copy / 1e9);
  return 0;
}
