package dev.fuselm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Gpt2BpeTokenizerTest {

  static final Gpt2BpeTokenizer GPT2 = Gpt2BpeTokenizer.gpt2();
  static final Encoding R50K = Encodings.newDefaultEncodingRegistry().getEncoding(EncodingType.R50K_BASE);

  static void assertSameIds(int[] expected, int[] actual, String what) {
    int d = TestData.firstDifference(expected, actual);
    assertEquals(-1, d, () -> what + ": first difference at token " + d + " of " + expected.length
        + " (expected " + (d < expected.length ? expected[d] : "end") + ", got " + (d < actual.length ? actual[d] : "end") + ")");
  }

  @Test
  void wholeCorpusEqualsJTokkitR50kAndTheChecksumInSources() throws Exception {
    String corpus = TestData.corpus();
    int[] ids = GPT2.encode(corpus);
    assertSameIds(R50K.encodeOrdinary(corpus).toArray(), ids, "corpus vs JTokkit r50k_base");
    assertEquals(1_274_049, ids.length);
    StringBuilder sb = new StringBuilder(ids.length * 6);
    for (int id : ids) {
      sb.append(id).append('\n');
    }
    byte[] sha = MessageDigest.getInstance("SHA-256").digest(sb.toString().getBytes(StandardCharsets.US_ASCII));
    assertEquals("0c7e248cddaaa16c11e1059c640eb23205e7d1d5de0392efffd68d86eb63cb8f", HexFormat.of().formatHex(sha));
  }

  @Test
  void wholeCorpusEqualsHuggingFaceByteLevelBpe() throws IOException {
    assertSameIds(TestData.fixtureIds("hf-gpt2-corpus.ids.gz"), GPT2.encode(TestData.corpus()), "corpus vs HF tokenizers");
  }

  @Test
  void adversarialStringsEqualJTokkit() {
    List<String> strings = TestData.adversarial(7, 20_000);
    for (String s : strings) {
      assertSameIds(R50K.encodeOrdinary(s).toArray(), GPT2.encode(s), "input " + BpeVocab.quote(s));
    }
    String all = String.join("", strings);
    assertSameIds(R50K.encodeOrdinary(all).toArray(), GPT2.encode(all), "all adversarial strings joined");
  }

  /**
   * Hugging Face's fixture strings contain random code points of every plane. Where a code point is
   * unassigned in this JDK's Unicode tables (13.0 for Java 17) but assigned in the newer tables of
   * HF's regex engine, the two disagree on \p{L}/\p{N} and so on the split; JTokkit sides with this JDK.
   * Such strings are compared with JTokkit only; all others with both.
   */
  @Test
  void huggingFaceFuzzFixtureMatches() throws IOException {
    JsonNode cases = TestData.fixtureJson("hf-gpt2-fuzz.json.gz");
    int compared = 0;
    for (JsonNode c : cases) {
      String text = c.get("text").asText();
      assertSameIds(R50K.encodeOrdinary(text).toArray(), GPT2.encode(text), "input " + BpeVocab.quote(text));
      if (text.codePoints().noneMatch(cp -> Character.getType(cp) == Character.UNASSIGNED)) {
        assertSameIds(TestData.ints(c.get("ids")), GPT2.encode(text), "HF, input " + BpeVocab.quote(text));
        compared++;
      }
    }
    assertTrue(compared >= 400, "only " + compared + " of " + cases.size() + " compared with HF");
  }

  @Test
  void loneSurrogatesEncodeLikeJTokkit() {
    for (String s : new String[] {"a\uD800b", "\uDC00", " \uD83Dx", "x\uDE00\uDE00 y", "\uD800\uD800\uDC00 ok", "12\uDBFF"}) {
      assertSameIds(R50K.encodeOrdinary(s).toArray(), GPT2.encode(s), "input " + BpeVocab.quote(s));
    }
  }

  @Test
  void randomCodePointsFromEveryPlaneEqualJTokkit() {
    SplittableRandom r = new SplittableRandom(99);
    for (int i = 0; i < 3000; i++) {
      StringBuilder sb = new StringBuilder();
      for (int j = 0; j < 40; j++) {
        sb.appendCodePoint(r.nextInt(17) * 0x10000 + r.nextInt(0x10000) & 0x1FFFFF);
      }
      String s = sb.toString().codePoints().filter(cp -> cp <= 0x10FFFF)
          .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
      assertSameIds(R50K.encodeOrdinary(s).toArray(), GPT2.encode(s), "input " + BpeVocab.quote(s));
    }
  }

  @Test
  void decodeInvertsEncode() {
    String corpus = TestData.corpus();
    assertEquals(corpus, GPT2.decode(GPT2.encode(corpus)));
    for (String s : TestData.adversarial(11, 3000)) {
      assertEquals(s, GPT2.decode(GPT2.encode(s)));
    }
  }

  @Test
  void knownIds() {
    assertArrayEquals(new int[] {15496, 11, 995, 0}, GPT2.encode("Hello, world!"));
    assertEquals(50257, GPT2.vocabSize());
    assertEquals(50000, GPT2.mergeCount());
    assertEquals(java.util.Map.of("<|endoftext|>", 50256), GPT2.specialTokens());
    assertEquals("\u0120world", GPT2.idToToken(995));
    assertEquals(995, GPT2.tokenToId("\u0120world").getAsInt());
  }

  @Test
  void endOfTextOnlyWhenAllowed() {
    String text = "a<|endoftext|>b <|endoftext|><|endoftext|>";
    int[] ordinary = GPT2.encode(text);
    assertFalse(java.util.Arrays.stream(ordinary).anyMatch(id -> id == 50256));
    assertSameIds(R50K.encodeOrdinary(text).toArray(), ordinary, "ordinary");
    int[] allowed = GPT2.encode(text, true);
    IntList expected = new IntList(16);
    for (String part : new String[] {"a", "\u0000", "b ", "\u0000", "", "\u0000"}) {
      if (part.equals("\u0000")) {
        expected.add(50256);
      } else {
        for (int id : R50K.encodeOrdinary(part).toArray()) {
          expected.add(id);
        }
      }
    }
    assertSameIds(expected.toArray(), allowed, "allowed special");
    assertEquals(3, java.util.Arrays.stream(allowed).filter(id -> id == 50256).count());
    assertEquals(text, GPT2.decode(allowed));
  }

  @Test
  void decodeRejectsIdsOutsideTheVocabulary() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GPT2.decode(new int[] {1, 2, 50257}));
    assertTrue(e.getMessage().contains("50257") && e.getMessage().contains("position 2"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> GPT2.decode(new int[] {-1}));
  }

  @Test
  void decodingAHalfCharacterDoesNotThrow() {
    int[] ids = GPT2.encode("\uD83D\uDE00");   // 😀 is several byte tokens
    assertTrue(ids.length > 1);
    assertEquals("\uFFFD", GPT2.decode(new int[] {ids[0]}).substring(0, 1));
    assertEquals(1, GPT2.decodeBytes(new int[] {ids[0]}).length > 0 ? 1 : 0);
  }

  @Test
  void streamingDecoderHoldsIncompleteCharacters() {
    for (String s : TestData.adversarial(5, 2000)) {
      int[] ids = GPT2.encode(s);
      StreamingDecoder d = GPT2.streamingDecoder();
      StringBuilder sb = new StringBuilder();
      for (int id : ids) {
        String part = d.push(id);
        assertFalse(part.contains("\uFFFD") && !s.contains("\uFFFD"), () -> "spurious U+FFFD for " + BpeVocab.quote(s));
        sb.append(part);
      }
      assertEquals(0, d.pendingBytes());
      sb.append(d.finish());
      assertEquals(s, sb.toString());
    }
    // Invalid sequences stream to the same text as a whole-sequence decode.
    SplittableRandom r = new SplittableRandom(3);
    for (int i = 0; i < 2000; i++) {
      int[] ids = r.ints(1 + r.nextInt(12), 0, 50257).toArray();
      StreamingDecoder d = GPT2.streamingDecoder();
      StringBuilder sb = new StringBuilder();
      for (int id : ids) {
        sb.append(d.push(id));
      }
      sb.append(d.finish());
      assertEquals(GPT2.decode(ids), sb.toString(), () -> java.util.Arrays.toString(ids));
    }
    assertThrows(IllegalArgumentException.class, () -> GPT2.streamingDecoder().push(50257));
  }

  @Test
  void heapMergeEqualsSimpleMerge() {
    BpeVocab v = GPT2.vocab();
    SplittableRandom r = new SplittableRandom(1);
    String[] alphabets = {"0123456789", " ", " \n", "abcdefghijklmnopqrstuvwxyz", "ab", "\u00E9\u4E2D\uD83D\uDE00x "};
    for (int i = 0; i < 3000; i++) {
      String alpha = alphabets[r.nextInt(alphabets.length)];
      StringBuilder sb = new StringBuilder();
      int n = 1 + r.nextInt(i % 10 == 0 ? 2000 : 300);
      while (sb.length() < n) {
        int k = r.nextInt(alpha.length());
        sb.append(Character.isHighSurrogate(alpha.charAt(k)) ? alpha.substring(k, k + 2)
            : Character.isLowSurrogate(alpha.charAt(k)) ? "y" : alpha.substring(k, k + 1));
      }
      byte[] bytes = sb.toString().getBytes(StandardCharsets.UTF_8);
      int[] a = new int[bytes.length];
      for (int j = 0; j < bytes.length; j++) {
        a[j] = v.byteToId[bytes[j] & 0xFF];
      }
      int[] b = a.clone();
      int na = Gpt2BpeTokenizer.mergeSimple(v, a, a.length, new int[a.length]);
      int nb = Gpt2BpeTokenizer.mergeHeap(v, b, b.length);
      assertArrayEquals(java.util.Arrays.copyOf(a, na), java.util.Arrays.copyOf(b, nb), sb::toString);
    }
  }

  @Test
  void everyTokenMergesBackToItself() {
    // GPT-2's merges rebuild every one of its tokens from the token's own bytes: a property of a trained
    // merge list that also exercises the merge loop on 50,000 inputs.
    BpeVocab v = GPT2.vocab();
    int[] work = new int[256];
    int[] ranks = new int[256];
    for (int id = 0; id < v.size(); id++) {
      if (v.specials.containsValue(id)) {
        continue;
      }
      byte[] b = v.tokenBytes[id];
      for (int j = 0; j < b.length; j++) {
        work[j] = v.byteToId[b[j] & 0xFF];
      }
      int n = Gpt2BpeTokenizer.mergeSimple(v, work, b.length, ranks);
      final int expected = id;
      assertEquals(1, n, () -> "token " + expected);
      assertEquals(id, work[0]);
    }
  }

  @Test
  void batchAndParallelEncodingEqualSequential() {
    String corpus = TestData.corpus();
    assertSameIds(GPT2.encode(corpus), GPT2.encodeParallel(corpus), "encodeParallel");
    List<String> texts = new ArrayList<>(List.of(corpus.split("\n")));
    List<int[]> batch = GPT2.encodeBatch(texts);
    for (int i = 0; i < texts.size(); i++) {
      assertSameIds(GPT2.encode(texts.get(i)), batch.get(i), "line " + i);
    }
    assertEquals(GPT2.encode(corpus).length, GPT2.countTokens(corpus));
  }

  @Test
  void loadsGpt2FilesAndTokenizerJson(@TempDir Path dir) throws IOException {
    Path data = TestData.dataDir().resolve("gpt2");
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(data), "no " + data);
    Gpt2BpeTokenizer fromFiles = Gpt2BpeTokenizer.fromDirectory(data);
    String sample = TestData.corpus().substring(0, 200_000);
    assertSameIds(GPT2.encode(sample), fromFiles.encode(sample), "from encoder.json + vocab.bpe");

    // A Hugging Face tokenizer.json built from the same files (merges in the newer pair-array form).
    ObjectMapper om = new ObjectMapper();
    ObjectNode root = om.createObjectNode();
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE");
    model.set("vocab", om.readTree(data.resolve("encoder.json").toFile()));
    ArrayNode merges = model.putArray("merges");
    List<String> lines = Files.readAllLines(data.resolve("vocab.bpe"));
    for (String line : lines.subList(1, lines.size())) {   // line 1 is "#version: 0.2"; merges may start with '#'
      if (!line.isEmpty()) {
        String[] p = line.split(" ");
        merges.addArray().add(p[0]).add(p[1]);
      }
    }
    ObjectNode eot = root.putArray("added_tokens").addObject();
    eot.put("id", 50256).put("content", "<|endoftext|>").put("special", true);
    Path json = dir.resolve("tokenizer.json");
    om.writeValue(json.toFile(), root);
    Gpt2BpeTokenizer fromJson = Gpt2BpeTokenizer.fromTokenizerJson(json);
    assertSameIds(GPT2.encode(sample), fromJson.encode(sample), "from tokenizer.json");
    assertArrayEquals(GPT2.encode("x<|endoftext|>", true), fromJson.encode("x<|endoftext|>", true));
    assertSameIds(GPT2.encode(sample), Gpt2BpeTokenizer.fromDirectory(dir).encode(sample), "directory with tokenizer.json");
  }

  @Test
  void corruptFilesGiveMessagesNamingFileAndPlace(@TempDir Path dir) throws IOException {
    Path enc = dir.resolve("encoder.json");
    Path bpe = dir.resolve("vocab.bpe");
    String encoder = new String(Gpt2BpeTokenizer.resource("/dev/fuselm/tokenizer/gpt2/encoder.json").readAllBytes(), StandardCharsets.UTF_8);
    String merges = new String(Gpt2BpeTokenizer.resource("/dev/fuselm/tokenizer/gpt2/vocab.bpe").readAllBytes(), StandardCharsets.UTF_8);

    Files.writeString(enc, encoder.substring(0, 5000));
    Files.writeString(bpe, merges);
    IOException e = assertThrows(IOException.class, () -> Gpt2BpeTokenizer.fromFiles(enc, bpe));
    assertTrue(e.getMessage().startsWith(enc.toString()) && e.getMessage().contains("line 1"), e.getMessage());

    Files.writeString(enc, encoder);
    Files.writeString(bpe, merges.replaceFirst("\n\u0120 t\n", "\n\u0120 t x\n"));
    e = assertThrows(IOException.class, () -> Gpt2BpeTokenizer.fromFiles(enc, bpe));
    assertTrue(e.getMessage().startsWith(bpe.toString()) && e.getMessage().contains("line 2:"), e.getMessage());

    Files.writeString(bpe, merges.replaceFirst("\n\u0120 t\n", "\n\u0120 nosuchtoken\n"));
    e = assertThrows(IOException.class, () -> Gpt2BpeTokenizer.fromFiles(enc, bpe));
    assertTrue(e.getMessage().contains("line 2") && e.getMessage().contains("nosuchtoken"), e.getMessage());

    Files.write(bpe, new byte[] {'#', '\n', (byte) 0xC3, 0x28, ' ', 'a', '\n'});
    e = assertThrows(IOException.class, () -> Gpt2BpeTokenizer.fromFiles(enc, bpe));
    assertTrue(e.getMessage().contains("UTF-8"), e.getMessage());

    Files.writeString(enc, "{\"a\": 0, \"b\": \"x\"}");
    e = assertThrows(IOException.class, () -> Gpt2BpeTokenizer.fromFiles(enc, bpe));
    assertTrue(e.getMessage().contains("not an integer"), e.getMessage());

    Files.writeString(enc, "{\"a\": 0, \"b\": 1}");
    e = assertThrows(IOException.class, () -> Gpt2BpeTokenizer.fromFiles(enc, bpe));
    assertTrue(e.getMessage().contains("at least 256"), e.getMessage());

    assertThrows(IOException.class, () -> Gpt2BpeTokenizer.fromDirectory(dir.resolve("missing")));
  }
}
