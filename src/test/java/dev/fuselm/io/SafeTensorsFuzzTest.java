package dev.fuselm.io;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.fuselm.testing.FuzzFiles;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Jazzer target for the safetensors reader: any bytes are either a file whose every tensor then
 * reads (floating-point tensors as floats, integer ones as longs), or an IOException whose one-line
 * message names the file. No other exception, no hang, no allocation beyond the file's size.
 * Regression inputs (the seed corpus) are in src/test/resources/dev/fuselm/io/
 * SafeTensorsFuzzTestInputs/; README "Reliability" says how to fuzz.
 */
class SafeTensorsFuzzTest {
  @FuzzTest(maxDuration = "30s")
  void readAnyFile(byte[] data) {
    Path f = FuzzFiles.write("fuzz.safetensors", data);
    try (SafeTensors.Reader r = SafeTensors.open(f)) {
      long total = 0;
      for (SafeTensors.Entry e : r.entries().values()) {
        total += e.end() - e.begin();
        switch (e.dtype()) {
          case F32, F16, BF16 -> {
            if (r.readFloats(e.name()).length != e.numel()) {
              throw new AssertionError(e.name() + ": wrong element count");
            }
          }
          case I32, I64 -> r.readLongs(e.name());
          default -> { }
        }
      }
      if (total > data.length) {
        throw new AssertionError("tensors span " + total + " bytes of a " + data.length
            + "-byte file");
      }
    } catch (IOException e) {
      FuzzFiles.checkRefusal(e, f.toString());
    }
  }
}
