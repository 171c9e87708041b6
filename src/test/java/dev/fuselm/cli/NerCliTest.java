package dev.fuselm.cli;

import static dev.fuselm.cli.ClassifyCliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * finetune-ner then ner through Main, on tiny BERT and GPT models: JSON log lines, a Hugging Face
 * BertForTokenClassification directory, tab-separated and JSON entity output with character
 * spans, and one-line errors with exit code 2 for malformed data.
 */
class NerCliTest {
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir Path tmp;

  Path data(String name, int sentences) throws IOException {
    String text = Files.readString(Path.of("src/test/resources/ner/dates-train.conll"));
    String[] parts = text.split("\n\n");
    Path f = tmp.resolve(name);
    Files.writeString(f, String.join("\n\n", List.of(parts).subList(0, sentences)) + "\n");
    return f;
  }

  Path bertInit() throws IOException {
    Path dir = tmp.resolve("bert");
    WordPieceTokenizer tok = WordPieceTokenizer.bertBaseUncased();
    try (ComputeContext c = ComputeContext.create();
        BertModel m = BertModel.random(c, new BertConfig(tok.vocabSize(), 32, 1, 2, 64, 64, 2,
            1e-12f, 0.1f, 0.1f), 3)) {
      Checkpoint.save(ModelFamily.BERT, m, dir);
    }
    Checkpoint.saveVocab(tok, dir);
    return dir;
  }

  @Test
  void bertFineTuneThenNer() throws IOException {
    Path train = data("train.conll", 40), val = data("val.conll", 10);
    Path out = tmp.resolve("ner");
    ClassifyCliTest.Run r = run("finetune-ner", "--init", bertInit().toString(), "--train",
        train.toString(), "--val", val.toString(), "--test", val.toString(), "--out",
        out.toString(), "--epochs", "1", "--batch-size", "8", "--lr", "1e-3", "--baseline",
        "--threads", "1");
    assertEquals(0, r.code(), r.err());
    List<String> events = new java.util.ArrayList<>();
    for (String l : r.out().lines().filter(l -> l.startsWith("{")).toList()) {
      events.add(JSON.readTree(l).get("event").asText());
    }
    assertEquals(List.of("start", "epoch", "final", "baseline"), events);
    JsonNode cfg = JSON.readTree(out.resolve("config.json").toFile());
    assertEquals("BertForTokenClassification", cfg.get("architectures").get(0).asText());
    assertEquals("B-DATE", cfg.get("id2label").get("1").asText());
    assertEquals(2, cfg.get("label2id").get("I-DATE").asInt());
    assertTrue(Files.isRegularFile(out.resolve("vocab.txt")));
    assertTrue(Files.isRegularFile(out.resolve("log.jsonl")));

    String text = "It was released on 12 March 2004 in London .";
    r = run("ner", "--model", out.toString(), "--text", text);
    assertEquals(0, r.code(), r.err());
    for (String line : r.out().lines().toList()) {
      String[] f = line.split("\t");
      assertEquals(5, f.length, line);
      assertEquals("1", f[0]);
      assertEquals(text.substring(Integer.parseInt(f[1]), Integer.parseInt(f[2])), f[4]);
    }
    Path in = tmp.resolve("in.txt");
    Files.writeString(in, "On 5 May 2001 .\n\nNothing here\n");
    r = run("ner", "--model", out.toString(), "--input", in.toString(), "--json");
    assertEquals(0, r.code(), r.err());
    List<String> lines = r.out().lines().toList();
    assertEquals(3, lines.size());
    for (int i = 0; i < 3; i++) {
      JsonNode n = JSON.readTree(lines.get(i));
      assertEquals(i + 1, n.get("line").asInt());
      assertTrue(n.get("entities").isArray());
    }
  }

