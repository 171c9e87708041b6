package dev.fuselm.train;

import dev.fuselm.ops.SoftmaxOps;

/**
 * The DPO loss (Rafailov et al. 2023, "Direct Preference Optimization", eq. 7) as the book's
 * {@code dpo-from-scratch} notebook computes it: with s = a sequence's response log-probability
 * under the trained policy and r = under the frozen reference,
 * {@code z = (s_chosen - s_rejected) - (r_chosen - r_rejected)} and
 * {@code loss = mean over pairs of -log sigmoid(beta z)}. The rewards are the book's
 * {@code s - r} (without beta); a pair counts as correct when its chosen reward exceeds its
 * rejected one, and its margin is the difference.
 *
 * <p>A response's log-probability is over its own tokens only (prompt and padding masked): the
 * per-token log-probabilities are averaged ({@link Reduction#MEAN}, what the book's {@code
 * compute_logprobs} does) or summed ({@link Reduction#SUM}, the paper's sequence log-likelihood).
 */
public final class DpoLoss {
  private DpoLoss() {}

  /** How a response's token log-probabilities become one number. */
  public enum Reduction {
    /** Their mean over the response tokens (the book). */
    MEAN,
    /** Their sum (the paper). */
    SUM;

    /** "mean" or "sum". */
    public static Reduction named(String s) {
      return switch (s) {
        case "mean" -> MEAN;
        case "sum" -> SUM;
        default -> throw new IllegalArgumentException("the log-probability reduction must be"
            + " 'mean' or 'sum', got '" + s + "'");
      };
    }
  }

  /**
   * Means over pairs: loss, chosen and rejected rewards, margin (their difference) and reward
   * accuracy (the share of pairs with chosen reward > rejected reward); sums and count for pooling
   * over batches.
   */
  public record Stats(double lossSum, double chosenRewardSum, double rejectedRewardSum,
      long correct, long pairs) {
    public static final Stats EMPTY = new Stats(0, 0, 0, 0, 0);

    public Stats plus(Stats o) {
      return new Stats(lossSum + o.lossSum, chosenRewardSum + o.chosenRewardSum,
          rejectedRewardSum + o.rejectedRewardSum, correct + o.correct, pairs + o.pairs);
    }

    public double loss() {
      return pairs == 0 ? Double.NaN : lossSum / pairs;
    }

    public double chosenReward() {
      return pairs == 0 ? Double.NaN : chosenRewardSum / pairs;
    }

    public double rejectedReward() {
      return pairs == 0 ? Double.NaN : rejectedRewardSum / pairs;
    }

    public double margin() {
      return chosenReward() - rejectedReward();
    }

    public double accuracy() {
      return pairs == 0 ? Double.NaN : (double) correct / pairs;
    }
  }

  /**
   * The loss of a batch and its gradient: dChosen[i] and dRejected[i] are d(mean loss) / d(the
   * policy's log-probability of pair i's chosen / rejected response).
   */
  public record Result(Stats stats, double[] dChosen, double[] dRejected) {
    public double loss() {
      return stats.loss();
    }
  }

  /** The loss over n pairs from policy (pc, pr) and reference (rc, rr) log-probabilities. */
  public static Result compute(double[] pc, double[] pr, double[] rc, double[] rr, double beta) {
    int n = pc.length;
    if (pr.length != n || rc.length != n || rr.length != n || n == 0) {
      throw new IllegalArgumentException("need the same positive number of policy and reference"
          + " log-probabilities, got " + n + ", " + pr.length + ", " + rc.length + ", " + rr.length);
    }
    if (!(beta > 0)) {
      throw new IllegalArgumentException("beta must be > 0, got " + beta);
    }
    double loss = 0;
    double cr = 0;
    double rj = 0;
    long correct = 0;
    double[] dc = new double[n];
    double[] dr = new double[n];
    for (int i = 0; i < n; i++) {
      double chosenReward = pc[i] - rc[i];
      double rejectedReward = pr[i] - rr[i];
      double x = beta * (chosenReward - rejectedReward);
      loss += softplus(-x); // -log sigmoid(x)
      cr += chosenReward;
      rj += rejectedReward;
      correct += chosenReward > rejectedReward ? 1 : 0;
      double g = -beta * sigmoid(-x) / n; // d loss_mean / d x * d x / d pc
      dc[i] = g;
      dr[i] = -g;
    }
    return new Result(new Stats(loss, cr, rj, correct, n), dc, dr);
  }

  /** log(1 + e^x) without overflow. */
  static double softplus(double x) {
    return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
  }

  static double sigmoid(double x) {
    return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
  }

  /**
   * Per-sequence log-probabilities from a batch's row losses (rows = sequences x t positions,
   * loss 0 where the target is ignored) and targets: minus the sum of each sequence's losses,
   * divided by its number of targets for {@link Reduction#MEAN}. counts receives the target counts.
   */
  public static double[] sequenceLogProbs(float[] rowLosses, int[] targets, int sequences, int t,
      Reduction reduction, int[] counts) {
    double[] out = new double[sequences];
    for (int s = 0; s < sequences; s++) {
      double sum = 0;
      int n = 0;
      for (int j = s * t; j < (s + 1) * t; j++) {
        if (targets[j] != SoftmaxOps.IGNORE_INDEX) {
          sum += rowLosses[j];
          n++;
        }
      }
      if (n == 0) {
        throw new IllegalArgumentException("sequence " + s + " has no response tokens");
      }
      counts[s] = n;
      out[s] = reduction == Reduction.MEAN ? -sum / n : -sum;
    }
    return out;
  }
}
