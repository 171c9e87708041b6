package dev.fuselm.nativeapi;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * The JavaCPP mapping of {@code native/include/fuselm_dist.h}: the MPI collectives of
 * data-parallel training, in their own library (libfuselm_dist, linked to libmpi). Loaded only by
 * {@link #load()}, which a distributed run calls; a single-process run never touches this class, so
 * it never needs MPI installed.
 *
 * <p>Buffers cross as {@code long} addresses; nothing here checks sizes (the caller does, at the
 * Java boundary: {@code dev.fuselm.train.ProcessGroup}).
 */
@Platform(include = "fuselm_dist.h", link = "fuselm_dist")
public final class FuselmDist {
  /** What to install when the library or MPI is missing. */
  public static final String INSTALL_HINT = "distributed training needs Open MPI (Debian/Ubuntu:"
      + " apt-get install openmpi-bin libopenmpi-dev) and a fuselm build made with it present"
      + " (libfuselm_dist)";

  private static volatile Throwable loadFailure;
  private static volatile boolean loaded;

  private FuselmDist() {}

  /**
   * Loads libfuselm_dist and its JNI glue (idempotent); throws {@link UnsatisfiedLinkError} with
   * {@link #INSTALL_HINT} when it or libmpi cannot be loaded.
   */
  public static synchronized void load() {
    if (loaded) {
      return;
    }
    if (loadFailure == null) {
      try {
        Loader.load(FuselmDist.class);
        loaded = true;
        return;
      } catch (Throwable e) { // UnsatisfiedLinkError, or NoClassDefFoundError of the glue
        loadFailure = e;
      }
    }
    throw new UnsatisfiedLinkError(INSTALL_HINT + " (" + loadFailure.getMessage() + ")");
  }

  public static final int FL_DIST_OK = 0;
  public static final int FL_DIST_ERR_INVALID_ARGUMENT = 1;
  public static final int FL_DIST_ERR_COMMUNICATION = 4;
  public static final int FL_DIST_ERR_INTERNAL = 5;

  public static native @Cast("const char*") String fl_dist_last_error();

  public static native @Cast("const char*") String fl_dist_library_version();

  public static native int fl_dist_init();

  public static native int fl_dist_rank(int[] out);

  public static native int fl_dist_size(int[] out);

  public static native int fl_dist_allreduce_mean(@Cast("float*") long data, long n);

  /** The all-reduce of a Java array (a loss, a few counters). */
  public static native int fl_dist_allreduce_mean(float[] data, long n);

  public static native int fl_dist_allreduce_sum(@Cast("float*") long data, long n);

  /** The sum all-reduce of a Java array in double precision (loss sums and counts). */
  public static native int fl_dist_allreduce_sum_f64(double[] data, long n);

  public static native int fl_dist_broadcast(@Cast("float*") long data, long n, int root);

  public static native int fl_dist_barrier();

  public static native int fl_dist_finalize();

  public static native int fl_dist_abort(int code);

  /** out[0] = 1 when libfuselm_dist was built with NCCL (CUDA device buffers). */
  public static native int fl_dist_nccl_built(int[] out);

  /** Collective: joins the NCCL communicator on CUDA device {@code device} (id shared by MPI). */
  public static native int fl_dist_nccl_init(int device);

  /** The sum all-reduce of a device buffer (a CUDA context's slab) through NCCL. */
  public static native int fl_dist_nccl_allreduce_sum(@Cast("float*") long data, long n);

  public static native int fl_dist_nccl_allreduce_mean(@Cast("float*") long data, long n);

  public static native int fl_dist_nccl_broadcast(@Cast("float*") long data, long n, int root);
}
