package dev.fuselm.train;

import dev.fuselm.io.SafeTensors;
import dev.fuselm.tensor.ParameterSlab;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code training_state.safetensors}: what a resumed run needs beyond the weights: the AdamW
 * moments (flat, in parameter-slab order), the step, the data position, the seed, and the loss
 * history for the plot. Its metadata records the batch shape and data fingerprint so a resume with
 * different data or shapes is refused rather than silently diverging.
 */
public final class TrainingState {
  public static final String FILE = "training_state.safetensors";

  private TrainingState() {}

  /** The loaded state, to continue from. */
  public record Loaded(long step, long epoch, long batchInEpoch, float[] m, float[] v,
      Map<String, String> metadata, LossHistory history) {}

  public static void save(Path dir, long step, long[] dataPosition, AdamW opt,
      Map<String, String> metadata, LossHistory history) throws IOException {
    ParameterSlab m = opt.firstMoment();
    ParameterSlab v = opt.secondMoment();
    SafeTensors.Writer w = new SafeTensors.Writer().metadata("format", "fuselm-training-state")
        .metadata("fuselm.step", Long.toString(step));
    metadata.forEach(w::metadata);
    long n = m.size();
    w.add("optimizer.exp_avg", SafeTensors.DType.F32, new long[] {n},
        ch -> SafeTensors.writeFloats(ch, m.flat().toFloatArray()));
    w.add("optimizer.exp_avg_sq", SafeTensors.DType.F32, new long[] {n},
        ch -> SafeTensors.writeFloats(ch, v.flat().toFloatArray()));
    w.addLongs("step", new long[] {step});
    w.addLongs("data_position", dataPosition.clone());
    history.addTo(w);
    w.write(dir.resolve(FILE));
  }

  /**
   * The run metadata recorded in dir's training state (batch shape, data fingerprint, precision,
   * ...), read from the file header only; empty when dir has no training state.
   */
  public static Map<String, String> metadata(Path dir) throws IOException {
    Path f = dir.resolve(FILE);
    if (!Files.isRegularFile(f)) {
      return Map.of();
    }
    try (SafeTensors.Reader r = SafeTensors.open(f)) {
      return r.metadata();
    }
  }

  /**
   * AdamW never produces a non-finite moment (a non-finite gradient stops training before the
   * update) nor a negative second moment: such a value means the file is corrupt, not that the
   * learning rate was too high, and resuming from it would turn every weight it touches to NaN.
   */
  static void checkMoments(Path f, String name, float[] values, boolean nonNegative)
      throws IOException {
    for (int i = 0; i < values.length; i++) {
      float x = values[i];
      if (!Float.isFinite(x) || (nonNegative && x < 0)) {
        throw new IOException(f + ": " + name + "[" + i + "] is " + x + ", which AdamW never"
            + " writes: the training state is corrupt; resume from an earlier checkpoint or"
            + " start again");
      }
    }
  }

  public static Loaded load(Path dir, long parameterCount) throws IOException {
    Path f = dir.resolve(FILE);
    if (!Files.isRegularFile(f)) {
      throw new IOException(dir + ": no " + FILE + " to resume from (was it saved by fuselm"
          + " train?)");
    }
    try (SafeTensors.Reader r = SafeTensors.open(f)) {
      for (String name : new String[] {"optimizer.exp_avg", "optimizer.exp_avg_sq"}) {
        long[] shape = r.entry(name).shape();
        if (shape.length != 1 || shape[0] != parameterCount) {
          throw new IOException(f + ": " + name + " holds " + java.util.Arrays.toString(shape)
              + " values but the model has " + parameterCount + " parameters");
        }
      }
      long[] step = r.readLongs("step");
      long[] pos = r.readLongs("data_position");
      if (step.length != 1 || pos.length != 2 || step[0] < 0) {
        throw new IOException(f + ": corrupt step or data_position");
      }
      float[] m = r.readFloats("optimizer.exp_avg");
      float[] v = r.readFloats("optimizer.exp_avg_sq");
      checkMoments(f, "optimizer.exp_avg", m, false);
      checkMoments(f, "optimizer.exp_avg_sq", v, true);
      return new Loaded(step[0], pos[0], pos[1], m, v, r.metadata(), LossHistory.readFrom(r));
    }
  }
}
