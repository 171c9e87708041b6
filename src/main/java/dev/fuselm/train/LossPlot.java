package dev.fuselm.train;

import dev.fuselm.io.AtomicFiles;
import java.awt.Color;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.XYStyler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * A PNG (800 x 480) of training and validation loss against tokens seen, drawn by XChart: labelled
 * axes, ticks at round values, a legend. Drawing into an image needs no display and sets no
 * system property.
 */
public final class LossPlot {
  static final int WIDTH = 800;
  static final int HEIGHT = 480;

  private LossPlot() {}

  public static void write(Path file, LossHistory h) throws IOException {
    byte[] bytes = BitmapEncoder.getBitmapBytes(chart(h), BitmapEncoder.BitmapFormat.PNG);
    AtomicFiles.write(file, ch -> {
      ByteBuffer b = ByteBuffer.wrap(bytes);
      while (b.hasRemaining()) {
        ch.write(b);
      }
    });
  }

  static XYChart chart(LossHistory h) {
    XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT).title("loss")
        .xAxisTitle("tokens seen").yAxisTitle("loss (cross-entropy, nats/token)").build();
    XYStyler s = chart.getStyler();
    s.setChartBackgroundColor(Color.WHITE);
    s.setPlotBackgroundColor(Color.WHITE);
    s.setPlotGridLinesColor(new Color(230, 230, 230));
    s.setLegendPosition(Styler.LegendPosition.InsideNE);
    s.setXAxisDecimalPattern("#,###");
    double y0 = Double.NaN;
    if (series(chart, "train", h.trainTokens, h.trainLoss, h.trainCount, new Color(31, 119, 180))) {
      y0 = chart.getSeriesMap().get("train").getYData()[0];
    }
    if (series(chart, "validation", h.valTokens, h.valLoss, h.valCount, new Color(255, 127, 14))
        && Double.isNaN(y0)) {
      y0 = chart.getSeriesMap().get("validation").getYData()[0];
    }
    // Two invisible points at 0 and 0.001 tokens: the x axis starts where training did, and the
    // x values are no longer evenly spaced, for which XChart would put the ticks at the data points
    // themselves (64, 192, 320, ... tokens) instead of round values (0, 200, 400, ...).
    // With no data: axes over [0, 1].
    XYSeries origin = Double.isNaN(y0)
        ? chart.addSeries("origin", new double[] {0, 1}, new double[] {0, 1})
        : chart.addSeries("origin", new double[] {0, 0.001}, new double[] {y0, y0});
    origin.setMarker(SeriesMarkers.NONE);
    origin.setLineColor(new Color(0, 0, 0, 0));
    origin.setShowInLegend(false);
    return chart;
  }

  private static boolean series(XYChart chart, String name, long[] xs, float[] ys, int n,
      Color color) {
    if (n == 0) {
      return false;
    }
    int m = 0;
    double[] x = new double[n];
    double[] y = new double[n];
    for (int i = 0; i < n; i++) {
      if (Float.isFinite(ys[i])) { // a diverged step's NaN or infinity is left out
        x[m] = xs[i];
        y[m++] = ys[i];
      }
    }
    if (m == 0) {
      return false;
    }
    XYSeries series = chart.addSeries(name, java.util.Arrays.copyOf(x, m),
        java.util.Arrays.copyOf(y, m));
    series.setLineColor(color);
    series.setMarkerColor(color);
    series.setMarker(m < 60 ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
    return true;
  }
}
