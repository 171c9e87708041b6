// Attention-probability dropout: which (batch, head, query, key) probabilities are kept.
//
// Shared by every backend (reference, CPU ISAs, CUDA) and by the forward and the backward, so the
// backward's recomputation drops exactly the entries the forward dropped. The decision is a pure
// function of (seed, b, h, i, j): a counter-based hash, no state, no ordering, any thread may ask.
// One 64-bit hash per score row, then two rounds of a 32-bit hash per column (32-bit multiplies
// only, so the CPU kernels' column loops vectorise):
//
//   row  = mix64(mix64(seed) + (b * NH + h) * T + i)                      (splitmix64 finaliser)
//   h    = mix32(mix32(lo32(row) + j * 0x9E3779B9) ^ hi32(row))            (Wellons' lowbias32)
//   keep = (h >> 8) >= threshold,   threshold = floor(p * 2^24)
//
// so an entry is kept with probability 1 - threshold / 2^24 (within 2^-24 of 1 - p), and a kept
// probability is scaled by 1 / (1 - p).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define FL_DROPOUT_FN static __host__ __device__ __forceinline__
#else
// static: internal linkage, so the AVX2 / AVX-512 translation units' copies can never be linked
// into a baseline caller (see cpu/attention_impl.h)
#define FL_DROPOUT_FN static inline
#endif

namespace fl {

// splitmix64's output function (Steele, Lea, Flood 2014): a bijection of 64-bit words whose every
// output bit depends on every input bit.
FL_DROPOUT_FN uint64_t dropout_mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Per-call key, computed once from the seed.
FL_DROPOUT_FN uint64_t dropout_key(uint64_t seed) { return dropout_mix64(seed); }

// threshold for dropping with probability p in [0, 1): floor(p * 2^24), exact in double.
FL_DROPOUT_FN uint32_t dropout_threshold(float p) {
  return static_cast<uint32_t>(static_cast<double>(p) * 16777216.0);
}

// lowbias32 (C. Wellons' hash-prospector): a bijection of 32-bit words with low bias.
FL_DROPOUT_FN uint32_t dropout_mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7FEB352Du;
  x ^= x >> 15;
  x *= 0x846CA68Bu;
  x ^= x >> 16;
  return x;
}

// The hash of score row i of head bh = b * NH + h.
FL_DROPOUT_FN uint64_t dropout_row_key(uint64_t key, int64_t bh, int64_t T, int64_t i) {
  return dropout_mix64(key + static_cast<uint64_t>(bh) * static_cast<uint64_t>(T) +
                       static_cast<uint64_t>(i));
}

// Whether column (key) j of the row with hash row_key survives.
FL_DROPOUT_FN bool dropout_keep_col(uint64_t row_key, int64_t j, uint32_t threshold) {
  const uint32_t x = static_cast<uint32_t>(row_key) + static_cast<uint32_t>(j) * 0x9E3779B9u;
  const uint32_t h = dropout_mix32(dropout_mix32(x) ^ static_cast<uint32_t>(row_key >> 32));
  return (h >> 8) >= threshold;
}

// Whether the probability of query i against key j in head bh = b * NH + h survives.
FL_DROPOUT_FN bool dropout_keep(uint64_t key, int64_t bh, int64_t T, int64_t i, int64_t j,
                                uint32_t threshold) {
  return dropout_keep_col(dropout_row_key(key, bh, T, i), j, threshold);
}

}  // namespace fl
