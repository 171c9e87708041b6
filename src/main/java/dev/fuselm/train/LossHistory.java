package dev.fuselm.train;

import dev.fuselm.io.SafeTensors;
import java.io.IOException;
import java.util.Arrays;

/** Train and validation losses against tokens seen, for the plot and the training state. */
public final class LossHistory {
  long[] trainTokens = new long[16];
  float[] trainLoss = new float[16];
  int trainCount;
  long[] valTokens = new long[16];
  float[] valLoss = new float[16];
  int valCount;

  public void addTrain(long tokens, float loss) {
    if (trainCount == trainTokens.length) {
      trainTokens = Arrays.copyOf(trainTokens, 2 * trainCount);
      trainLoss = Arrays.copyOf(trainLoss, 2 * trainCount);
    }
    trainTokens[trainCount] = tokens;
    trainLoss[trainCount++] = loss;
  }

  public void addVal(long tokens, float loss) {
    if (valCount == valTokens.length) {
      valTokens = Arrays.copyOf(valTokens, 2 * valCount);
      valLoss = Arrays.copyOf(valLoss, 2 * valCount);
    }
    valTokens[valCount] = tokens;
    valLoss[valCount++] = loss;
  }

  public int trainSize() {
    return trainCount;
  }

  public int valSize() {
    return valCount;
  }

  public float[] trainLosses() {
    return Arrays.copyOf(trainLoss, trainCount);
  }

  void addTo(SafeTensors.Writer w) {
    w.addLongs("history.train_tokens", Arrays.copyOf(trainTokens, trainCount));
    w.addFloats("history.train_loss", new long[] {trainCount}, Arrays.copyOf(trainLoss, trainCount));
    w.addLongs("history.val_tokens", Arrays.copyOf(valTokens, valCount));
    w.addFloats("history.val_loss", new long[] {valCount}, Arrays.copyOf(valLoss, valCount));
  }

  static LossHistory readFrom(SafeTensors.Reader r) throws IOException {
    LossHistory h = new LossHistory();
    if (!r.contains("history.train_tokens")) {
      return h;
    }
    long[] tt = r.readLongs("history.train_tokens");
    float[] tl = r.readFloats("history.train_loss");
    long[] vt = r.readLongs("history.val_tokens");
    float[] vl = r.readFloats("history.val_loss");
    if (tt.length != tl.length || vt.length != vl.length) {
      throw new IOException(r.path() + ": corrupt loss history");
    }
    for (int i = 0; i < tt.length; i++) {
      h.addTrain(tt[i], tl[i]);
    }
    for (int i = 0; i < vt.length; i++) {
      h.addVal(vt[i], vl[i]);
    }
    return h;
  }
}
