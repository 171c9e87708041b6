// Token + position embeddings: forward (gather) and backward (scatter-add), atomic-free.
//
// Forward: one block per (b, t) row, threads over C.
// Backward:
//   dwpe[t] += sum_b dout[b, t]: one thread per (t, c) sums over b in order.
//   dwte[id] += dout[rows with that id]: the rows are sorted by id with CUB's stable radix sort
//   ((id, row) pairs, so rows with one id stay in increasing order), then one block per run of equal
//   ids adds that run's rows, in row order, into the id's gradient row. No atomics, so the result is
//   bitwise reproducible; a run of many equal ids (padding tokens) is summed by a single block, which
//   is the price of determinism. (The atomicAdd scatter is simpler but its float sums depend on
//   scheduling order.)
#include <cub/device/device_radix_sort.cuh>

#include "common.cuh"

namespace fl {
namespace cuda {

namespace {

__global__ void embedding_forward_kernel(float *out, const int32_t *ids, const float *wte,
                                         const float *wpe, int64_t T, int64_t C) {
  const int64_t row = blockIdx.x;
  const int64_t t = row % T;
  const float *e = wte + static_cast<int64_t>(ids[row]) * C;
  float *y = out + row * C;
  if (wpe != nullptr) {
    const float *p = wpe + t * C;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) y[c] = e[c] + p[c];
  } else {
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) y[c] = e[c];
  }
}

__global__ void embedding_backward_wpe_kernel(float *dwpe, const float *dout, int64_t B, int64_t T,
                                              int64_t C) {
  const int64_t TC = T * C;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < TC;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float s = 0.0f;
    for (int64_t b = 0; b < B; b++) s += dout[b * TC + i];
    dwpe[i] += s;
  }
}

__global__ void iota_kernel(int32_t *x, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[i] = static_cast<int32_t>(i);
}

// Block p: if sorted position p starts a run of equal ids, add the run's rows into dwte[id].
__global__ void embedding_backward_wte_kernel(float *dwte, const float *dout, const int32_t *sorted_ids,
                                              const int32_t *sorted_rows, int64_t n, int64_t C) {
  const int64_t p = blockIdx.x;
  const int32_t id = sorted_ids[p];
  if (p > 0 && sorted_ids[p - 1] == id) return;  // not the start of a run
  int64_t end = p + 1;
  while (end < n && sorted_ids[end] == id) end++;
  float *g = dwte + static_cast<int64_t>(id) * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float s = 0.0f;
    for (int64_t q = p; q < end; q++) s += dout[static_cast<int64_t>(sorted_rows[q]) * C + c];
    g[c] += s;
  }
}

inline int col_threads(int64_t C) {
  int t = 32;
  while (t < C && t < 256) t <<= 1;
  return t;
}

}  // namespace

void embedding_forward(CudaContext &ctx, float *out, const int32_t *ids, const float *wte,
                       const float *wpe, int64_t B, int64_t T, int64_t C) {
  const int64_t rows = B * T;
  if (rows == 0 || C == 0) return;
  if (rows > 2147483647LL)
    throw Error(FL_ERR_UNSUPPORTED, "fl_embedding_forward: more than 2^31 - 1 rows on CUDA");
  activate(ctx);
  embedding_forward_kernel<<<static_cast<unsigned>(rows), col_threads(C), 0, stream_of(ctx)>>>(
      out, ids, wte, wpe, T, C);
  check_launch(ctx, "fl_embedding_forward/embedding_forward_kernel");
}

void embedding_backward(CudaContext &ctx, float *dwte, float *dwpe, const float *dout,
                        const int32_t *ids, int64_t B, int64_t T, int64_t C) {
  const int64_t rows = B * T;
  if (rows == 0 || C == 0) return;
  if (rows > 2147483647LL)
    throw Error(FL_ERR_UNSUPPORTED, "fl_embedding_backward: more than 2^31 - 1 rows on CUDA");
  activate(ctx);
  cudaStream_t s = stream_of(ctx);
  if (dwpe != nullptr) {
    embedding_backward_wpe_kernel<<<blocks_for(T * C, 256), 256, 0, s>>>(dwpe, dout, B, T, C);
    check_launch(ctx, "fl_embedding_backward/embedding_backward_wpe_kernel");
  }
  if (dwte == nullptr) return;
  const int n = static_cast<int>(rows);
  // ids are in [0, V) with V unknown here: sort on all 31 value bits of a non-negative int32
  const int end_bit = 31;
  size_t temp_bytes = 0;
  check(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, ids, static_cast<int32_t *>(nullptr),
                                        static_cast<const int32_t *>(nullptr),
                                        static_cast<int32_t *>(nullptr), n, 0, end_bit, s),
        "fl_embedding_backward/cub::DeviceRadixSort (size query)");
  // scratch: sorted ids | row indices | sorted rows | CUB temporary storage
  const int64_t arr = (rows * 4 + 255) / 256 * 256;
  char *base = static_cast<char *>(scratch(ctx, 3 * arr + static_cast<int64_t>(temp_bytes)));
  int32_t *sorted_ids = reinterpret_cast<int32_t *>(base);
  int32_t *row_idx = reinterpret_cast<int32_t *>(base + arr);
  int32_t *sorted_rows = reinterpret_cast<int32_t *>(base + 2 * arr);
  void *temp = base + 3 * arr;
  iota_kernel<<<blocks_for(rows, 256), 256, 0, s>>>(row_idx, rows);
  check_launch(ctx, "fl_embedding_backward/iota_kernel");
  check(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, ids, sorted_ids,
                                        static_cast<const int32_t *>(row_idx), sorted_rows, n, 0,
                                        end_bit, s),
        "fl_embedding_backward/cub::DeviceRadixSort");
  check_launch(ctx, "fl_embedding_backward/cub::DeviceRadixSort");
  embedding_backward_wte_kernel<<<static_cast<unsigned>(rows), col_threads(C), 0, s>>>(
      dwte, dout, sorted_ids, sorted_rows, rows, C);
  check_launch(ctx, "fl_embedding_backward/embedding_backward_wte_kernel");
}

}  // namespace cuda
}  // namespace fl
