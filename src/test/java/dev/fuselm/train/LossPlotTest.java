package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LossPlotTest {
  @TempDir Path dir;

  static BufferedImage written(Path file, LossHistory h) throws Exception {
    String headless = System.getProperty("java.awt.headless");
    LossPlot.write(file, h);
    assertEquals(headless, System.getProperty("java.awt.headless"), "a JVM-wide property changed");
    BufferedImage img = ImageIO.read(file.toFile());
    assertEquals(LossPlot.WIDTH, img.getWidth());
    assertEquals(LossPlot.HEIGHT, img.getHeight());
    return img;
  }

  /** Distinct colours in the image: a blank or single-colour PNG has 1. */
  static long colours(BufferedImage img) {
    return java.util.stream.IntStream.range(0, img.getWidth() * img.getHeight())
        .map(i -> img.getRGB(i % img.getWidth(), i / img.getWidth())).distinct().count();
  }

  @Test
  void aPngWithLabelledAxesAndBothCurves() throws Exception {
    LossHistory h = new LossHistory();
    for (int i = 1; i <= 200; i++) {
      h.addTrain(i * 1024L, (float) (3 + 8 * Math.exp(-i / 40.0)));
      if (i % 20 == 0) {
        h.addVal(i * 1024L, (float) (3.2 + 8 * Math.exp(-i / 40.0)));
      }
    }
    var chart = LossPlot.chart(h);
    assertEquals("tokens seen", chart.getXAxisTitle());
    assertTrue(chart.getYAxisTitle().startsWith("loss"), chart.getYAxisTitle());
    assertEquals(200, chart.getSeriesMap().get("train").getXData().length);
    assertEquals(10, chart.getSeriesMap().get("validation").getXData().length);
    assertTrue(chart.getSeriesMap().values().stream().filter(x -> x.isShowInLegend()).count() == 2);
    Path png = dir.resolve("loss.png");
    BufferedImage img = written(png, h);
    assertTrue(colours(img) > 20, "too few colours for two curves, text and a grid");
    byte[] magic = Files.readAllBytes(png);
    assertEquals((byte) 0x89, magic[0]);
    assertEquals('P', magic[1]);
  }

  @Test
  void anEmptyOrDivergedHistoryStillGivesAPlot() throws Exception {
    written(dir.resolve("empty.png"), new LossHistory());
    LossHistory h = new LossHistory();
    h.addTrain(100, 5f);
    h.addTrain(200, Float.NaN);
    h.addTrain(300, Float.POSITIVE_INFINITY);
    assertEquals(1, Objects.requireNonNull(LossPlot.chart(h).getSeriesMap().get("train"))
        .getXData().length);
    written(dir.resolve("diverged.png"), h);
  }
}
