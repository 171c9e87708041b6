package dev.fuselm.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataPipelineTest {

  static Path data(String name) {
    String p = System.getProperty("fuselm.data", System.getenv("FUSELM_DATA"));
    if (p == null && System.getProperty("fuselm.shared.dir") != null) {
      p = Path.of(System.getProperty("fuselm.shared.dir"), "data").toString();   // set by the pom
    }
    Path dir = p != null ? Path.of(p) : Path.of("..", "shared", "data").toAbsolutePath().normalize();
    Path f = dir.resolve(name);
    assumeTrue(Files.isRegularFile(f), "shared data file not found: " + f + " (set -Dfuselm.data=DIR)");
    return f;
  }

  static TokenSequence range(int n) {
    return TokenSequence.of(IntStream.range(0, n).toArray());
  }

  @Test
  void theVerdictWindowsMatchTheBook() throws IOException {
    int[] ids = Gpt2BpeTokenizer.gpt2().encode(Files.readString(data("the-verdict.txt")));
    assertEquals(5145, ids.length);
    SlidingWindowDataset ds = new SlidingWindowDataset(TokenSequence.of(ids), 4, 4);
    BatchLoader loader = new BatchLoader(ds, 8, false, false, 0);
    BatchLoader.Batch b = loader.next();
    assertArrayEquals(new int[] {40, 367, 2885, 1464, 1807, 3619, 402, 271, 10899, 2138, 257, 7026, 15632, 438, 2016, 257,
      922, 5891, 1576, 438, 568, 340, 373, 645, 1049, 5975, 284, 502, 284, 3285, 326, 11}, b.inputs());
    assertEquals(367, b.targets()[0]);
    assertEquals(1807, b.targets()[3]);
    SlidingWindowDataset one = new SlidingWindowDataset(TokenSequence.of(ids), 4, 1);
    assertArrayEquals(new int[] {40, 367, 2885, 1464}, one.get(0).input());
    assertArrayEquals(new int[] {367, 2885, 1464, 1807}, one.get(0).target());
    assertArrayEquals(new int[] {367, 2885, 1464, 1807}, one.get(1).input());
  }

  @Test
  void windowCountsAndShift() {
    assertEquals(0, new SlidingWindowDataset(range(4), 4, 1).size());
    assertEquals(1, new SlidingWindowDataset(range(5), 4, 1).size());
    assertEquals(6, new SlidingWindowDataset(range(10), 4, 1).size());
    assertEquals(2, new SlidingWindowDataset(range(10), 4, 4).size());   // starts 0, 4 (8 + 4 > 9)
    assertEquals(3, new SlidingWindowDataset(range(11), 4, 3).size());   // range(0, 7, 3) = 0, 3, 6
    SlidingWindowDataset ds = new SlidingWindowDataset(range(100), 7, 5);
    for (long w = 0; w < ds.size(); w++) {
      SlidingWindowDataset.Window win = ds.get(w);
      for (int t = 0; t < 7; t++) {
        assertEquals(w * 5 + t, win.input()[t]);
        assertEquals(win.input()[t] + 1, win.target()[t]);
      }
    }
    assertThrows(IndexOutOfBoundsException.class, () -> ds.get(ds.size()));
    assertThrows(IllegalArgumentException.class, () -> new SlidingWindowDataset(range(10), 0, 1));
  }

  @Test
  void dropLastAndEpochCoverage() {
    SlidingWindowDataset ds = new SlidingWindowDataset(range(30), 3, 1);   // 27 windows
    BatchLoader drop = new BatchLoader(ds, 5, true, true, 42);
    assertEquals(5, drop.batchesPerEpoch());
    BatchLoader keep = new BatchLoader(ds, 5, true, false, 42);
    assertEquals(6, keep.batchesPerEpoch());
    Set<Long> seen = new HashSet<>();
    int rows = 0;
    for (int i = 0; i < 6; i++) {
      BatchLoader.Batch b = keep.next();
      rows += b.batchSize();
      for (long w : b.windows()) {
        assertTrue(seen.add(w), "window " + w + " twice in one epoch");
      }
      if (i == 5) {
        assertEquals(2, b.batchSize());
        assertEquals(6, b.inputs().length);
      }
    }
    assertEquals(27, rows);
    assertEquals(new BatchLoader.Position(42, 0, 6), keep.position());   // the epoch rolls over on the next call
    keep.next();
    assertEquals(new BatchLoader.Position(42, 1, 1), keep.position());
    for (int i = 0; i < 5; i++) {
      assertEquals(5, drop.next().batchSize());
    }
    assertThrows(IllegalArgumentException.class, () -> new BatchLoader(new SlidingWindowDataset(range(6), 3, 1), 5, true, true, 1));
  }

  @Test
  void shuffleIsSeededAndDiffersPerEpoch() {
    SlidingWindowDataset ds = new SlidingWindowDataset(range(200), 4, 1);
    List<long[]> a = windows(new BatchLoader(ds, 16, true, true, 7), 24);
    List<long[]> b = windows(new BatchLoader(ds, 16, true, true, 7), 24);
    List<long[]> c = windows(new BatchLoader(ds, 16, true, true, 8), 24);
    for (int i = 0; i < a.size(); i++) {
      assertArrayEquals(a.get(i), b.get(i));
    }
    assertNotEquals(Arrays.toString(a.get(0)), Arrays.toString(c.get(0)));
    assertNotEquals(Arrays.toString(a.get(0)), Arrays.toString(a.get(12)));   // epoch 1 (12 batches/epoch) differs
    long[] plain = new BatchLoader(ds, 16, false, true, 7).next().windows();
    assertArrayEquals(IntStream.range(0, 16).asLongStream().toArray(), plain);
  }

  @Test
  void restoreContinuesExactly() {
    SlidingWindowDataset ds = new SlidingWindowDataset(range(500), 8, 3);
    BatchLoader original = new BatchLoader(ds, 10, true, false, 123);
    for (int i = 0; i < 37; i++) {
      original.next();
    }
    long[] saved = original.position().toLongs();
    List<BatchLoader.Batch> expected = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      expected.add(original.next());
    }
    BatchLoader resumed = new BatchLoader(ds, 10, true, false, 123);
    resumed.restore(BatchLoader.Position.fromLongs(saved));
    for (BatchLoader.Batch e : expected) {
      BatchLoader.Batch r = resumed.next();
      assertArrayEquals(e.inputs(), r.inputs());
      assertArrayEquals(e.targets(), r.targets());
    }
    assertThrows(IllegalArgumentException.class, () -> new BatchLoader(ds, 10, true, false, 124)
        .restore(BatchLoader.Position.fromLongs(saved)));
  }

  private static List<long[]> windows(BatchLoader l, int n) {
    List<long[]> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(l.next().windows());
    }
    return out;
  }

  @Test
  void trainValidationSplitByRatio() {
    TokenSequence.Split s = range(101).split(0.9);
    assertEquals(90, s.train().size());
    assertEquals(11, s.validation().size());
    assertEquals(90, s.validation().get(0));
    assertEquals(89, s.train().get(89));
    assertThrows(IndexOutOfBoundsException.class, () -> s.train().get(90));
    assertThrows(IllegalArgumentException.class, () -> range(3).split(1.5));
  }

  @Test
  void tokenFileRoundTripsAndMapsInChunks(@TempDir Path dir) throws IOException {
    int[] ids = new java.util.SplittableRandom(5).ints(100_003, 0, 50257).toArray();
    Path f = dir.resolve("ids.bin");
    TokenFile.write(f, ids, 50257);
    assertEquals(32 + 2L * ids.length, Files.size(f));
    TokenFile t = TokenFile.open(f, 4096);    // many small mapped regions
    assertEquals(ids.length, t.size());
    assertEquals(50257, t.vocabSize());
    int[] back = new int[ids.length];
    t.copy(0, back, 0, ids.length);
    assertArrayEquals(ids, back);
    int[] big = {0, 70000, 1 << 30};
    Path g = dir.resolve("big.bin");
    TokenFile.write(g, big, 0);
    assertEquals(32 + 4L * 3, Files.size(g));
    TokenFile tg = TokenFile.open(g);
    assertEquals(1 << 30, tg.get(2));
    assertThrows(IndexOutOfBoundsException.class, () -> tg.get(3));
    // A dataset and loader work the same over the mapped file as over the array.
    BatchLoader fromFile = new BatchLoader(new SlidingWindowDataset(t, 16, 16), 4, true, true, 9);
    BatchLoader fromArray = new BatchLoader(new SlidingWindowDataset(TokenSequence.of(ids), 16, 16), 4, true, true, 9);
    for (int i = 0; i < 50; i++) {
      assertArrayEquals(fromArray.next().inputs(), fromFile.next().inputs());
    }
    assertThrows(IllegalArgumentException.class, () -> TokenFile.write(dir.resolve("bad.bin"), new int[] {50257}, 50257));
  }

  @Test
  void corruptTokenFilesAreReported(@TempDir Path dir) throws IOException {
    Path f = dir.resolve("ids.bin");
    TokenFile.write(f, new int[] {1, 2, 3}, 100);
    byte[] bytes = Files.readAllBytes(f);
    Files.write(f, Arrays.copyOf(bytes, bytes.length - 1));
    IOException e = assertThrows(IOException.class, () -> TokenFile.open(f));
    assertTrue(e.getMessage().startsWith(f.toString()) && e.getMessage().contains("truncated"), e.getMessage());
    bytes[0] = 'X';
    Files.write(f, bytes);
    e = assertThrows(IOException.class, () -> TokenFile.open(f));
    assertTrue(e.getMessage().contains("magic"), e.getMessage());
    Files.write(f, new byte[5]);
    assertThrows(IOException.class, () -> TokenFile.open(f));
  }

  @Test
  void encodeTextInBlocksEqualsEncodingAtOnce(@TempDir Path dir) throws IOException {
    Path corpus = data("tokenizer-corpus.txt");
    String text = Files.readString(corpus).substring(0, 400_000);
    Path txt = dir.resolve("part.txt");
    Files.writeString(txt, text);
    Gpt2BpeTokenizer gpt2 = Gpt2BpeTokenizer.gpt2();
    Path out = dir.resolve("part.bin");
    long n = TokenFile.encodeText(txt, gpt2, out, 4096);
    int[] expected = gpt2.encode(text);
    assertEquals(expected.length, n);
    int[] got = new int[expected.length];
    TokenFile.open(out).copy(0, got, 0, got.length);
    assertArrayEquals(expected, got);

    WordPieceTokenizer bert = WordPieceTokenizer.bertBaseUncased();
    TokenFile.encodeText(txt, bert, out, 4096);
    int[] be = bert.encode(text);
    int[] bg = new int[be.length];
    TokenFile tf = TokenFile.open(out);
    assertEquals(be.length, tf.size());
    tf.copy(0, bg, 0, bg.length);
    assertArrayEquals(be, bg);

    Files.write(txt, new byte[] {'o', 'k', ' ', (byte) 0xE2, (byte) 0x82});
    IOException e = assertThrows(IOException.class, () -> TokenFile.encodeText(txt, gpt2, out, 4096));
    assertTrue(e.getMessage().contains(txt.toString()) && e.getMessage().contains("UTF-8"), e.getMessage());
  }
}
