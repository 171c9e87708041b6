package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * DESIGN.md's promise "no leaks under a 10 000-step loop": a tiny GPT trains for 10,000 steps through
 * the real {@link Trainer} (shuffled windows, dropout, gradient clipping, AdamW, a validation pass
 * and a checkpoint (safetensors, training state, loss.png) every 1,000) while the process's resident
 * memory is watched.
 *
 * <p>The loop runs in a child JVM whose heap is fixed and touched up front ({@code -Xms = -Xmx},
 * {@code -XX:+AlwaysPreTouch}): in the test JVM, the young generation's pages become resident one by
 * one as Java garbage fills them, which looks like growth without being a leak. In the child, after a
 * warm-up of {@link #WARMUP} steps (JIT, arenas at their high-water mark, and the first checkpoints,
 * which load AWT/ImageIO for the plot: about +60 MB over the first three saves), the resident set may
 * grow by at most {@link #ALLOWED_GROWTH} between the highest reading of steps 5,000-7,500 and that
 * of steps 7,500-10,000 (measured here: under 1 MB). A leak of 2.5 KB per step fails it; one of the
 * tiny model's logits (B*T*V floats = 32 KiB) per step would add 82 MB over 2,500 steps. Linux only
 * (reads /proc/self/status).
 */
class ResidentMemoryTest {
  static final long ALLOWED_GROWTH = 6L << 20;
  static final int STEPS = 10_000;
  static final int WARMUP = 5_000;

  @TempDir Path tmp;

  static long rssBytes() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmRSS:")) {
          return 1024L * Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
      }
    } catch (IOException e) {
      return -1;
    }
    return -1;
  }

  /**
   * The child JVM ({@code args}: checkpoint directory, save interval): trains, printing
   * "rss STEP BYTES" every 500 steps and "loss FIRST LAST" at the end.
   */
  public static final class Loop {
    public static void main(String[] args) throws IOException {
      GptConfig cfg = GptConfig.of(64, 32, 32, 2, 2).withDropout(0.1f);
      int[] tokens = TrainerTest.corpus(20_000, 64, 5);
      TrainConfig tc = TrainConfig.defaults(STEPS, 4, 32, Path.of(args[0]))
          .withLr(1e-3f, 1e-4f, 100, true).withData(16, true, 0.1f, 1)
          .withSchedule(1_000, Integer.parseInt(args[1]), 4).withOptimizer(0.1f, 1.0f, 11);
      float[] firstLast = new float[2];
      try (ComputeContext ctx = ComputeContext.create()) {
        ctx.threads(1);
        try (GptModel model = GptModel.random(ctx, cfg, 3);
            Trainer trainer = new Trainer(model, tokens, tc, null)) {
          trainer.setListener(new Trainer.Listener() {
            @Override
            public void onStep(long step, float loss, float lr, float gradNorm, double tps) {
              if (step == 1) {
                firstLast[0] = loss;
              }
              firstLast[1] = loss;
              if (step % 500 == 0) {
                System.out.println("rss " + step + " " + rssBytes());
              }
            }
          });
          trainer.run();
        }
      }
      System.out.println("loss " + firstLast[0] + " " + firstLast[1]);
    }
  }

  @Test
  void tenThousandTrainingStepsDoNotGrowResidentMemory() throws Exception {
    Assumptions.assumeTrue(rssBytes() > 0, "needs /proc/self/status (Linux)");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(java, "-Xms128m", "-Xmx128m", "-XX:+AlwaysPreTouch",
        "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), Loop.class.getName(),
        tmp.resolve("ckpt").toString(), "1000").redirectErrorStream(true).start();
    long t0 = System.nanoTime();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), out);
    assertEquals(0, p.exitValue(), out);
    double secs = (System.nanoTime() - t0) / 1e9;
    TreeMap<Long, Long> rss = new TreeMap<>();
    float first = Float.NaN, last = Float.NaN;
    for (String line : out.split("\n")) {
      String[] f = line.trim().split(" ");
      if (f.length == 3 && f[0].equals("rss")) {
        rss.put(Long.parseLong(f[1]), Long.parseLong(f[2]));
      } else if (f.length == 3 && f[0].equals("loss")) {
        first = Float.parseFloat(f[1]);
        last = Float.parseFloat(f[2]);
      }
    }
    assertEquals(STEPS / 500, rss.size(), out);
    assertTrue(last < first - 1, "the model should learn: loss " + first + " -> " + last);
    // Compare the highest reading of the first and second half after the warm-up: single readings
    // dip by up to ~10 MB when the allocator returns pages, a leak raises the later maximum.
    long mid = WARMUP + (STEPS - WARMUP) / 2;
    long early = rss.subMap((long) WARMUP, true, mid, true).values().stream()
        .mapToLong(Long::longValue).max().orElseThrow();
    long late = rss.subMap(mid, false, (long) STEPS, true).values().stream()
        .mapToLong(Long::longValue).max().orElseThrow();
    String report = String.format(Locale.ROOT, "highest resident memory over steps %d-%d %.1f MB,"
        + " over steps %d-%d %.1f MB; %.1f s; every 500 steps (MB): %s", WARMUP, mid, early / 1e6,
        mid, STEPS, late / 1e6, secs,
        rss.values().stream().map(v -> String.format(Locale.ROOT, "%.1f", v / 1e6)).toList());
    System.out.println("ResidentMemoryTest: " + report);
    assertTrue(late - early <= ALLOWED_GROWTH, "resident memory grew by " + (late - early) / 1e6
        + " MB: " + report);
  }
}
