package dev.fuselm.train;

import dev.fuselm.nativeapi.FuselmDist;
import dev.fuselm.tensor.Backend;
import dev.fuselm.tensor.ParameterSlab;
import java.util.Map;

/**
 * The processes of one data-parallel run, and their collectives: MPI through libfuselm_dist
 * ({@link FuselmDist}), loaded only when a run joins a group, so a single-process run never needs
 * MPI; slabs on a CUDA device go through NCCL instead (same library, NCCL opened at run time).
 * {@link #single()} is the one-process group, whose collectives do nothing.
 *
 * <p>Every collective is called by every rank in the same order (the training engine does this:
 * one broadcast of the initial weights, then per step one all-reduce of the loss terms and one of the
 * gradient slab). Sizes are checked here, at the Java boundary, before the native call.
 */
public final class ProcessGroup implements AutoCloseable {
  /** Environment variables that mean "started by mpirun or srun --mpi=pmix". */
  private static final String[] LAUNCHER_VARIABLES = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
      "PMIX_RANK"};
  private static final ProcessGroup SINGLE = new ProcessGroup(false, 0, 1);
  /** The environment variable of the hung-rank timeout, in seconds (0: wait forever). */
  public static final String TIMEOUT_VARIABLE = "FUSELM_DIST_TIMEOUT";
  /** The default hung-rank timeout: above any evaluation or checkpoint rank 0 does alone. */
  public static final int DEFAULT_TIMEOUT_SECONDS = 600;

  private final boolean joined;
  private final int rank;
  private final int size;
  private volatile boolean closed;
  private long slabReduceNanos;
  private long slabReduces;
  // the hung-rank watchdog: when the current collective began (0: none) and which it is
  private volatile long waitingSince;
  private volatile String waitingIn = "";
  private Thread watchdog;
  private boolean ncclJoined; // the NCCL communicator is set up (a CUDA model's first collective)

  private ProcessGroup(boolean joined, int rank, int size) {
    this.joined = joined;
    this.rank = rank;
    this.size = size;
  }

  /** The one-process group: rank 0 of 1, collectives are no-ops, close does nothing. */
  public static ProcessGroup single() {
    return SINGLE;
  }

  /**
   * Whether this process should join a group: forced, FUSELM_DIST set to 1/true, or started by
   * mpirun (OMPI_COMM_WORLD_SIZE), a PMI launcher (PMI_SIZE) or srun --mpi=pmix (PMIX_RANK).
   */
  public static boolean requested(boolean force, Map<String, String> env) {
    if (force) {
      return true;
    }
    String flag = env.get("FUSELM_DIST");
    if (flag != null && !flag.isEmpty()) {
      return flag.equals("1") || flag.equalsIgnoreCase("true");
    }
    for (String v : LAUNCHER_VARIABLES) {
      if (env.containsKey(v)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Joins the MPI job this process was started in (a job of one without a launcher). Throws
   * {@link IllegalStateException} naming the packages to install when MPI or libfuselm_dist is
   * missing.
   */
  public static ProcessGroup join() {
    try {
      FuselmDist.load();
    } catch (UnsatisfiedLinkError e) {
      throw new IllegalStateException(e.getMessage(), e);
    }
    check(FuselmDist.fl_dist_init(), "fl_dist_init");
    int[] out = new int[1];
    check(FuselmDist.fl_dist_rank(out), "fl_dist_rank");
    int r = out[0];
    check(FuselmDist.fl_dist_size(out), "fl_dist_size");
    ProcessGroup g = new ProcessGroup(true, r, out[0]);
    int timeout = timeoutSeconds(System.getenv(TIMEOUT_VARIABLE));
    if (g.size > 1 && timeout > 0) {
      g.startWatchdog(timeout);
    }
    return g;
  }

  /**
   * The hung-rank timeout from FUSELM_DIST_TIMEOUT (null or empty: the default); a bad value is
   * an {@link IllegalStateException} naming it.
   */
  static int timeoutSeconds(String value) {
    if (value == null || value.isBlank()) {
      return DEFAULT_TIMEOUT_SECONDS;
    }
    try {
      int t = Integer.parseInt(value.trim());
      if (t >= 0) {
        return t;
      }
    } catch (NumberFormatException e) {
      // below
    }
    throw new IllegalStateException(TIMEOUT_VARIABLE + "=" + value + ": give whole seconds >= 0"
        + " (0: wait forever)");
  }

  /**
   * A rank that dies ends the job through the launcher (mpirun kills the others when one exits
   * abnormally), but one that stops answering (stopped, swapped out, a hung node) would leave the
   * others waiting in a collective forever. This daemon thread ends this process with one line
   * and exit code 1 once a single collective has waited timeout seconds; its exit makes the
   * launcher end the rest of the job. (A halt, not MPI_Abort: MPI is not called from a second
   * thread.)
   */
  private void startWatchdog(int timeout) {
    long limit = timeout * 1_000_000_000L;
    watchdog = new Thread(() -> {
      while (!closed) {
        try {
          Thread.sleep(Math.min(1000, timeout * 250L));
        } catch (InterruptedException e) {
          return;
        }
        long since = waitingSince;
        if (since != 0 && System.nanoTime() - since > limit && !closed) {
          System.err.println("fuselm: rank " + rank + " of " + size + " waited " + timeout
              + " s in " + waitingIn + " for the other ranks: one has stopped answering ("
              + TIMEOUT_VARIABLE + "=" + timeout + "); ending the job");
          System.err.flush();
          Runtime.getRuntime().halt(1);
        }
      }
    }, "fuselm-dist-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
  }

  /** Runs one collective call under the watchdog. */
  private int timed(String what, java.util.function.IntSupplier call) {
    waitingIn = what;
    waitingSince = System.nanoTime();
    try {
      return call.getAsInt();
    } finally {
      waitingSince = 0;
    }
  }

  /** {@link #join()} when {@link #requested} says so, else {@link #single()}. */
  public static ProcessGroup fromEnvironment(boolean force) {
    return requested(force, System.getenv()) ? join() : single();
  }

  public int rank() {
    return rank;
  }

  public int size() {
    return size;
  }

  /** Rank 0: the process that writes logs, plots and checkpoints. */
  public boolean isLeader() {
    return rank == 0;
  }

  /** The MPI library's version line ("" for the single group). */
  public String libraryVersion() {
    return joined ? FuselmDist.fl_dist_library_version() : "";
  }

  /** slab = its mean over the ranks (one all-reduce of the whole contiguous slab). */
  public void allReduceMean(ParameterSlab slab) {
    if (size > 1) {
      long n = slab.size();
      boolean device = onDevice(slab);
      long t0 = System.nanoTime();
      check(timed("the gradient all-reduce", () -> device
          ? FuselmDist.fl_dist_nccl_allreduce_mean(slab.flat().address(), n)
          : FuselmDist.fl_dist_allreduce_mean(slab.flat().address(), n)),
          device ? "fl_dist_nccl_allreduce_mean" : "fl_dist_allreduce_mean");
      slabReduceNanos += System.nanoTime() - t0;
      slabReduces++;
    }
  }

  /**
   * slab = its sum over the ranks (one all-reduce of the whole contiguous slab): the gradients,
   * each rank's already weighted by its share of the global batch ({@link BatchShare}).
   */
  public void allReduceSum(ParameterSlab slab) {
    if (size > 1) {
      long n = slab.size();
      boolean device = onDevice(slab);
      long t0 = System.nanoTime();
      check(timed("the gradient all-reduce", () -> device
          ? FuselmDist.fl_dist_nccl_allreduce_sum(slab.flat().address(), n)
          : FuselmDist.fl_dist_allreduce_sum(slab.flat().address(), n)),
          device ? "fl_dist_nccl_allreduce_sum" : "fl_dist_allreduce_sum");
      slabReduceNanos += System.nanoTime() - t0;
      slabReduces++;
    }
  }

  /** values = their sums over the ranks, in double precision (loss sums, counts). */
  public void allReduceSum(double[] values) {
    if (size > 1 && values.length > 0) {
      check(timed("the loss all-reduce",
          () -> FuselmDist.fl_dist_allreduce_sum_f64(values, values.length)),
          "fl_dist_allreduce_sum_f64");
    }
  }

  /** Mean seconds of one slab all-reduce so far (waiting for slower ranks included); 0 if none. */
  public double meanSlabAllReduceSeconds() {
    return slabReduces == 0 ? 0 : slabReduceNanos / 1e9 / slabReduces;
  }

  /** The mean of value over the ranks (NaN or infinite on one rank makes it so on all). */
  public float allReduceMean(float value) {
    if (size == 1) {
      return value;
    }
    float[] v = {value};
    check(timed("the loss all-reduce", () -> FuselmDist.fl_dist_allreduce_mean(v, 1)),
        "fl_dist_allreduce_mean");
    return v[0];
  }

  /** slab = rank root's slab. */
  public void broadcast(ParameterSlab slab, int root) {
    if (root < 0 || root >= size) {
      throw new IllegalArgumentException("root " + root + " is not a rank of " + size);
    }
    if (size > 1) {
      long n = slab.size();
      boolean device = onDevice(slab);
      check(timed("the weights broadcast", () -> device
          ? FuselmDist.fl_dist_nccl_broadcast(slab.flat().address(), n, root)
          : FuselmDist.fl_dist_broadcast(slab.flat().address(), n, root)),
          device ? "fl_dist_nccl_broadcast" : "fl_dist_broadcast");
    }
  }

  public void barrier() {
    if (joined) {
      check(timed("a barrier", FuselmDist::fl_dist_barrier), "fl_dist_barrier");
    }
  }

  /** Leaves the job (MPI_Finalize); every rank calls it once, at the end of the run. */
  @Override
  public void close() {
    if (joined && !closed) {
      closed = true;
      if (watchdog != null) {
        watchdog.interrupt();
      }
      check(FuselmDist.fl_dist_finalize(), "fl_dist_finalize");
    }
  }

  /**
   * Whether slab lives on a CUDA device: then its collectives go through NCCL, whose communicator
   * is set up on first use (collective: every rank reaches it at the same call, the weights
   * broadcast). A build without NCCL, or a machine without libnccl.so.2, is an {@link
   * IllegalArgumentException} naming what to install (one line and exit 2 in the CLI).
   */
  private boolean onDevice(ParameterSlab slab) {
    if (slab.flat().device() != Backend.CUDA) {
      return false;
    }
    if (!ncclJoined) {
      int[] built = new int[1];
      check(FuselmDist.fl_dist_nccl_built(built), "fl_dist_nccl_built");
      if (built[0] != 1) {
        throw new IllegalArgumentException("data-parallel training of a CUDA model needs NCCL, and"
            + " this fuselm was built without it: install NCCL (pip install nvidia-nccl-cu13, or"
            + " apt-get install libnccl2 libnccl-dev) and rebuild with FUSELM_NCCL_ROOT set, or"
            + " train distributed on the CPU backend");
      }
      // contexts use CUDA device 0: one GPU per rank comes from each rank's CUDA_VISIBLE_DEVICES
      int st = timed("the NCCL set-up", () -> FuselmDist.fl_dist_nccl_init(0));
      if (st != FuselmDist.FL_DIST_OK) {
        throw new IllegalArgumentException("cannot train a CUDA model across processes: "
            + FuselmDist.fl_dist_last_error());
      }
      ncclJoined = true;
    }
    return true;
  }

  private static void check(int status, String call) {
    if (status != FuselmDist.FL_DIST_OK) {
      throw new IllegalStateException(call + " failed (" + status + "): "
          + FuselmDist.fl_dist_last_error());
    }
  }
}
