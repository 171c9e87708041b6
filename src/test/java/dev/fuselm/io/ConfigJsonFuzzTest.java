package dev.fuselm.io;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.testing.FuzzFiles;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Jazzer target for config.json: any bytes, read as a config of every model family (GPT-2 and
 * BERT, through their descriptors) and through the model_type detection, are either a config or
 * an IOException whose one-line message names the file. Seeds: ConfigJsonFuzzTestInputs/.
 */
class ConfigJsonFuzzTest {
  @FuzzTest(maxDuration = "30s")
  void parseAnyConfig(byte[] data) {
    Path f = FuzzFiles.write("config.json", data);
    for (ModelFamily<?, ?> family : ModelFamily.all()) {
      try {
        if (Checkpoint.readConfigFile(f, family) == null) {
          throw new AssertionError("a null config from " + family.modelType());
        }
      } catch (IOException e) {
        FuzzFiles.checkRefusal(e, f.toString());
      }
    }
    try {
      Checkpoint.family(f.getParent());
    } catch (IOException e) {
      FuzzFiles.checkRefusal(e, f.toString());
    }
  }
}
