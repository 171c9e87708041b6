package dev.fuselm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code fuselm demo}: the bundled text, determinism, options and errors (on tiny sizes). */
class DemoCommandTest {
  @TempDir Path tmp;

  record Run(int code, String out, String err) {}

  static Run run(String... args) {
    PrintStream oldOut = System.out, oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
    System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    try {
      int code = Main.execute(args);
      return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }

  static byte[] bundled() throws IOException {
    try (InputStream in = DemoCommand.class.getResourceAsStream(DemoCommand.BUNDLED)) {
      assertNotNull(in, "the bundled TinyShakespeare text is missing from the classpath");
      return in.readAllBytes();
    }
  }

  @Test
  void bundledTextIsTinyShakespeare() throws IOException, NoSuchAlgorithmException {
    byte[] b = bundled();
    assertEquals(1_115_394, b.length);
    // the SHA-256 listed for tinyshakespeare.txt in the shared data's SOURCES.md
    assertEquals("86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b)));
    assertTrue(new String(b, 0, 200, StandardCharsets.US_ASCII).startsWith("First Citizen:\n"));
  }

  /** A tiny model on a Shakespeare excerpt: the same seed gives the same losses and sample. */
  @Test
  void sameSeedSameRunAndTextOptionWorks() throws IOException {
    Path text = tmp.resolve("excerpt.txt");
    Files.write(text, java.util.Arrays.copyOf(bundled(), 30_000));
    String[] args = {"demo", "--text", text.toString(), "--steps", "6", "--vocab-size", "300",
        "--layers", "1", "--d-model", "32", "--heads", "2", "--ctx", "16", "--batch", "2",
        "--max-new-tokens", "12", "--threads", "2", "--seed", "7", "--prompt", "KING:"};
    Run a = run(concat(args, "--out", tmp.resolve("a").toString()));
    Path log = tmp.resolve("log.jsonl");
    Run b = run(concat(args, "--out", tmp.resolve("b").toString(), "--log-json", log.toString()));
    assertEquals(0, a.code(), a.err());
    assertEquals(0, b.code(), b.err());
    assertTrue(a.err().contains("300-token BPE vocabulary on " + text), a.err());
    assertTrue(a.err().contains("1 layers, d_model 32, 2 heads, context 16"), a.err());
    assertTrue(a.out().contains("\"val_loss\""), a.out());
    assertTrue(a.out().contains("\nKING:"), a.out());
    // the n-gram baseline beside the GPT, on the same validation tokens
    assertTrue(a.err().contains("fuselm demo: n-gram baseline (order 4, interpolated Kneser-Ney):"
        + " validation perplexity "), a.err());
    assertTrue(a.err().contains(" vs the GPT's "), a.err());
    String event = a.out().lines().filter(l -> l.contains("\"event\":\"ngram_baseline\""))
        .findFirst().orElseThrow(() -> new AssertionError("no ngram_baseline event in " + a.out()));
    com.fasterxml.jackson.databind.JsonNode e = new com.fasterxml.jackson.databind.ObjectMapper()
        .readTree(event);
    assertEquals(DemoCommand.NGRAM_ORDER, e.get("ngram_order").asInt());
    assertTrue(e.get("ngram_val_perplexity").asDouble() > 1, event);
    assertTrue(e.get("gpt_val_perplexity").asDouble() > 1, event);
    assertTrue(e.get("ngram_val_tokens").asInt() > 0, event);
    assertEquals(withoutSpeed(a.out()), withoutSpeed(b.out()));
    assertTrue(Files.readAllLines(log).stream().anyMatch(l -> l.equals(event)), event);
    for (String f : new String[] {"config.json", "model.safetensors", "encoder.json", "vocab.bpe",
        "loss.png"}) {
      assertTrue(Files.exists(tmp.resolve("a").resolve(f)), f);
    }
  }

  @Test
  void emptyTextIsAUserError() throws IOException {
    Path empty = Files.createFile(tmp.resolve("empty.txt"));
    Run r = run("demo", "--text", empty.toString(), "--out", tmp.resolve("x").toString());
    assertEquals(2, r.code(), r.out() + r.err());
    assertTrue(r.err().startsWith("fuselm: ") && r.err().contains("empty"), r.err());
  }

  private static String withoutSpeed(String out) {
    return out.replaceAll(",\"tokens_per_s\":[0-9.Ee+-]+", "");
  }

  private static String[] concat(String[] a, String... b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
