package dev.fuselm.train;

import dev.fuselm.io.AtomicFiles;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Locale;
import javax.imageio.ImageIO;

/** A PNG of training and validation loss against tokens seen (headless Java2D, no dependency). */
public final class LossPlot {
  private LossPlot() {}

  public static void write(Path file, LossHistory h) throws IOException {
    System.setProperty("java.awt.headless", "true");
    int w = 800, ht = 480, left = 70, right = 40, top = 40, bottom = 50;
    BufferedImage img = new BufferedImage(w, ht, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, w, ht);
    long maxTok = 1;
    float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < h.trainCount; i++) {
      maxTok = Math.max(maxTok, h.trainTokens[i]);
      lo = Math.min(lo, h.trainLoss[i]);
      hi = Math.max(hi, h.trainLoss[i]);
    }
    for (int i = 0; i < h.valCount; i++) {
      maxTok = Math.max(maxTok, h.valTokens[i]);
      lo = Math.min(lo, h.valLoss[i]);
      hi = Math.max(hi, h.valLoss[i]);
    }
    if (!(lo <= hi)) {
      lo = 0;
      hi = 1;
    }
    if (hi - lo < 1e-3f) {
      hi = lo + 1e-3f;
    }
    int pw = w - left - right, ph = ht - top - bottom;
    g.setColor(new Color(230, 230, 230));
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    for (int k = 0; k <= 5; k++) {
      int y = top + ph - ph * k / 5;
      g.setColor(new Color(230, 230, 230));
      g.drawLine(left, y, left + pw, y);
      g.setColor(Color.DARK_GRAY);
      g.drawString(String.format(Locale.ROOT, "%.2f", lo + (hi - lo) * k / 5), 10, y + 4);
      int x = left + pw * k / 5;
      g.drawString(Long.toString(maxTok * k / 5), x - 15, top + ph + 18);
    }
    g.setColor(Color.BLACK);
    g.drawRect(left, top, pw, ph);
    g.drawString("tokens seen", left + pw / 2 - 30, ht - 12);
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
    g.drawString("loss", left, top - 15);
    g.setStroke(new BasicStroke(1.5f));
    series(g, h.trainTokens, h.trainLoss, h.trainCount, maxTok, lo, hi, left, top, pw, ph,
        new Color(31, 119, 180));
    series(g, h.valTokens, h.valLoss, h.valCount, maxTok, lo, hi, left, top, pw, ph,
        new Color(255, 127, 14));
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    g.setColor(new Color(31, 119, 180));
    g.drawString("train", left + pw - 90, top + 18);
    g.setColor(new Color(255, 127, 14));
    g.drawString("validation", left + pw - 90, top + 34);
    g.dispose();
    ByteArrayOutputStream png = new ByteArrayOutputStream();
    ImageIO.write(img, "png", png);
    byte[] bytes = png.toByteArray();
    AtomicFiles.write(file, ch -> {
      ByteBuffer b = ByteBuffer.wrap(bytes);
      while (b.hasRemaining()) {
        ch.write(b);
      }
    });
  }

  private static void series(Graphics2D g, long[] xs, float[] ys, int n, long maxTok, float lo,
      float hi, int left, int top, int pw, int ph, Color color) {
    if (n == 0) {
      return;
    }
    g.setColor(color);
    Path2D.Double p = new Path2D.Double();
    for (int i = 0; i < n; i++) {
      double x = left + (double) pw * xs[i] / maxTok;
      double y = top + ph - ph * (ys[i] - lo) / (hi - lo);
      if (i == 0) {
        p.moveTo(x, y);
      } else {
        p.lineTo(x, y);
      }
      if (n < 60) {
        g.fillOval((int) x - 2, (int) y - 2, 5, 5);
      }
    }
    g.draw(p);
  }
}