  /**
   * --save-state after epoch 1, then --resume to epoch 2, ends where the straight 2-epoch run
   * ends, bit for bit (weights and the final metrics): BERT (with its dropout 0.1, whose masks
   * must follow the step) and GPT with LoRA (the adapters and the head resume, the base is
   * --init's); other settings are refused as one line with exit code 2.
   */
  @Test
  void resumeContinuesTheRunExactly() throws IOException {
    Path train = data("train.conll", 20), val = data("val.conll", 6);
    Path gpt = tmp.resolve("gpt");
    try (ComputeContext c = ComputeContext.create();
        GptModel m = GptModel.random(c, GptConfig.of(50257, 64, 16, 2, 2), 3)) {
      Checkpoint.save(ModelFamily.GPT2, m, gpt);
    }
    Path bert = bertInit();
    String[][] variants = {{"--init", bert.toString()},
        {"--init", gpt.toString(), "--lora", "2"}};
    for (String[] variant : variants) {
      String name = variant.length > 2 ? "lora" : "bert";
      String[] common = ClassifyCliTest.concat(new String[] {"finetune-ner", "--train",
          train.toString(), "--val", val.toString(), "--batch", "6", "--lr", "1e-3",
          "--max-length", "48", "--threads", "1"}, variant);
      Path straight = tmp.resolve(name + "-straight"), half = tmp.resolve(name + "-half");
      Path rest = tmp.resolve(name + "-rest");
      ClassifyCliTest.Run r = run(ClassifyCliTest.concat(common, "--out", straight.toString(),
          "--epochs", "2"));
      assertEquals(0, r.code(), r.err());
      r = run(ClassifyCliTest.concat(common, "--out", half.toString(), "--epochs", "1",
          "--save-state"));
      assertEquals(0, r.code(), r.err());
      assertTrue(Files.isRegularFile(half.resolve("training_state.safetensors")), name);
      assertFalse(Files.exists(straight.resolve("training_state.safetensors")), "only when asked");
      r = run(ClassifyCliTest.concat(common, "--out", rest.toString(), "--epochs", "2",
          "--resume", half.toString()));
      assertEquals(0, r.code(), r.err());
      List<String> files = name.equals("lora")
          ? List.of("model.safetensors", "adapter_model.safetensors")
          : List.of("model.safetensors");
      for (String f : files) {
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(straight.resolve(f)),
            Files.readAllBytes(rest.resolve(f))), name + ": " + f);
      }
      List<String> a = Files.readAllLines(straight.resolve("log.jsonl"));
      List<String> b = Files.readAllLines(rest.resolve("log.jsonl"));
      assertEquals(a.get(a.size() - 1), b.get(b.size() - 1), name + ": final metrics");
      assertEquals(a.get(a.size() - 2), b.get(b.size() - 2), name + ": epoch 2 metrics");
    }
    ClassifyCliTest.Run other = run("finetune-ner", "--init", bert.toString(), "--train",
        train.toString(), "--batch", "5", "--lr", "1e-3", "--max-length", "48", "--epochs", "2",
        "--out", tmp.resolve("other").toString(), "--resume", tmp.resolve("bert-half").toString());
    assertEquals(2, other.code());
    assertTrue(other.err().contains("cannot resume exactly"), other.err());
    assertEquals(1, other.err().trim().split("\n").length, other.err());
  }

  @Test
  void gptFineTuneThenNer() throws IOException {
    Path init = tmp.resolve("gpt");
    try (ComputeContext c = ComputeContext.create();
        GptModel m = GptModel.random(c, GptConfig.of(50257, 64, 16, 2, 2), 3)) {
      Checkpoint.save(ModelFamily.GPT2, m, init);
    }
    Path out = tmp.resolve("gner");
    ClassifyCliTest.Run r = run("finetune-ner", "--init", init.toString(), "--train",
        data("train.conll", 20).toString(), "--out", out.toString(), "--epochs", "1",
        "--batch", "8", "--lr", "1e-3", "--max-length", "64", "--threads", "1");
    assertEquals(0, r.code(), r.err());
    JsonNode cfg = JSON.readTree(out.resolve("config.json").toFile());
    assertEquals("GPT2ForTokenClassification", cfg.get("architectures").get(0).asText());
    r = run("ner", "--model", out.toString(), "--text", "On 5 May 2001 it rained.", "--json");
    assertEquals(0, r.code(), r.err());
    assertEquals(1, r.out().lines().count());
  }

  @Test
  void badDataIsAOneLineErrorWithExitCode2() throws IOException {
    Path init = bertInit();
    Path bad = tmp.resolve("bad.conll");
    Files.writeString(bad, "John B-PER\nSmith\n");
    ClassifyCliTest.Run r = run("finetune-ner", "--init", init.toString(), "--train",
        bad.toString(), "--out", tmp.resolve("o1").toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains(bad + ":2: expected a token and its tag"), r.err());
    assertFalse(r.err().contains("\tat "), r.err());

    Path train = data("t.conll", 5);
    Path val = tmp.resolve("v.conll");
    Files.writeString(val, "Paris B-LOC\n");
    r = run("finetune-ner", "--init", init.toString(), "--train", train.toString(), "--val",
        val.toString(), "--out", tmp.resolve("o2").toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains(val + ":1: tag 'B-LOC' is not one of the model's labels"),
        r.err());
    r = run("ner", "--model", init.toString(), "--text", "x");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("id2label"), r.err());
  }
}
