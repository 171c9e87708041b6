// Internal declarations shared by the API layer and the backends. Nothing here crosses the C API.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#include "fuselm.h"

namespace fl {

class ThreadPool;

namespace cpu {
struct CpuKernels;  // cpu/cpu_kernels.h
// The kernel table of the op families compiled per ISA, for the best level <= isa of this build.
const CpuKernels *kernels_for_isa(int isa);
}  // namespace cpu

// What a CPU kernel needs from its context: how many threads, which instruction set.
struct CpuContext {
  int threads;
  int isa;  // FL_ISA_*
  ThreadPool *pool;
  const cpu::CpuKernels *kernels;  // kernels_for_isa(isa), set whenever isa is
};

// Runs fn(begin, end) over [0, n) split into chunks of at least `grain` items on the context's
// threads (the calling thread takes part). Returns when every chunk is done.
void parallel_for(const CpuContext &ctx, int64_t n, int64_t grain,
                  const std::function<void(int64_t, int64_t)> &fn);

// Thrown by kernels for failures a caller can see (bad argument, allocation); the API layer turns
// it into a status code and fl_last_error().
struct Error : std::runtime_error {
  int status;
  Error(int status, const std::string &msg) : std::runtime_error(msg), status(status) {}
};

// ---- the backends' op declarations, generated from include/fuselm_ops.def ------------------
// Same arguments and semantics as the exported fl_<name>, without the context (ref) or with the
// backend's own context first (cpu; cuda in cuda_internal.h).
#define FL_UNPAREN_(...) __VA_ARGS__

// REFERENCE: plain loops, the oracle for every other backend
namespace ref {
#define FL_KERNEL(name, where, params, args) void name(FL_UNPAREN_ params);
#include "fuselm_ops.def"
#undef FL_KERNEL
}  // namespace ref

// CPU: vectorised (one kernel table per ISA level, chosen by ctx.isa) and multi-threaded
namespace cpu {
#define FL_KERNEL(name, where, params, args) void name(const CpuContext &ctx, FL_UNPAREN_ params);
#include "fuselm_ops.def"
#undef FL_KERNEL
}  // namespace cpu

// One backend as the API layer sees it: a slot per kernel of fuselm_ops.def, taking the C context
// (null = the backend has no such kernel). api.cpp builds one table per backend and a context
// points at its backend's table from creation on.
struct OpTable {
#define FL_KERNEL(name, where, params, args) void (*name)(fl_context *ctx, FL_UNPAREN_ params);
#include "fuselm_ops.def"
#undef FL_KERNEL
};

// Which ISA levels this build and this CPU support.
int cpu_best_isa();

}  // namespace fl
