// libfuselm_dist: fuselm_dist.h over MPI. Nothing here is reached by a single-process run.
#define OMPI_SKIP_MPICXX 1 // the C API only: Open MPI's deprecated C++ bindings need libmpi_cxx
#include <mpi.h>

#include <climits>
#include <csignal>
#include <cstring>
#include <string>

#include "dist_internal.h"
#include "fuselm_dist.h"

namespace {

thread_local std::string last_error;
std::string library_version;
int world_rank = 0;
int world_size = 1;
bool joined = false;

int fail(int status, const std::string &msg) {
  last_error = msg;
  return status;
}

// The MPI error as text, for the message of a failed call.
int mpi_fail(const char *what, int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) {
    len = 0;
  }
  return fail(FL_DIST_ERR_COMMUNICATION,
              std::string(what) + " failed: " + std::string(text, static_cast<size_t>(len)));
}

int check_joined(const char *what) {
  if (!joined) {
    return fail(FL_DIST_ERR_INVALID_ARGUMENT, std::string(what) + ": fl_dist_init was not called");
  }
  return FL_DIST_OK;
}

// MPI counts are int: larger buffers go in chunks of at most INT_MAX / 2 floats.
constexpr int64_t kChunk = INT_MAX / 2;

} // namespace

namespace fuselm_dist {

int fail(int status, const std::string &msg) { return ::fail(status, msg); }

int broadcast_bytes(void *data, int bytes) {
  int st = check_joined("broadcast_bytes");
  if (st != FL_DIST_OK) {
    return st;
  }
  int rc = MPI_Bcast(data, bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
  return rc == MPI_SUCCESS ? FL_DIST_OK : mpi_fail("MPI_Bcast", rc);
}

} // namespace fuselm_dist

extern "C" {

const char *fl_dist_last_error(void) { return last_error.c_str(); }

const char *fl_dist_library_version(void) {
  if (library_version.empty()) {
    char text[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(text, &len) == MPI_SUCCESS) {
      library_version.assign(text, static_cast<size_t>(len));
      size_t eol = library_version.find('\n');
      if (eol != std::string::npos) {
        library_version.resize(eol);
      }
    }
  }
  return library_version.c_str();
}

int fl_dist_init(void) {
  if (joined) {
    return FL_DIST_OK;
  }
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    // Open MPI installs stack-trace handlers for these signals (opal_signal); a JVM needs its own
    // (implicit null checks and safepoints raise SIGSEGV), so they are put back after MPI_Init.
    const int kept[] = {SIGSEGV, SIGBUS, SIGFPE, SIGABRT};
    struct sigaction saved[4];
    for (int i = 0; i < 4; i++) {
      sigaction(kept[i], nullptr, &saved[i]);
    }
    int rc = MPI_Init(nullptr, nullptr);
    for (int i = 0; i < 4; i++) {
      sigaction(kept[i], &saved[i], nullptr);
    }
    if (rc != MPI_SUCCESS) {
      return fail(FL_DIST_ERR_COMMUNICATION, "MPI_Init failed (is this process started by mpirun"
                                             " or srun --mpi=pmix?)");
    }
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rc = MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  if (rc == MPI_SUCCESS) {
    rc = MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  }
  if (rc != MPI_SUCCESS) {
    return mpi_fail("MPI_Comm_rank/size", rc);
  }
  joined = true;
  return FL_DIST_OK;
}

int fl_dist_rank(int *out) {
  if (out == nullptr) {
    return fail(FL_DIST_ERR_INVALID_ARGUMENT, "fl_dist_rank: out is NULL");
  }
  int st = check_joined("fl_dist_rank");
  if (st == FL_DIST_OK) {
    *out = world_rank;
  }
  return st;
}

int fl_dist_size(int *out) {
  if (out == nullptr) {
    return fail(FL_DIST_ERR_INVALID_ARGUMENT, "fl_dist_size: out is NULL");
  }
  int st = check_joined("fl_dist_size");
  if (st == FL_DIST_OK) {
    *out = world_size;
  }
  return st;
}

int fl_dist_allreduce_mean(float *data, int64_t n) {
  int st = check_joined("fl_dist_allreduce_mean");
  if (st != FL_DIST_OK) {
    return st;
  }
  if (n < 0 || (n > 0 && data == nullptr)) {
    return fail(FL_DIST_ERR_INVALID_ARGUMENT, "fl_dist_allreduce_mean: bad buffer (n = " +
                                                  std::to_string(n) + ")");
  }
  for (int64_t off = 0; off < n; off += kChunk) {
    int count = static_cast<int>(n - off < kChunk ? n - off : kChunk);
    int rc = MPI_Allreduce(MPI_IN_PLACE, data + off, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
      return mpi_fail("MPI_Allreduce", rc);
    }
  }
  if (world_size > 1) {
    // every rank holds the same sums, so every rank scales them to the same means
    const float scale = 1.0f / static_cast<float>(world_size);
    for (int64_t i = 0; i < n; i++) {
      data[i] *= scale;
    }
  }
  return FL_DIST_OK;
}

/* Sum all-reduce in place, in chunks of kChunk elements of one MPI type (elem bytes each). */
static int allreduce_sum(const char *what, void *data, size_t elem, int64_t n,
                         MPI_Datatype type) {
  int st = check_joined(what);
  if (st != FL_DIST_OK) {
    return st;
  }
  if (n < 0 || (n > 0 && data == nullptr)) {
    return fail(FL_DIST_ERR_INVALID_ARGUMENT, std::string(what) + ": bad buffer (n = " +
                                                  std::to_string(n) + ")");
  }
  for (int64_t off = 0; off < n; off += kChunk) {
    int count = static_cast<int>(n - off < kChunk ? n - off : kChunk);
    int rc = MPI_Allreduce(MPI_IN_PLACE, static_cast<char *>(data) + off * elem, count, type,
                           MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
      return mpi_fail("MPI_Allreduce", rc);
    }
  }
  return FL_DIST_OK;
}

int fl_dist_allreduce_sum(float *data, int64_t n) {
  return allreduce_sum("fl_dist_allreduce_sum", data, sizeof(float), n, MPI_FLOAT);
}

int fl_dist_allreduce_sum_f64(double *data, int64_t n) {
  return allreduce_sum("fl_dist_allreduce_sum_f64", data, sizeof(double), n, MPI_DOUBLE);
}

int fl_dist_broadcast(float *data, int64_t n, int root) {
  int st = check_joined("fl_dist_broadcast");
  if (st != FL_DIST_OK) {
    return st;
  }
  if (n < 0 || (n > 0 && data == nullptr) || root < 0 || root >= world_size) {
    return fail(FL_DIST_ERR_INVALID_ARGUMENT, "fl_dist_broadcast: bad buffer or root (n = " +
                                                  std::to_string(n) + ", root " +
                                                  std::to_string(root) + ")");
  }
  for (int64_t off = 0; off < n; off += kChunk) {
    int count = static_cast<int>(n - off < kChunk ? n - off : kChunk);
    int rc = MPI_Bcast(data + off, count, MPI_FLOAT, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
      return mpi_fail("MPI_Bcast", rc);
    }
  }
  return FL_DIST_OK;
}

int fl_dist_barrier(void) {
  int st = check_joined("fl_dist_barrier");
  if (st != FL_DIST_OK) {
    return st;
  }
  int rc = MPI_Barrier(MPI_COMM_WORLD);
  return rc == MPI_SUCCESS ? FL_DIST_OK : mpi_fail("MPI_Barrier", rc);
}

int fl_dist_finalize(void) {
  if (!joined) {
    return FL_DIST_OK;
  }
  fuselm_dist::nccl_shutdown();
  joined = false;
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (finalised) {
    return FL_DIST_OK;
  }
  int rc = MPI_Finalize();
  return rc == MPI_SUCCESS ? FL_DIST_OK : mpi_fail("MPI_Finalize", rc);
}

int fl_dist_abort(int code) {
  int st = check_joined("fl_dist_abort");
  if (st != FL_DIST_OK) {
    return st;
  }
  MPI_Abort(MPI_COMM_WORLD, code);
  return FL_DIST_OK; // not reached
}

} // extern "C"
