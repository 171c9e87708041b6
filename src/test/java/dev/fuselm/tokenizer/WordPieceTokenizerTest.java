package dev.fuselm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WordPieceTokenizerTest {

  static final WordPieceTokenizer UNCASED = WordPieceTokenizer.bertBaseUncased();
  static final WordPieceTokenizer CASED = WordPieceTokenizer.bertBaseCased();

  static WordPieceTokenizer byName(String name) {
    return name.equals("bert-base-uncased") ? UNCASED : CASED;
  }

  static void assertSameIds(int[] expected, int[] actual, String what) {
    int d = TestData.firstDifference(expected, actual);
    assertEquals(-1, d, () -> what + ": first difference at token " + d + " of " + expected.length
        + " (expected " + (d < expected.length ? expected[d] : "end") + ", got " + (d < actual.length ? actual[d] : "end") + ")");
  }

  @ParameterizedTest
  @ValueSource(strings = {"bert-base-uncased", "bert-base-cased"})
  void wholeCorpusEqualsHuggingFace(String name) throws IOException {
    int[] expected = TestData.fixtureIds("hf-" + name + "-corpus.ids.gz");
    assertSameIds(expected, byName(name).encode(TestData.corpus()), name + " corpus");
  }

  @ParameterizedTest
  @ValueSource(strings = {"bert-base-uncased", "bert-base-cased"})
  void fuzzStringsEqualHuggingFace(String name) throws IOException {
    JsonNode cases = TestData.fixtureJson("hf-bert-cases.json.gz").get("vocabularies").get(name).get("fuzz");
    assertTrue(cases.size() >= 1000);
    for (JsonNode c : cases) {
      String text = c.get("text").asText();
      assertSameIds(TestData.ints(c.get("ids")), byName(name).encode(text), name + " input " + BpeVocab.quote(text));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"bert-base-uncased", "bert-base-cased"})
  void pairsAndSinglesWithTruncationAndPaddingEqualHuggingFace(String name) throws IOException {
    JsonNode v = TestData.fixtureJson("hf-bert-cases.json.gz").get("vocabularies").get(name);
    WordPieceTokenizer t = byName(name);
    int n = 0;
    for (String kind : new String[] {"pairs", "singles"}) {
      for (JsonNode c : v.get(kind)) {
        String a = c.get("a").asText();
        String b = c.has("b") ? c.get("b").asText() : null;
        BertEncoding e = t.encodeForModel(a, b, c.get("maxLength").asInt(), c.get("padTo").asInt());
        String what = name + " " + kind + " maxLength=" + c.get("maxLength") + " padTo=" + c.get("padTo")
            + " a=" + BpeVocab.quote(a) + (b == null ? "" : " b=" + BpeVocab.quote(b));
        assertSameIds(TestData.ints(c.get("ids")), e.ids(), what + " ids");
        assertSameIds(TestData.ints(c.get("typeIds")), e.typeIds(), what + " type ids");
        assertSameIds(TestData.ints(c.get("attentionMask")), e.attentionMask(), what + " attention mask");
        n++;
      }
    }
    assertTrue(n > 1000, "only " + n + " cases");
  }

  @Test
  void knownExamples() {
    assertEquals(List.of("hello", ",", "world", "!"), UNCASED.tokenize("Hello, World!"));
    assertEquals(List.of("Hello", ",", "World", "!"), CASED.tokenize("Hello, World!"));
    // accents stripped and lower-cased only for the uncased vocabulary
    assertEquals(List.of("cafe", "naive"), UNCASED.tokenize("Café NAÏVE"));
    assertEquals(List.of("Café", "[UNK]"), CASED.tokenize("Café NAÏVE"));   // no piece covers "Ï" upper case
    assertEquals(List.of("una", "##ffa", "##ble"), UNCASED.tokenize("unaffable"));   // what HF gives too
    // CJK ideographs are split one by one; kana is not
    assertEquals(List.of("中", "文"), UNCASED.tokenize("中文"));
    // words over 100 characters and unknown characters are [UNK]
    assertEquals(List.of("[UNK]"), UNCASED.tokenize("a".repeat(101)));
    assertEquals(List.of("a", "[UNK]", "b"), UNCASED.tokenize("a \uD83E\uDD70\uD83E\uDD70 b"));
    assertEquals(5, UNCASED.specialTokens().size());
    assertEquals(30522, UNCASED.vocabSize());
    assertEquals(28996, CASED.vocabSize());
    assertEquals(101, UNCASED.specialTokenId("[CLS]").getAsInt());
  }

  @Test
  void specialTokensOnlyWhenAllowed() {
    int[] ordinary = UNCASED.encode("a [SEP] b");
    assertEquals(List.of("a", "[", "sep", "]", "b"), UNCASED.tokenize("a [SEP] b"));
    assertArrayEquals(new int[] {ordinary[0], 102, ordinary[4]}, UNCASED.encode("a [SEP] b", true));
    assertArrayEquals(new int[] {101, 103, 102}, UNCASED.encode("[CLS][MASK][SEP]", true));
  }

  @Test
  void encodeForModelLayout() {
    BertEncoding e = UNCASED.encodeForModel("hello world", "how are you", 0, 12);
    assertArrayEquals(new int[] {101, 7592, 2088, 102, 2129, 2024, 2017, 102, 0, 0, 0, 0}, e.ids());
    assertArrayEquals(new int[] {0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0}, e.typeIds());
    assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, e.attentionMask());
    assertThrows(IllegalArgumentException.class, () -> UNCASED.encodeForModel("a", "b", 2, 0));
  }

  @Test
  void decodeJoinsPiecesAndRejectsBadIds() {
    // HF cleans up per token, so "' t" stays apart
    assertEquals("unaffable, isn ' t it?", UNCASED.decode(UNCASED.encode("Unaffable, isn't it?")));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> UNCASED.decode(new int[] {5, 30522}));
    assertTrue(e.getMessage().contains("30522") && e.getMessage().contains("position 1"), e.getMessage());
  }

  @Test
  void loadsVocabFilesAndReportsCorruptOnes(@TempDir Path dir) throws IOException {
    Path data = TestData.dataDir().resolve("bert/bert-base-uncased-vocab.txt");
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.isRegularFile(data), "no " + data);
    WordPieceTokenizer t = WordPieceTokenizer.fromVocab(data, true);
    String sample = TestData.corpus().substring(0, 100_000);
    assertArrayEquals(UNCASED.encode(sample), t.encode(sample));

    Path bad = dir.resolve("vocab.txt");
    Files.write(bad, new byte[] {'[', 'P', 'A', 'D', ']', '\n', 'a', '\n', (byte) 0xFF, '\n'});
    IOException e = assertThrows(IOException.class, () -> WordPieceTokenizer.fromVocab(bad, true));
    assertTrue(e.getMessage().startsWith(bad.toString()) && e.getMessage().contains("UTF-8"), e.getMessage());
    Files.writeString(bad, "[PAD]\nhello\n");
    e = assertThrows(IOException.class, () -> WordPieceTokenizer.fromVocab(bad, true));
    assertTrue(e.getMessage().contains("[UNK]"), e.getMessage());
    Files.writeString(bad, "");
    assertThrows(IOException.class, () -> WordPieceTokenizer.fromVocab(bad, true));
    assertThrows(IOException.class, () -> WordPieceTokenizer.fromVocab(dir.resolve("missing.txt"), true));
  }
}
