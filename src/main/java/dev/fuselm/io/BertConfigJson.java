package dev.fuselm.io;

import dev.fuselm.model.BertConfig;
import dev.fuselm.model.ModelFamily;
import java.io.IOException;
import java.nio.file.Path;

/** Hugging Face BERT {@code config.json}: see {@link Checkpoint} and {@link ModelFamily#BERT}. */
@Deprecated(forRemoval = true) // merge shim: call io.Checkpoint.readConfigFile/writeConfig
public final class BertConfigJson {
  private BertConfigJson() {}

  public static BertConfig read(Path file) throws IOException {
    return Checkpoint.readConfigFile(file, ModelFamily.BERT);
  }

  public static BertConfig parse(String where, String text) throws IOException {
    return Checkpoint.parseConfig(where, text, ModelFamily.BERT);
  }

  public static String toJson(BertConfig c, boolean heads) {
    return Checkpoint.configText(ModelFamily.BERT.configJson(c, heads));
  }

  public static void write(Path file, BertConfig c, boolean heads) throws IOException {
    Checkpoint.writeConfig(file, ModelFamily.BERT.configJson(c, heads));
  }
}
