// libfuselm_dist's NCCL collectives (fuselm_dist.h, "NCCL"): gradients that live on a CUDA device
// are added up by NCCL, never copied through the host. Built with FUSELM_HAVE_NCCL when CMake finds
// nccl.h and the CUDA toolkit; libnccl.so.2 itself is opened here at fl_dist_nccl_init (dlopen), so
// libfuselm_dist links no NCCL and CPU runs over MPI never need it. Without FUSELM_HAVE_NCCL every
// call fails with a one-line error saying how to build it.
#include <cstdint>
#include <string>

#include "dist_internal.h"
#include "fuselm_dist.h"

#ifdef FUSELM_HAVE_NCCL
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>

namespace {

// What to install when libnccl.so.2 cannot be opened.
const char *kInstall = "install NCCL (libnccl.so.2: `pip install nvidia-nccl-cu13` and put its"
                       " nvidia/nccl/lib on LD_LIBRARY_PATH, or apt-get install libnccl2)";

// The NCCL entry points, resolved from libnccl.so.2 at run time.
struct Nccl {
  void *handle = nullptr;
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRank) comm_init_rank = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclBroadcast) broadcast = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;
};

Nccl nccl;
ncclComm_t comm = nullptr;
cudaStream_t stream = nullptr;
int comm_device = -1;

int cuda_fail(const char *what, cudaError_t e) {
  return fuselm_dist::fail(FL_DIST_ERR_COMMUNICATION,
                           std::string(what) + " failed: " + cudaGetErrorString(e));
}

int nccl_fail(const char *what, ncclResult_t r) {
  return fuselm_dist::fail(FL_DIST_ERR_COMMUNICATION,
                           std::string(what) + " failed: " + nccl.error_string(r));
}

template <typename F> bool resolve(F &f, const char *name) {
  f = reinterpret_cast<F>(dlsym(nccl.handle, name));
  return f != nullptr;
}

int open_nccl() {
  if (nccl.handle != nullptr) {
    return FL_DIST_OK;
  }
  void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    return fuselm_dist::fail(FL_DIST_ERR_COMMUNICATION,
                             std::string("NCCL is not installed: ") + kInstall + " (" + dlerror() +
                                 ")");
  }
  nccl.handle = h;
  if (!resolve(nccl.get_unique_id, "ncclGetUniqueId") ||
      !resolve(nccl.comm_init_rank, "ncclCommInitRank") ||
      !resolve(nccl.all_reduce, "ncclAllReduce") || !resolve(nccl.broadcast, "ncclBroadcast") ||
      !resolve(nccl.comm_destroy, "ncclCommDestroy") ||
      !resolve(nccl.error_string, "ncclGetErrorString")) {
    dlclose(h);
    nccl = Nccl{};
    return fuselm_dist::fail(FL_DIST_ERR_COMMUNICATION,
                             std::string("libnccl.so.2 lacks an entry point (NCCL >= 2.10 is"
                                         " needed): ") + kInstall);
  }
  return FL_DIST_OK;
}

int check_comm(const char *what, const float *data, int64_t n) {
  if (comm == nullptr) {
    return fuselm_dist::fail(FL_DIST_ERR_INVALID_ARGUMENT,
                             std::string(what) + ": fl_dist_nccl_init was not called");
  }
  if (n < 0 || (n > 0 && data == nullptr)) {
    return fuselm_dist::fail(FL_DIST_ERR_INVALID_ARGUMENT,
                             std::string(what) + ": bad buffer (n = " + std::to_string(n) + ")");
  }
  return FL_DIST_OK;
}

// The gradients were written by the model's own (non-blocking) stream in libfuselm: wait for all
// of the device's work, run the collective on this library's stream, and wait for it, so the
// caller sees the result in place, as with the MPI collectives.
int begin() {
  cudaError_t e = cudaSetDevice(comm_device);
  if (e == cudaSuccess) {
    e = cudaDeviceSynchronize();
  }
  return e == cudaSuccess ? FL_DIST_OK : cuda_fail("cudaDeviceSynchronize", e);
}

int finish(const char *what, ncclResult_t r) {
  if (r != ncclSuccess) {
    return nccl_fail(what, r);
  }
  cudaError_t e = cudaStreamSynchronize(stream);
  return e == cudaSuccess ? FL_DIST_OK : cuda_fail("cudaStreamSynchronize", e);
}

int allreduce(const char *what, float *data, int64_t n, ncclRedOp_t op) {
  int st = check_comm(what, data, n);
  if (st == FL_DIST_OK && n > 0) {
    st = begin();
    if (st == FL_DIST_OK) {
      st = finish("ncclAllReduce", nccl.all_reduce(data, data, static_cast<size_t>(n), ncclFloat32,
                                                   op, comm, stream));
    }
  }
  return st;
}

} // namespace

namespace fuselm_dist {

void nccl_shutdown() {
  if (comm != nullptr) {
    nccl.comm_destroy(comm);
    comm = nullptr;
  }
  if (stream != nullptr) {
    cudaStreamDestroy(stream);
    stream = nullptr;
  }
  comm_device = -1;
}

} // namespace fuselm_dist

