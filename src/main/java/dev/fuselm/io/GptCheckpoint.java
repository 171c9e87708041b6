package dev.fuselm.io;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/** A GPT model directory: see {@link Checkpoint} with {@link ModelFamily#GPT2}. */
@Deprecated(forRemoval = true) // merge shim: call io.Checkpoint with ModelFamily.GPT2
public final class GptCheckpoint {
  public static final String CONFIG = Checkpoint.CONFIG;
  public static final String WEIGHTS = Checkpoint.WEIGHTS;

  private GptCheckpoint() {}

  public static GptConfig readConfig(Path dir) throws IOException {
    return Checkpoint.readConfig(dir, ModelFamily.GPT2);
  }

  public static GptModel load(ComputeContext ctx, Path dir) throws IOException {
    return Checkpoint.load(ctx, dir, ModelFamily.GPT2);
  }

  public static GptModel loadBf16Matrices(ComputeContext ctx, Path dir) throws IOException {
    return Checkpoint.loadBf16Matrices(ctx, dir);
  }

  public static void loadInto(GptModel model, SafeTensors.Reader r) throws IOException {
    Checkpoint.loadInto(ModelFamily.GPT2, model, r);
  }

  public static void save(GptModel model, Path dir, Map<String, String> metadata)
      throws IOException {
    Checkpoint.save(ModelFamily.GPT2, model, dir, metadata);
  }

  public static void save(GptModel model, Path dir) throws IOException {
    Checkpoint.save(ModelFamily.GPT2, model, dir);
  }
}
