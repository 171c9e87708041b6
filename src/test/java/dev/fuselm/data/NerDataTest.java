package dev.fuselm.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * CoNLL reading (two and four columns, -DOCSTART-, errors with file:line), entity extraction and
 * entity-level scores against seqeval's own numbers (fixtures from
 * benchmarks/ner/seqeval_fixtures.py), and the alignment of word labels to sub-word tokens.
 */
class NerDataTest {
  @Test
  void readsTwoAndFourColumnFiles() {
    ConllData two = ConllData.parse("a.conll", "John\tB-PER\nSmith I-PER\nruns O\n\n\nin O\n"
        + "Paris B-LOC\n");
    assertEquals(2, two.size());
    assertEquals(List.of("John", "Smith", "runs"), two.sentences().get(0).words());
    assertEquals(List.of("O", "B-LOC", "I-LOC", "B-PER", "I-PER"), two.labels());
    assertArrayEquals(new int[] {0, 1}, two.tagIds(1, two.labels()));
    assertEquals(6, two.sentences().get(1).line());
    // CoNLL-2003: token POS chunk tag (IOB1: I- starts an entity), with -DOCSTART-
    ConllData four = ConllData.parse("b.conll", "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\n"
        + "rejects VBZ I-VP O\nGerman JJ I-NP I-MISC\n\nPeter NNP I-NP I-PER\n");
    assertEquals(2, four.size());
    assertEquals(List.of("I-ORG", "O", "I-MISC"), four.sentences().get(0).tags());
    assertEquals(List.of(new NerTags.Entity("ORG", 0, 1), new NerTags.Entity("MISC", 2, 3)),
        NerTags.entities(four.sentences().get(0).tags()));
  }

  @Test
  void malformedLinesNameFileAndLine() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ConllData.parse("x.conll", "John B-PER\nSmith\n"));
    assertTrue(e.getMessage().startsWith("x.conll:2: expected a token and its tag"),
        e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> ConllData.parse("x.conll", "John B-PER\n\nSmith PER\n"));
    assertTrue(e.getMessage().startsWith("x.conll:3: 'PER' is not a BIO tag"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> ConllData.parse("x.conll", "John NNP B-PER\nSmith I-PER\n"));
    assertTrue(e.getMessage().startsWith("x.conll:2: 2 columns where"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> ConllData.parse("x.conll", "\n\n"));
    assertTrue(e.getMessage().startsWith("x.conll: no sentences"), e.getMessage());
    ConllData train = ConllData.parse("t.conll", "John B-PER\n");
    ConllData val = ConllData.parse("v.conll", "x O\n\nParis B-LOC\n");
    e = assertThrows(IllegalArgumentException.class, () -> val.requireLabels(train.labels()));
    assertTrue(e.getMessage().startsWith("v.conll:3: tag 'B-LOC' is not one of the model's"
        + " labels"), e.getMessage());
  }

  /** Every case of the committed seqeval fixtures: entities, micro P/R/F1 and per type. */
  @Test
  void scoresEqualSeqeval() throws IOException {
    JsonNode root;
    try (InputStream in = getClass().getResourceAsStream("/ner/seqeval_cases.json")) {
      root = new ObjectMapper().readTree(in);
    }
    int n = 0;
    for (JsonNode c : root.get("cases")) {
      String name = c.get("name").asText();
      List<List<String>> gold = lists(c.get("true")), pred = lists(c.get("pred"));
      for (int s = 0; s < gold.size(); s++) {
        List<NerTags.Entity> want = new ArrayList<>();
        for (JsonNode e : c.get("entities_true").get(s)) {
          want.add(new NerTags.Entity(e.get(0).asText(), e.get(1).asInt(), e.get(2).asInt() + 1));
        }
        assertEquals(want, NerTags.entities(gold.get(s)), name + ", sentence " + s);
      }
      NerTags.Scores got = NerTags.score(gold, pred);
      assertEquals(c.get("precision").asDouble(), got.precision(), 1e-12, name);
      assertEquals(c.get("recall").asDouble(), got.recall(), 1e-12, name);
      assertEquals(c.get("f1").asDouble(), got.f1(), 1e-12, name);
      c.get("per_type").fields().forEachRemaining(t -> {
        NerTags.Counts k = got.perType().get(t.getKey());
        assertEquals(t.getValue().get("f1").asDouble(), k.f1(), 1e-12, name + " " + t.getKey());
        assertEquals(t.getValue().get("precision").asDouble(), k.precision(), 1e-12, name);
        assertEquals(t.getValue().get("support").asInt(), k.gold(), name);
      });
      n++;
    }
    assertEquals(54, n);
  }

  private static List<List<String>> lists(JsonNode a) {
    List<List<String>> out = new ArrayList<>();
    for (JsonNode s : a) {
      List<String> tags = new ArrayList<>();
      s.forEach(t -> tags.add(t.asText()));
      out.add(tags);
    }
    return out;
  }

  /** First sub-token labelled, the rest and [CLS]/[SEP] -100; whole words cut at maxLength. */
  @Test
  void alignsLabelsToFirstSubTokens() throws IOException {
    WordPieceTokenizer tok = WordPieceTokenizer.bertBaseUncased();
    List<String> words = List.of("Huggingface", "is", "in", "Brooklyn");
    int[] y = {3, 0, 0, 1};
    NerEncoding.Encoded e = NerEncoding.encode(tok, words, y, 0);
    int[] hug = tok.encode("Huggingface", false);
    assertTrue(hug.length > 1, "a word of several pieces");
    int cls = tok.tokenToId("[CLS]").getAsInt(), sep = tok.tokenToId("[SEP]").getAsInt();
    assertEquals(cls, e.ids()[0]);
    assertEquals(sep, e.ids()[e.length() - 1]);
    int[] want = new int[e.length()];
    java.util.Arrays.fill(want, NerEncoding.IGNORE);
    want[1] = 3;
    want[1 + hug.length] = 0;
    want[2 + hug.length] = 0;
    want[3 + hug.length] = 1;
    assertArrayEquals(want, e.labels());
    assertArrayEquals(new int[] {1, 1 + hug.length, 2 + hug.length, 3 + hug.length},
        e.firstToken());
    // room for [CLS] + the first word's pieces + [SEP] only
    NerEncoding.Encoded cut = NerEncoding.encode(tok, words, y, hug.length + 2);
    assertEquals(3, cut.unplaced());
    assertEquals(hug.length + 2, cut.length());
  }

  @Test
  void splitsWordsWithCharacterSpans() {
    String text = "Around  August 2019, Obama's";
    List<String> got = new ArrayList<>();
    for (NerEncoding.Span s : NerEncoding.words(text)) {
      got.add(s.start() + ":" + s.of(text));
    }
    assertEquals(List.of("0:Around", "8:August", "15:2019", "19:,", "21:Obama", "26:'", "27:s"),
        got);
  }
}