extern "C" {

int fl_dist_nccl_built(int *out) {
  if (out == nullptr) {
    return fuselm_dist::fail(FL_DIST_ERR_INVALID_ARGUMENT, "fl_dist_nccl_built: out is NULL");
  }
  *out = 1;
  return FL_DIST_OK;
}

int fl_dist_nccl_init(int device) {
  if (comm != nullptr) {
    return device == comm_device
               ? FL_DIST_OK
               : fuselm_dist::fail(FL_DIST_ERR_INVALID_ARGUMENT,
                                   "fl_dist_nccl_init: already joined on CUDA device " +
                                       std::to_string(comm_device) + ", not " +
                                       std::to_string(device));
  }
  int rank = 0, size = 1;
  int st = fl_dist_rank(&rank);
  if (st == FL_DIST_OK) {
    st = fl_dist_size(&size);
  }
  if (st != FL_DIST_OK) {
    return st;
  }
  // Every rank takes part in the broadcast even when its NCCL cannot load, so that no rank waits
  // in it forever: rank 0 sends an id (all zeros when it has no NCCL) and each rank then fails on
  // its own.
  int loaded = open_nccl();
  ncclUniqueId id{};
  if (rank == 0 && loaded == FL_DIST_OK) {
    ncclResult_t r = nccl.get_unique_id(&id);
    if (r != ncclSuccess) {
      loaded = nccl_fail("ncclGetUniqueId", r);
    }
  }
  std::string error = loaded == FL_DIST_OK ? "" : fl_dist_last_error();
  st = fuselm_dist::broadcast_bytes(&id, static_cast<int>(sizeof id));
  if (st != FL_DIST_OK) {
    return st;
  }
  if (loaded != FL_DIST_OK) {
    return fuselm_dist::fail(loaded, error);
  }
  bool zero = true;
  for (char c : id.internal) {
    zero = zero && c == 0;
  }
  if (zero) {
    return fuselm_dist::fail(FL_DIST_ERR_COMMUNICATION, "rank 0 could not start NCCL (see its"
                                                        " error); NCCL needs it on every rank");
  }
  cudaError_t e = cudaSetDevice(device);
  if (e != cudaSuccess) {
    return cuda_fail("cudaSetDevice", e);
  }
  e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  if (e != cudaSuccess) {
    stream = nullptr;
    return cuda_fail("cudaStreamCreate", e);
  }
  ncclResult_t r = nccl.comm_init_rank(&comm, size, id, rank);
  if (r != ncclSuccess) {
    comm = nullptr;
    cudaStreamDestroy(stream);
    stream = nullptr;
    // NCCL >= 2.5 refuses two ranks on one GPU ("Duplicate GPU detected", invalid usage)
    return nccl_fail(r == ncclInvalidUsage ? "ncclCommInitRank (one GPU per rank is needed: give"
                                             " each rank its own CUDA_VISIBLE_DEVICES)"
                                           : "ncclCommInitRank",
                     r);
  }
  comm_device = device;
  return FL_DIST_OK;
}

int fl_dist_nccl_allreduce_sum(float *data, int64_t n) {
  return allreduce("fl_dist_nccl_allreduce_sum", data, n, ncclSum);
}

int fl_dist_nccl_allreduce_mean(float *data, int64_t n) {
  return allreduce("fl_dist_nccl_allreduce_mean", data, n, ncclAvg);
}

int fl_dist_nccl_broadcast(float *data, int64_t n, int root) {
  int st = check_comm("fl_dist_nccl_broadcast", data, n);
  int size = 1;
  if (st == FL_DIST_OK) {
    st = fl_dist_size(&size);
  }
  if (st == FL_DIST_OK && (root < 0 || root >= size)) {
    st = fuselm_dist::fail(FL_DIST_ERR_INVALID_ARGUMENT,
                           "fl_dist_nccl_broadcast: root " + std::to_string(root) +
                               " is not a rank of " + std::to_string(size));
  }
  if (st == FL_DIST_OK && n > 0) {
    st = begin();
    if (st == FL_DIST_OK) {
      st = finish("ncclBroadcast", nccl.broadcast(data, data, static_cast<size_t>(n), ncclFloat32,
                                                  root, comm, stream));
    }
  }
  return st;
}

} // extern "C"

#else // no NCCL in this build

namespace {

int not_built(const char *what) {
  return fuselm_dist::fail(FL_DIST_ERR_COMMUNICATION,
                           std::string(what) + ": this libfuselm_dist was built without NCCL"
                                               " (build with the CUDA toolkit and NCCL's headers:"
                                               " pip install nvidia-nccl-cu13 and"
                                               " -DFUSELM_NCCL_ROOT=<site-packages>/nvidia/nccl)");
}

} // namespace

namespace fuselm_dist {
void nccl_shutdown() {}
} // namespace fuselm_dist

extern "C" {

int fl_dist_nccl_built(int *out) {
  if (out == nullptr) {
    return fuselm_dist::fail(FL_DIST_ERR_INVALID_ARGUMENT, "fl_dist_nccl_built: out is NULL");
  }
  *out = 0;
  return FL_DIST_OK;
}

int fl_dist_nccl_init(int) { return not_built("fl_dist_nccl_init"); }
int fl_dist_nccl_allreduce_sum(float *, int64_t) { return not_built("fl_dist_nccl_allreduce_sum"); }
int fl_dist_nccl_allreduce_mean(float *, int64_t) {
  return not_built("fl_dist_nccl_allreduce_mean");
}
int fl_dist_nccl_broadcast(float *, int64_t, int) { return not_built("fl_dist_nccl_broadcast"); }

} // extern "C"

#endif
