package dev.fuselm.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Instruction JSON, the prompt templates, tokenization and the collation's padding and masks. */
class InstructionDataTest {
  @TempDir Path tmp;
  static final int EOT = 50256;
  static final int IGN = -100;

  @Test
  void alpacaTemplateMatchesTheBook() {
    PromptTemplate a = PromptTemplate.alpaca();
    assertEquals("Below is an instruction that describes a task. Write a response that"
        + " appropriately completes the request.\n\n### Instruction:\nIdentify the correct"
        + " spelling of the following word.\n\n### Input:\nOcassion\n\n### Response:\n",
        a.prompt("Identify the correct spelling of the following word.", "Ocassion"));
    assertEquals("Below is an instruction that describes a task. Write a response that"
        + " appropriately completes the request.\n\n### Instruction:\nName a color.\n\n"
        + "### Response:\n", a.prompt("Name a color.", ""), "no Input section for empty input");
    assertEquals("<|user|>\nName a color.\n<|assistant|>\n",
        PromptTemplate.phi3().prompt("Name a color.", ""));
    assertEquals("Q: x (y)\nA:", PromptTemplate.of("Q: {instruction} ({input})\nA:")
        .prompt("x", "y"));
    assertThrows(IllegalArgumentException.class, () -> PromptTemplate.of("no placeholder"));
  }

  @Test
  void readsValidatesAndSplits() throws IOException {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < 100; i++) {
      sb.append(i == 0 ? "" : ",").append("{\"instruction\":\"Do ").append(i)
          .append("\",").append(i % 3 == 0 ? "" : "\"input\":\"in\",")
          .append("\"output\":\"out ").append(i).append("\"}");
    }
    Path f = tmp.resolve("d.json");
    Files.writeString(f, sb.append("]").toString());
    InstructionData d = InstructionData.read(f);
    assertEquals(100, d.entries().size());
    assertEquals("", d.entries().get(0).input(), "a missing input is empty");
    assertEquals("in", d.entries().get(1).input());
    InstructionData.Split s = d.split(0.85, 0.05, 7);
    assertEquals(85, s.train().size());
    assertEquals(5, s.validation().size());
    assertEquals(10, s.test().size());
    Set<Integer> seen = new HashSet<>();
    for (List<InstructionData.Entry> part : List.of(s.train(), s.validation(), s.test())) {
      part.forEach(e -> seen.add(e.index()));
    }
    assertEquals(100, seen.size(), "the parts are disjoint and cover everything");
    assertEquals(s, d.split(0.85, 0.05, 7), "same seed, same split");
    assertFalse(s.test().equals(d.split(0.85, 0.05, 8).test()), "another seed, another split");
  }

  private IOException bad(String json) throws IOException {
    Path f = tmp.resolve("bad.json");
    Files.writeString(f, json);
    return assertThrows(IOException.class, () -> InstructionData.read(f));
  }

  @Test
  void badFilesAreNamedErrors() throws IOException {
    assertTrue(bad("[]").getMessage().contains("empty"));
    assertTrue(bad("{\"a\":1}").getMessage().contains("expected a JSON array"));
    assertTrue(bad("[{\"instruction\":\"x\",\"output\":\"y\"},{\"instruction\":\"x\"}]")
        .getMessage().contains("entry 1: missing \"output\""));
    assertTrue(bad("[{\"input\":\"x\",\"output\":\"y\"}]").getMessage()
        .contains("entry 0: missing or empty \"instruction\""));
    assertTrue(bad("[{\"instruction\":\"x\",\"input\":3,\"output\":\"y\"}]").getMessage()
        .contains("\"input\" must be a string"));
    assertTrue(bad("[{\"instruction\":").getMessage().contains("not valid JSON"));
    assertThrows(IOException.class, () -> InstructionData.read(tmp.resolve("missing.json")));
  }

  /** Hand-computed: sequences [1 2 3 | 4 5 EOT] (prompt 3) and [7 | 8 EOT] (prompt 1). */
  @Test
  void collationPadsWithEndOfTextAndMasksAsSpecified() {
    List<InstructionCollator.Encoded> items = List.of(
        new InstructionCollator.Encoded(new int[] {1, 2, 3, 4, 5, EOT}, 3, false),
        new InstructionCollator.Encoded(new int[] {7, 8, EOT}, 1, false));
    InstructionCollator.Batch b = InstructionCollator.collate(items, EOT, false, 0);
    assertEquals(2, b.b());
    assertEquals(5, b.t(), "the longest sequence has 5 inputs");
    assertArrayEquals(new int[] {1, 2, 3, 4, 5, /**/ 7, 8, EOT, EOT, EOT}, b.inputs());
    // the first EOT is a target, the padding after it is ignored
    assertArrayEquals(new int[] {2, 3, 4, 5, EOT, /**/ 8, EOT, IGN, IGN, IGN}, b.targets());
    assertEquals(7, b.targetCount());

    InstructionCollator.Batch m = InstructionCollator.collate(items, EOT, true, 0);
    assertArrayEquals(b.inputs(), m.inputs());
    // prompt tokens 2 and 3 are not learned; the first response token 4 is
    assertArrayEquals(new int[] {IGN, IGN, 4, 5, EOT, /**/ 8, EOT, IGN, IGN, IGN}, m.targets());

    InstructionCollator.Batch f = InstructionCollator.collate(items, EOT, true, 7);
    assertEquals(7, f.t());
    assertArrayEquals(new int[] {1, 2, 3, 4, 5, EOT, EOT, /**/ 7, 8, EOT, EOT, EOT, EOT, EOT},
        f.inputs());
    assertArrayEquals(new int[] {IGN, IGN, 4, 5, EOT, IGN, IGN, /**/ 8, EOT, IGN, IGN, IGN, IGN,
        IGN}, f.targets());
    assertThrows(IllegalArgumentException.class,
        () -> InstructionCollator.collate(items, EOT, false, 4));
    assertThrows(IllegalArgumentException.class,
        () -> InstructionCollator.collate(List.of(), EOT, false, 0));
  }

  @Test
  void encodingAppendsEndOfTextTruncatesAndRefusesLongPrompts() {
    Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.gpt2();
    PromptTemplate tpl = PromptTemplate.alpaca();
    InstructionData.Entry e = new InstructionData.Entry("Name a color.", "", "Blue is a color.", 4);
    int[] p = tok.encode(tpl.prompt("Name a color.", ""));
    int[] r = tok.encode("Blue is a color.");
    InstructionCollator.Encoded x = InstructionCollator.encode(tok, tpl, e, EOT, 1024);
    assertEquals(p.length, x.promptLength());
    assertFalse(x.truncated());
    List<Integer> want = new ArrayList<>();
    for (int id : p) {
      want.add(id);
    }
    for (int id : r) {
      want.add(id);
    }
    want.add(EOT);
    assertArrayEquals(want.stream().mapToInt(Integer::intValue).toArray(), x.tokens());

    // a context of prompt + 2 keeps ctx + 1 tokens (prompt and 3 response tokens), no EOT
    int ctx = p.length + 2;
    InstructionCollator.Encoded t = InstructionCollator.encode(tok, tpl, e, EOT, ctx);
    assertTrue(t.truncated());
    assertEquals(ctx + 1, t.tokens().length);
    assertEquals(r[2], t.tokens()[ctx]);

    IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
        () -> InstructionCollator.encode(tok, tpl, e, EOT, p.length));
    assertTrue(ex.getMessage().contains("entry 4: the prompt is " + p.length + " tokens"),
        ex.getMessage());
  }
}
