package dev.fuselm.train;

/**
 * The loss bookkeeping the classification tasks share ({@link ClassifierTrainer}, {@link
 * TokenClassifierTrainer}): one micro-batch a step whose loss is a mean over the global batch's
 * rows (or labelled tokens), this rank's share of it in a data-parallel run, and the epoch's
 * running mean weighed by the global batch's rows. The tasks' {@code stepLoss}, {@code lossTerms}
 * and {@code globalLoss} hand over to it.
 */
final class RowMeanLoss {
  private double lossSum;
  private int seen;
  private double lastLoss;
  private double lastShare; // this rank's share of the step's global loss
  private int lastRows; // the global batch's rows

  /** Forgets the epoch's running sum (at the first step of an epoch). */
  void startEpoch() {
    lossSum = 0;
    seen = 0;
  }

  /** The global batch of this step has rows rows (before it is cut into shares). */
  void batch(int rows) {
    lastRows = rows;
  }

  /** This rank's share holds nothing of the step's batch: it adds 0. */
  void empty() {
    lastLoss = 0;
    lastShare = 0;
  }

  /** The share's mean loss (the step's in one process); false when it is not finite. */
  boolean loss(double loss) {
    lastLoss = loss;
    return Double.isFinite(loss);
  }

  /** This rank's part of the global mean: its loss times fraction (see {@link BatchShare}). */
  void share(double fraction) {
    lastShare = lastLoss * fraction;
  }

  float stepLoss() {
    return (float) lastLoss;
  }

  double[] lossTerms(boolean sharded) {
    return new double[] {sharded ? lastShare : lastLoss};
  }

  /** The global batch's mean loss: the step's, and the epoch's running sum. */
  float globalLoss(double[] terms) {
    lossSum += terms[0] * lastRows;
    seen += lastRows;
    return (float) terms[0];
  }

  /** The epoch's mean training loss so far, weighed by the global batches' rows. */
  double epochMean() {
    return lossSum / seen;
  }
}
