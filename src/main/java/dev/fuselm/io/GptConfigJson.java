package dev.fuselm.io;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.ModelFamily;
import java.io.IOException;
import java.nio.file.Path;

/** Hugging Face GPT-2 {@code config.json}: see {@link Checkpoint} and {@link ModelFamily#GPT2}. */
@Deprecated(forRemoval = true) // merge shim: call io.Checkpoint.readConfigFile/writeConfig
public final class GptConfigJson {
  private GptConfigJson() {}

  public static GptConfig read(Path file) throws IOException {
    return Checkpoint.readConfigFile(file, ModelFamily.GPT2);
  }

  public static GptConfig parse(String where, String text) throws IOException {
    return Checkpoint.parseConfig(where, text, ModelFamily.GPT2);
  }

  public static String toJson(GptConfig c) {
    return Checkpoint.configText(ModelFamily.GPT2.configJson(c));
  }

  public static void write(Path file, GptConfig c) throws IOException {
    Checkpoint.writeConfig(file, ModelFamily.GPT2.configJson(c));
  }
}
