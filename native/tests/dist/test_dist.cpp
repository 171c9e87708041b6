// The collectives of libfuselm_dist over the ranks mpiexec starts (ctest runs it with 2): mean
// all-reduce (exact here: small integers scaled by a power of two), broadcast from each root,
// barrier, argument checks. A failure prints the rank and exits 1, which ends the job.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "fuselm_dist.h"

namespace {

int rank_ = 0;

void expect(bool ok, const char *what) {
  if (!ok) {
    std::fprintf(stderr, "rank %d: FAILED: %s (%s)\n", rank_, what, fl_dist_last_error());
    std::exit(1);
  }
}

} // namespace

int main() {
  expect(fl_dist_rank(&rank_) == FL_DIST_ERR_INVALID_ARGUMENT, "rank before init is refused");
  expect(fl_dist_init() == FL_DIST_OK, "init");
  expect(fl_dist_init() == FL_DIST_OK, "init twice");
  int size = 0;
  expect(fl_dist_rank(&rank_) == FL_DIST_OK && fl_dist_size(&size) == FL_DIST_OK, "rank/size");
  expect(size >= 1 && rank_ >= 0 && rank_ < size, "rank in [0, size)");
  expect(fl_dist_rank(nullptr) == FL_DIST_ERR_INVALID_ARGUMENT, "NULL out is refused");
  expect(fl_dist_allreduce_mean(nullptr, 3) == FL_DIST_ERR_INVALID_ARGUMENT, "NULL data refused");
  expect(fl_dist_allreduce_mean(nullptr, 0) == FL_DIST_OK, "empty all-reduce");

  // element i of rank r is r * 1000 + i: the mean is (size - 1) * 500 + i
  const int64_t n = 1003; // not a multiple of any vector width
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; i++) {
    v[i] = static_cast<float>(rank_ * 1000 + i);
  }
  expect(fl_dist_allreduce_mean(v.data(), n) == FL_DIST_OK, "all-reduce");
  for (int64_t i = 0; i < n; i++) {
    expect(v[i] == static_cast<float>((size - 1) * 500.0 + i), "mean value");
  }
  // sums: float (r + 1) * 0.5 + i, exact; double r * 1e10 + 0.25 (beyond float's 24 bits)
  std::vector<float> f(n);
  std::vector<double> d(n);
  for (int64_t i = 0; i < n; i++) {
    f[i] = static_cast<float>((rank_ + 1) * 0.5 + i);
    d[i] = rank_ * 1e10 + 0.25 + i;
  }
  expect(fl_dist_allreduce_sum(f.data(), n) == FL_DIST_OK, "sum all-reduce");
  expect(fl_dist_allreduce_sum_f64(d.data(), n) == FL_DIST_OK, "double sum all-reduce");
  const double ranks = size * (size - 1) / 2.0;
  for (int64_t i = 0; i < n; i++) {
    expect(f[i] == static_cast<float>((ranks + size) * 0.5 + size * i), "sum value");
    expect(d[i] == ranks * 1e10 + size * (0.25 + i), "double sum value");
  }
  expect(fl_dist_allreduce_sum_f64(nullptr, 2) == FL_DIST_ERR_INVALID_ARGUMENT, "NULL refused");
  for (int root = 0; root < size; root++) {
    std::vector<float> b(n, static_cast<float>(rank_ + 1));
    expect(fl_dist_broadcast(b.data(), n, root) == FL_DIST_OK, "broadcast");
    for (int64_t i = 0; i < n; i++) {
      expect(b[i] == static_cast<float>(root + 1), "broadcast value");
    }
  }
  expect(fl_dist_broadcast(v.data(), n, size) == FL_DIST_ERR_INVALID_ARGUMENT, "bad root refused");
  expect(fl_dist_barrier() == FL_DIST_OK, "barrier");
  expect(fl_dist_library_version()[0] != '\0', "library version");
  expect(fl_dist_finalize() == FL_DIST_OK && fl_dist_finalize() == FL_DIST_OK, "finalize twice");
  if (rank_ == 0) {
    std::printf("fuselm_dist_tests: %d ranks OK (%s)\n", size, fl_dist_library_version());
  }
  return 0;
}
