package dev.fuselm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * DESIGN.md's layer map, checked on the sources: arrows point down only; generate, serve and cli
 * never call nn or ops; model never imports io; one class constructs AdamW; no file over 800
 * lines. A violation names the file and the import, so the spine cannot erode unnoticed.
 */
class LayersTest {
  private static final Path ROOT = Path.of("src/main/java/dev/fuselm");
  private static final Pattern IMPORT =
      Pattern.compile("^import (?:static )?dev\\.fuselm\\.(\\w+)\\.", Pattern.MULTILINE);

  /** Bottom to top; a package may import those of lower or equal rank. */
  private static final Map<String, Integer> RANK = Map.ofEntries(
      Map.entry("nativeapi", 0), Map.entry("tensor", 1), Map.entry("ops", 2),
      Map.entry("tokenizer", 3), Map.entry("data", 4), Map.entry("nn", 5), Map.entry("model", 6),
      Map.entry("io", 7), Map.entry("train", 8),
      // classical baselines sit beside the training layer: they may use data, models and tasks
      Map.entry("baseline", 8),
      Map.entry("generate", 9), Map.entry("serve", 10), Map.entry("cli", 11),
      // `fuselm bench` commands time single ops and reuse the CLI's pieces; cli registers them
      Map.entry("bench", 11));

  private record Source(String pkg, Path file, String text) {}

  private static List<Source> sources() {
    List<Source> out = new ArrayList<>();
    try (Stream<Path> files = Files.walk(ROOT)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
        out.add(new Source(ROOT.relativize(f).getName(0).toString(), f, Files.readString(f)));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    assertTrue(out.size() > 100, "found only " + out.size() + " sources under " + ROOT);
    return out;
  }

  @Test
  void everyPackageHasALayer() {
    for (Source s : sources()) {
      assertTrue(RANK.containsKey(s.pkg()), s.file() + ": package " + s.pkg()
          + " is not in DESIGN.md's layer map (add it there and here)");
    }
  }

  @Test
  void arrowsPointDownOnly() {
    List<String> up = new ArrayList<>();
    for (Source s : sources()) {
      Matcher m = IMPORT.matcher(s.text());
      while (m.find()) {
        String dep = m.group(1);
        int from = RANK.getOrDefault(s.pkg(), -1);
        int to = RANK.getOrDefault(dep, Integer.MAX_VALUE);
        boolean registersBench = s.pkg().equals("cli") && dep.equals("bench");
        if (to > from && !registersBench) {
          up.add(s.file() + " imports " + dep);
        }
      }
    }
    assertEquals(List.of(), up);
  }

  @Test
  void decodingServingAndCliGoThroughTheModel() {
    List<String> bad = new ArrayList<>();
    for (Source s : sources()) {
      boolean user = List.of("generate", "serve", "cli").contains(s.pkg());
      Matcher m = IMPORT.matcher(s.text());
      while (m.find()) {
        String dep = m.group(1);
        if (user && (dep.equals("nn") || dep.equals("ops"))
            || s.pkg().equals("model") && dep.equals("io")) {
          bad.add(s.file() + " imports " + dep);
        }
      }
    }
    assertEquals(List.of(), bad);
  }

  @Test
  void oneTrainingLoopAndShortFiles() {
    List<String> adamW = new ArrayList<>();
    for (Source s : sources()) {
      if (s.text().contains("new AdamW(")) {
        adamW.add(s.file().getFileName().toString());
      }
      long lines = s.text().lines().count();
      assertTrue(lines <= 800, s.file() + " has " + lines + " lines (at most 800)");
    }
    assertEquals(List.of("TrainingEngine.java"), adamW);
    assertFalse(Files.exists(ROOT.resolve("finetune")), "finetune/ is dissolved");
  }
}
