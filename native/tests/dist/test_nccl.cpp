// The NCCL collectives of libfuselm_dist against its MPI ones (benchmarks/gpu/run.sh runs it, one
// GPU per rank: NCCL refuses two ranks on one device). Each rank fills a buffer of awkward length,
// copies it to its device, and reduces it there with NCCL and on the host with MPI:
//   sum: bit for bit with 2 ranks (one addition, commutative), else within 1e-6 relative;
//   mean: within 1e-6 relative (NCCL's average and MPI's sum * 1/size round differently);
//   broadcast from the last rank: bit for bit.
// Exit 77 (skipped) without a CUDA device; a failure prints the rank and exits 1.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <cuda_runtime.h>

#include "fuselm_dist.h"

namespace {

int rank_ = 0;

void expect(bool ok, const char *what) {
  if (!ok) {
    std::fprintf(stderr, "rank %d: FAILED: %s (%s)\n", rank_, what, fl_dist_last_error());
    std::exit(1);
  }
}

void cuda(cudaError_t e, const char *what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "rank %d: %s: %s\n", rank_, what, cudaGetErrorString(e));
    std::exit(1);
  }
}

bool close(float a, float b, double rtol) {
  const double d = std::fabs(static_cast<double>(a) - b);
  return d <= rtol * (std::fabs(static_cast<double>(b)) + 1e-30);
}

} // namespace

int main() {
  expect(fl_dist_init() == FL_DIST_OK, "init");
  int size = 1, built = 0, devices = 0;
  expect(fl_dist_rank(&rank_) == FL_DIST_OK && fl_dist_size(&size) == FL_DIST_OK, "rank/size");
  expect(fl_dist_nccl_built(&built) == FL_DIST_OK && built == 1, "built with NCCL");
  float dummy = 0;
  expect(fl_dist_nccl_allreduce_sum(&dummy, 1) == FL_DIST_ERR_INVALID_ARGUMENT,
         "all-reduce before fl_dist_nccl_init is refused");
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("rank %d: no CUDA device: skipped\n", rank_);
    fl_dist_finalize();
    return 77;
  }
  const int device = rank_ % devices;
  expect(fl_dist_nccl_init(device) == FL_DIST_OK, "fl_dist_nccl_init");
  expect(fl_dist_nccl_init(device) == FL_DIST_OK, "fl_dist_nccl_init twice");

  const int64_t n = (1 << 20) + 3;
  std::vector<float> host(n), mpi(n), back(n);
  for (int64_t i = 0; i < n; i++) {
    host[i] = static_cast<float>(std::sin(0.001 * i + rank_) * (rank_ + 1));
  }
  float *dev = nullptr;
  cuda(cudaSetDevice(device), "cudaSetDevice");
  cuda(cudaMalloc(&dev, n * sizeof(float)), "cudaMalloc");
  const double rtol = size == 2 ? 0 : 1e-6;

  cuda(cudaMemcpy(dev, host.data(), n * sizeof(float), cudaMemcpyHostToDevice), "to device");
  mpi = host;
  expect(fl_dist_nccl_allreduce_sum(dev, n) == FL_DIST_OK, "NCCL sum");
  expect(fl_dist_allreduce_sum(mpi.data(), n) == FL_DIST_OK, "MPI sum");
  cuda(cudaMemcpy(back.data(), dev, n * sizeof(float), cudaMemcpyDeviceToHost), "to host");
  for (int64_t i = 0; i < n; i++) {
    expect(close(back[i], mpi[i], rtol), "NCCL sum equals MPI sum");
  }

  cuda(cudaMemcpy(dev, host.data(), n * sizeof(float), cudaMemcpyHostToDevice), "to device");
  mpi = host;
  expect(fl_dist_nccl_allreduce_mean(dev, n) == FL_DIST_OK, "NCCL mean");
  expect(fl_dist_allreduce_mean(mpi.data(), n) == FL_DIST_OK, "MPI mean");
  cuda(cudaMemcpy(back.data(), dev, n * sizeof(float), cudaMemcpyDeviceToHost), "to host");
  for (int64_t i = 0; i < n; i++) {
    expect(close(back[i], mpi[i], 1e-6), "NCCL mean equals MPI mean");
  }

  const int root = size - 1;
  cuda(cudaMemcpy(dev, host.data(), n * sizeof(float), cudaMemcpyHostToDevice), "to device");
  expect(fl_dist_nccl_broadcast(dev, n, root) == FL_DIST_OK, "NCCL broadcast");
  cuda(cudaMemcpy(back.data(), dev, n * sizeof(float), cudaMemcpyDeviceToHost), "to host");
  for (int64_t i = 0; i < n; i++) {
    expect(back[i] == static_cast<float>(std::sin(0.001 * i + root) * (root + 1)),
           "broadcast value");
  }
  expect(fl_dist_nccl_allreduce_sum(nullptr, 3) == FL_DIST_ERR_INVALID_ARGUMENT, "NULL refused");
  expect(fl_dist_nccl_broadcast(dev, n, size) == FL_DIST_ERR_INVALID_ARGUMENT, "bad root refused");
  cuda(cudaFree(dev), "cudaFree");
  expect(fl_dist_finalize() == FL_DIST_OK, "finalize");
  std::printf("rank %d of %d: NCCL collectives equal MPI's on %lld floats (device %d)\n", rank_,
              size, static_cast<long long>(n), device);
  return 0;
}
