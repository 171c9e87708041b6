/*
 * fuselm_dist.h: the collectives of data-parallel training, in a library of their own
 * (libfuselm_dist), built only when CMake finds MPI and loaded only when a run is distributed, so
 * libfuselm and every single-process run never need MPI installed.
 *
 * The collectives come from MPI (Open MPI), never a home-made all-reduce. Same conventions as
 * fuselm.h: plain C, every function returns a status code (FL_OK on success), fl_dist_last_error()
 * explains the last failure of the calling thread, sizes are int64_t. All calls of one job are
 * collective over MPI_COMM_WORLD and must be made by every rank in the same order.
 */
#ifndef FUSELM_DIST_H
#define FUSELM_DIST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* status codes: the values of fuselm.h */
#define FL_DIST_OK 0
#define FL_DIST_ERR_INVALID_ARGUMENT 1
#define FL_DIST_ERR_COMMUNICATION 4
#define FL_DIST_ERR_INTERNAL 5

const char *fl_dist_last_error(void);
/* the MPI library's own version line (MPI_Get_library_version) */
const char *fl_dist_library_version(void);

/*
 * Joins the job: MPI_Init unless MPI is already initialised (then it only reads rank and size).
 * Started without mpirun/srun it makes a one-process job. The signal handlers MPI installs for
 * SIGSEGV, SIGBUS, SIGFPE and SIGABRT are put back to the caller's (a JVM uses SIGSEGV itself).
 * Errors of MPI calls are returned, not fatal (MPI_ERRORS_RETURN on MPI_COMM_WORLD).
 */
int fl_dist_init(void);
int fl_dist_rank(int *out);
int fl_dist_size(int *out);
/* data[0..n) = the mean over the ranks of data[0..n) (sum all-reduce in place, then * 1/size) */
int fl_dist_allreduce_mean(float *data, int64_t n);
/* data[0..n) = the sum over the ranks of data[0..n) (gradients already weighted by each rank's
   share of the global batch) */
int fl_dist_allreduce_sum(float *data, int64_t n);
/* the same in double precision: loss sums and counts, exact for counts below 2^53 */
int fl_dist_allreduce_sum_f64(double *data, int64_t n);
/* data[0..n) = rank root's data[0..n) */
int fl_dist_broadcast(float *data, int64_t n, int root);
int fl_dist_barrier(void);
/* Ends the job of this process (MPI_Finalize); idempotent. */
int fl_dist_finalize(void);
/* Ends the whole job now (MPI_Abort) with this exit code: for an error on one rank. */
int fl_dist_abort(int code);

/*
 * NCCL: the same collectives on CUDA device buffers (a CUDA context's gradient slab). Built into
 * libfuselm_dist when CMake finds nccl.h and the CUDA toolkit (hint: FUSELM_NCCL_ROOT or NCCL_ROOT,
 * e.g. the nvidia/nccl directory of the nvidia-nccl-cu13 wheel); libnccl.so.2 is opened only by
 * fl_dist_nccl_init, so CPU runs never need it. Without it every call below fails with a one-line
 * error naming what to install. One GPU per rank: NCCL refuses two ranks on one device.
 */
/* *out = 1 when this library was built with NCCL (libnccl.so.2 may still be missing at run time) */
int fl_dist_nccl_built(int *out);
/* Collective, after fl_dist_init: opens NCCL, rank 0 makes the NCCL id, MPI broadcasts it, every
   rank joins the communicator on CUDA device `device`. Idempotent for the same device. */
int fl_dist_nccl_init(int device);
/* device data[0..n) = the sum (the mean) over the ranks. Waits for the device's queued work first
   and returns with the result in place. fl_dist_finalize frees the communicator. */
int fl_dist_nccl_allreduce_sum(float *data, int64_t n);
int fl_dist_nccl_allreduce_mean(float *data, int64_t n);
/* device data[0..n) = rank root's */
int fl_dist_nccl_broadcast(float *data, int64_t n, int root);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* FUSELM_DIST_H */
