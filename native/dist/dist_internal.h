// What dist.cpp and nccl.cpp share inside libfuselm_dist (nothing here is exported).
#ifndef FUSELM_DIST_INTERNAL_H
#define FUSELM_DIST_INTERNAL_H

#include <string>

namespace fuselm_dist {

// Records msg as the calling thread's last error (fl_dist_last_error) and returns status.
int fail(int status, const std::string &msg);
// Broadcasts bytes from rank 0 over MPI (the NCCL id); FL_DIST_OK or a failure recorded by fail().
int broadcast_bytes(void *data, int bytes);
// Frees the NCCL communicator, if any (fl_dist_finalize calls it before MPI_Finalize).
void nccl_shutdown();

} // namespace fuselm_dist

#endif
