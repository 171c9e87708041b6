package dev.fuselm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code fuselm tokenize} and {@code fuselm bpe-train} contract, through the real entry point. */
class TokenizerCliTest {

  record Run(int code, byte[] out, String err) {
    String outText() {
      return new String(out, StandardCharsets.UTF_8);
    }
  }

  static synchronized Run run(String... args) {
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      int code = Main.execute(args);
      System.out.flush();
      System.err.flush();
      return new Run(code, out.toByteArray(), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }

  static int[] ids(String line) {
    String t = line.strip();
    return t.isEmpty() ? new int[0] : Arrays.stream(t.split(" ")).mapToInt(Integer::parseInt).toArray();
  }

  @Test
  void gpt2IdsOnOneLineAndByteExactDecode(@TempDir Path dir) throws IOException {
    String text = "Hello, world!  <|endoftext|>\r\n caf\u00e9 \uD83D\uDE00\u0085\uFEFF 12345\n";
    Path in = dir.resolve("in.txt");
    Files.writeString(in, text);
    Run r = run("tokenize", "--tokenizer", "gpt2", "--input", in.toString());
    assertEquals(0, r.code(), r.err());
    String line = r.outText();
    assertTrue(line.endsWith("\n") && line.indexOf('\n') == line.length() - 1 && !line.contains("  "), line);
    assertArrayEquals(Gpt2BpeTokenizer.gpt2().encode(text), ids(line));

    Run special = run("tokenize", "--tokenizer", "gpt2", "--input", in.toString(), "--allow-special");
    assertTrue(Arrays.stream(ids(special.outText())).anyMatch(id -> id == 50256));
    assertFalse(Arrays.stream(ids(line)).anyMatch(id -> id == 50256));

    Path idsFile = dir.resolve("ids.txt");
    Files.writeString(idsFile, line);
    Run back = run("tokenize", "--tokenizer", "gpt2", "--input", idsFile.toString(), "--decode");
    assertEquals(0, back.code(), back.err());
    assertArrayEquals(Files.readAllBytes(in), back.out());

    // A token sequence cut inside a character decodes to its exact bytes, not to U+FFFD.
    int[] emoji = Gpt2BpeTokenizer.gpt2().encode("\uD83D\uDE00");
    Files.writeString(idsFile, String.valueOf(emoji[0]));
    Run half = run("tokenize", "--tokenizer", "gpt2", "--input", idsFile.toString(), "--decode");
    assertArrayEquals(Gpt2BpeTokenizer.gpt2().tokenBytes(emoji[0]), half.out());
  }

  @Test
  void bertWithoutAndWithSpecialTokens(@TempDir Path dir) throws IOException {
    Path in = dir.resolve("in.txt");
    Files.writeString(in, "Hello, World! Caf\u00e9");
    Run plain = run("tokenize", "--tokenizer", "bert-base-uncased", "--input", in.toString());
    assertArrayEquals(new int[] {7592, 1010, 2088, 999, 7668}, ids(plain.outText()));
    Run wrapped = run("tokenize", "--tokenizer", "bert-base-uncased", "--input", in.toString(), "--add-special-tokens");
    assertArrayEquals(new int[] {101, 7592, 1010, 2088, 999, 7668, 102}, ids(wrapped.outText()));
    Run cased = run("tokenize", "--tokenizer", "bert-base-cased", "--input", in.toString());
    assertArrayEquals(WordPieceTokenizer.bertBaseCased().encode("Hello, World! Caf\u00e9"), ids(cased.outText()));
  }

  @Test
  void errorsAreOneLineWithExitCode2(@TempDir Path dir) throws IOException {
    Path bad = dir.resolve("bad.txt");
    Files.write(bad, new byte[] {'a', 'b', (byte) 0xC3, '(', 'c'});
    Run r = run("tokenize", "--tokenizer", "gpt2", "--input", bad.toString());
    assertEquals(2, r.code());
    assertOneLine(r.err(), bad.toString(), "byte offset 2");

    Path idsFile = dir.resolve("ids.txt");
    Files.writeString(idsFile, "15496 11 60000 0");
    r = run("tokenize", "--tokenizer", "gpt2", "--input", idsFile.toString(), "--decode");
    assertEquals(2, r.code());
    assertOneLine(r.err(), "60000", "position 2");

    Files.writeString(idsFile, "15496 eleven");
    r = run("tokenize", "--tokenizer", "gpt2", "--input", idsFile.toString(), "--decode");
    assertEquals(2, r.code());
    assertOneLine(r.err(), idsFile.toString(), "eleven");

    r = run("tokenize", "--tokenizer", "gpt2", "--input", dir.resolve("missing.txt").toString());
    assertEquals(2, r.code());
    assertOneLine(r.err(), "missing.txt");

    Path vocabDir = dir.resolve("tok");
    Files.createDirectories(vocabDir);
    Files.writeString(vocabDir.resolve("encoder.json"), "{\"a\": 0,");
    Files.writeString(vocabDir.resolve("vocab.bpe"), "#version: 0.2\n");
    r = run("tokenize", "--tokenizer", vocabDir.toString(), "--input", idsFile.toString());
    assertEquals(2, r.code());
    assertOneLine(r.err(), "encoder.json");

    r = run("tokenize", "--tokenizer", dir.resolve("nope").toString(), "--input", idsFile.toString());
    assertEquals(2, r.code());
    assertOneLine(r.err(), "nope");

    Path vocabTxt = dir.resolve("vocab.txt");
    Files.write(vocabTxt, new byte[] {'[', 'U', 'N', 'K', ']', '\n', (byte) 0xFE, '\n'});
    r = run("tokenize", "--tokenizer", vocabTxt.toString(), "--input", idsFile.toString());
    assertEquals(2, r.code());
    assertOneLine(r.err(), "vocab.txt", "UTF-8");
  }

  static void assertOneLine(String err, String... parts) {
    assertTrue(err.startsWith("fuselm: ") && err.strip().lines().count() == 1, "not one line: " + err);
    for (String p : parts) {
      assertTrue(err.contains(p), "'" + p + "' missing from: " + err);
    }
  }

  @Test
  void bpeTrainWritesGpt2FilesThatReload(@TempDir Path dir) throws IOException {
    Path in = dir.resolve("train.txt");
    String text = String.join("\n", TestData.adversarial(1, 300));
    Files.writeString(in, text);
    Path out = dir.resolve("bpe");
    Run r = run("bpe-train", "--input", in.toString(), "--vocab-size", "300", "--output", out.toString());
    assertEquals(0, r.code(), r.err());
    Gpt2BpeTokenizer t = Gpt2BpeTokenizer.fromDirectory(out);
    assertEquals(300, t.vocabSize());
    assertEquals(text, t.decode(t.encode(text)));
    Run tok = run("tokenize", "--tokenizer", out.toString(), "--input", in.toString());
    assertArrayEquals(t.encode(text), ids(tok.outText()));
    r = run("bpe-train", "--input", in.toString(), "--vocab-size", "100", "--output", out.toString());
    assertEquals(2, r.code());
    assertOneLine(r.err(), "--vocab-size");
  }
}
