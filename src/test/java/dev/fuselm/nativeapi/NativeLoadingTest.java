package dev.fuselm.nativeapi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Loading the native library on a platform without a classifier jar names the missing artifact. */
class NativeLoadingTest {
  /** Child JVM entry: loads the library and prints the error's message if it fails. */
  public static final class Probe {
    public static void main(String[] args) {
      try {
        FuselmNative.load();
        System.out.println("LOADED");
      } catch (UnsatisfiedLinkError e) {
        System.out.println("ERROR " + e.getMessage());
      }
    }
  }

  static String probe(String platform) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(java, "-Dorg.bytedeco.javacpp.platform=" + platform, "-cp",
        System.getProperty("java.class.path"), Probe.class.getName()).redirectErrorStream(true)
        .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), out);
    return out;
  }

  @Test
  void anUnsupportedPlatformNamesTheMissingClassifier() throws Exception {
    String out = probe("linux-arm64");
    assertTrue(out.contains("ERROR fuselm: no native library for platform linux-arm64"), out);
    assertTrue(out.contains("dev.fuselm:fuselm:"), out);
    assertTrue(out.contains(":linux-arm64 (classifier linux-arm64)"), out);
    assertTrue(out.contains("only for linux-x86_64"), out);
    assertTrue(probe("linux-x86_64").contains("LOADED"));
  }
}
