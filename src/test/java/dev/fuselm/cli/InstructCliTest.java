package dev.fuselm.cli;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.data.PromptTemplate;
import dev.fuselm.io.ClassifierHead;
import dev.fuselm.io.PeftAdapters;
import dev.fuselm.io.InstructionModel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.io.SafeTensors;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.tensor.ComputeContext;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** finetune-instruct and chat through Main, on a tiny GPT-2-vocabulary model. */
class InstructCliTest {
  @TempDir Path tmp;
  static final ObjectMapper JSON = new ObjectMapper();

  /**
   * A random tiny model with a 320-id BPE vocabulary (with end-of-text) learned on the Alpaca
   * template and the data's words: a small vocabulary keeps the LM head, and the test, cheap.
   */
  Path initModel(int ctx) throws IOException {
    Path dir = tmp.resolve("init" + ctx);
    Path tokDir = tmp.resolve("tok");
    if (!Files.isDirectory(tokDir)) {
      Path text = tmp.resolve("tok.txt");
      Files.writeString(text, (PromptTemplate.alpaca().prompt("Repeat the word.", "red blue cat dog"
          + " sun tree car sea") + "red red. blue blue. Name a dog.\n").repeat(20));
      ClassifyCliTest.Run r = ClassifyCliTest.run("bpe-train", "--input", text.toString(),
          "--vocab-size", "320", "--output", tokDir.toString());
      assertEquals(0, r.code(), r.err());
    }
    try (ComputeContext c = ComputeContext.create();
        GptModel m = GptModel.random(c, GptConfig.of(320, ctx, 16, 2, 2).withDropout(0f), 3)) {
      Checkpoint.save(ModelFamily.GPT2, m, dir);
    }
    for (String f : new String[] {"encoder.json", "vocab.bpe"}) {
      Files.copy(tokDir.resolve(f), dir.resolve(f));
    }
    return dir;
  }

  /** 40 entries; the answer to "Repeat: w" is "w w." */
  Path data() throws IOException {
    String[] words = {"red", "blue", "cat", "dog", "sun", "tree", "car", "sea"};
    StringBuilder sb = new StringBuilder("[\n");
    for (int i = 0; i < 40; i++) {
      String w = words[i % words.length];
      sb.append(i == 0 ? "" : ",\n").append("{\"instruction\": \"Repeat the word.\", \"input\": \"")
          .append(w).append("\", \"output\": \"").append(w).append(' ').append(w).append(".\"}");
    }
    Path f = tmp.resolve("tasks.json");
    Files.writeString(f, sb.append("\n]\n").toString());
    return f;
  }

  static ClassifyCliTest.Run chat(String stdin, String... args) {
    InputStream old = System.in;
    System.setIn(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
    try {
      return ClassifyCliTest.run(args);
    } finally {
      System.setIn(old);
    }
  }

  @Test
  void loraFineTuneWritesAdaptersMergedModelAndResponsesThenChats() throws IOException {
    Path init = initModel(96), data = data(), out = tmp.resolve("tuned");
    float[] before;
    try (ComputeContext c = ComputeContext.create(); GptModel m = Checkpoint.load(c, init,
        ModelFamily.GPT2)) {
      before = m.params().flat().toFloatArray();
    }
    ClassifyCliTest.Run r = ClassifyCliTest.run("finetune-instruct", "--init", init.toString(),
        "--data", data.toString(), "--out", out.toString(), "--lora", "4", "--merge",
        "--mask-prompt", "--epochs", "2", "--batch", "8", "--lr", "1e-2", "--max-new-tokens", "6",
        "--padding", "fixed", "--eval-every", "2");
    assertEquals(0, r.code(), r.err());
    List<String> log = Files.readAllLines(out.resolve("log.jsonl"));
    JsonNode start = JSON.readTree(log.get(0));
    assertEquals(34, start.get("train").asInt());
    assertEquals(2, start.get("validation").asInt());
    assertEquals(4, start.get("test").asInt());
    assertEquals(0, start.get("truncated").asInt());
    long adapterParams = 2L * 4 * ((16 + 48) + (16 + 16) + (16 + 64) + (64 + 16));
    assertEquals(adapterParams, start.get("trainable_parameters").asLong());
    assertEquals(8 * adapterParams, start.get("optimizer_state_bytes").asLong());
    JsonNode fin = null;
    int evals = 0;
    for (String line : log) {
      JsonNode n = JSON.readTree(line);
      evals += n.get("event").asText().equals("eval") ? 1 : 0;
      if (n.get("event").asText().equals("final")) {
        fin = n;
      }
    }
    assertEquals(5 * 2 / 2, evals, "5 steps an epoch, 2 epochs, every 2 steps");
    assertFalse(fin.get("gradient_slab_of_base").asBoolean());
    assertTrue(fin.get("val_loss").asDouble() < start.get("val_loss").asDouble(),
        "validation loss " + start.get("val_loss") + " -> " + fin.get("val_loss"));
    for (String f : new String[] {PeftAdapters.WEIGHTS, PeftAdapters.CONFIG,
        Checkpoint.WEIGHTS, Checkpoint.CONFIG, InstructionModel.META_FILE}) {
      assertTrue(Files.isRegularFile(out.resolve(f)), f);
    }
    try (SafeTensors.Reader st = SafeTensors.open(out.resolve(PeftAdapters.WEIGHTS))) {
      assertTrue(st.contains("base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight"));
    }
    // the base model directory was not touched
    try (ComputeContext c = ComputeContext.create(); GptModel m = Checkpoint.load(c, init,
        ModelFamily.GPT2)) {
      assertArrayEquals(before, m.params().flat().toFloatArray());
    }
    Path responses = tmp.resolve("tasks-responses.json");
    JsonNode arr = JSON.readTree(responses.toFile());
    assertEquals(4, arr.size());
    assertTrue(arr.get(0).has("model_response") && arr.get(0).has("output"));

    // chat on the merged model and on base + adapters gives the same greedy text
    ClassifyCliTest.Run a = chat("Repeat the word.\n\nName a dog.\n", "chat", "--model",
        out.toString(), "--max-new-tokens", "5");
    assertEquals(0, a.code(), a.err());
    Path adaptersOnly = tmp.resolve("adapters");
    Files.createDirectories(adaptersOnly);
    for (String f : new String[] {PeftAdapters.WEIGHTS, PeftAdapters.CONFIG,
        InstructionModel.META_FILE}) {
      Files.copy(out.resolve(f), adaptersOnly.resolve(f));
    }
    ClassifyCliTest.Run b = chat("Repeat the word.\n\nName a dog.\n", "chat", "--model",
        adaptersOnly.toString(), "--max-new-tokens", "5");
    assertEquals(0, b.code(), b.err());
    assertEquals(a.out(), b.out());
    assertTrue(a.out().endsWith("\n\n") && a.out().length() > 4, a.out());
  }

  /** finetune-classify --lora --padding fixed: adapters saved, merged classifier still classifies. */
  @Test
  void finetuneClassifyWithLoraAndFixedPadding() throws IOException {
    Path init = initModel(32), out = tmp.resolve("clf");
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 80; i++) {
      sb.append(i % 2 == 0 ? "red sun tree\tpos\n" : "dog car sea\tneg\n");
    }
    Path data = tmp.resolve("pairs.tsv");
    Files.writeString(data, sb.toString());
    ClassifyCliTest.Run r = ClassifyCliTest.run("finetune-classify", "--init", init.toString(),
        "--data", data.toString(), "--text-column", "0", "--label-column", "1", "--out",
        out.toString(), "--lora", "2", "--padding", "fixed", "--max-length", "16", "--epochs",
        "3", "--lr", "1e-2");
    assertEquals(0, r.code(), r.err());
    JsonNode start = JSON.readTree(r.out().split("\n")[0]);
    assertEquals("fixed", start.get("padding").asText());
    assertEquals(2, start.get("lora_rank").asInt());
    assertTrue(Files.isRegularFile(out.resolve(PeftAdapters.WEIGHTS)));
    assertTrue(Files.isRegularFile(out.resolve(ClassifierHead.HEAD_FILE)));
    ClassifyCliTest.Run c = ClassifyCliTest.run("classify", "--model", out.toString(), "--text",
        "red sun tree");
    assertEquals(0, c.code(), c.err());
    assertEquals("pos", JSON.readTree(c.out().trim()).get("label").asText());

    r = ClassifyCliTest.run("finetune-classify", "--init", init.toString(), "--data",
        data.toString(), "--text-column", "0", "--label-column", "1", "--out",
        tmp.resolve("clf2").toString(), "--lora", "2", "--train-all");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("--train-all"), r.err());
    r = ClassifyCliTest.run("finetune-classify", "--init", init.toString(), "--data",
        data.toString(), "--text-column", "0", "--label-column", "1", "--out",
        tmp.resolve("clf2").toString(), "--padding", "ragged");
    assertEquals(2, r.code());
    assertFalse(Files.exists(tmp.resolve("clf2")));
  }

  /** LoRA instruction tuning: --save-state, then --resume with more epochs, equals the straight run. */
  @Test
  void loraResumeContinuesTheRunExactly() throws IOException {
    Path init = initModel(96), data = data();
    String[] common = {"finetune-instruct", "--init", init.toString(), "--data", data.toString(),
        "--lora", "4", "--batch", "8", "--lr", "1e-2", "--warmup", "2", "--max-new-tokens", "2",
        "--quiet"};
    Path straight = tmp.resolve("straight"), half = tmp.resolve("half"), rest = tmp.resolve("rest");
    ClassifyCliTest.Run a = ClassifyCliTest.run(ClassifyCliTest.concat(common, "--out",
        straight.toString(), "--epochs", "2"));
    assertEquals(0, a.code(), a.err());
    ClassifyCliTest.Run h = ClassifyCliTest.run(ClassifyCliTest.concat(common, "--out",
        half.toString(), "--epochs", "1", "--save-state"));
    assertEquals(0, h.code(), h.err());
    ClassifyCliTest.Run b = ClassifyCliTest.run(ClassifyCliTest.concat(common, "--out",
        rest.toString(), "--epochs", "2", "--resume", half.toString()));
    assertEquals(0, b.code(), b.err());
    assertTrue(java.util.Arrays.equals(
        Files.readAllBytes(straight.resolve(PeftAdapters.WEIGHTS)),
        Files.readAllBytes(rest.resolve(PeftAdapters.WEIGHTS))));
    String[] la = a.out().trim().split("\n"), lb = b.out().trim().split("\n");
    assertEquals(la[la.length - 2], lb[lb.length - 2], "final losses");
  }

  @Test
  void fullFineTuneAndBadInput() throws IOException {
    Path init = initModel(96), data = data(), out = tmp.resolve("full");
    ClassifyCliTest.Run r = ClassifyCliTest.run("finetune-instruct", "--init", init.toString(),
        "--data", data.toString(), "--out", out.toString(), "--epochs", "1", "--lr", "1e-3",
        "--max-new-tokens", "3", "--quiet");
    assertEquals(0, r.code(), r.err());
    assertTrue(Files.isRegularFile(out.resolve(Checkpoint.WEIGHTS)));
    assertFalse(Files.exists(out.resolve(PeftAdapters.CONFIG)));
    assertTrue(Files.isRegularFile(tmp.resolve("tasks-responses.json")), "beside the data");

    // data in a read-only directory: the responses go to --out instead
    Path ro = tmp.resolve("ro");
    Files.createDirectories(ro);
    Files.copy(data, ro.resolve("tasks.json"));
    ro.toFile().setWritable(false, false);
    try {
      Path out3 = tmp.resolve("out3");
      r = ClassifyCliTest.run("finetune-instruct", "--init", init.toString(), "--data",
          ro.resolve("tasks.json").toString(), "--out", out3.toString(), "--epochs", "1",
          "--max-new-tokens", "2", "--quiet");
      assertEquals(0, r.code(), r.err());
      assertTrue(Files.isRegularFile(out3.resolve("tasks-responses.json")));
      assertFalse(Files.exists(ro.resolve("tasks-responses.json")));
      assertTrue(r.err().contains("read-only"), r.err());
    } finally {
      ro.toFile().setWritable(true, false);
    }
    assertFalse(r.out().contains("\"event\":\"step\""), "--quiet");

    // not an empty --out: refused, nothing overwritten
    r = ClassifyCliTest.run("finetune-instruct", "--init", init.toString(), "--data",
        data.toString(), "--out", out.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("not an empty directory"), r.err());

    Path bad = tmp.resolve("bad.json");
    Files.writeString(bad, "[{\"instruction\": \"x\", \"output\": \"y\"}, {\"instruction\": \"z\"}]");
    Path out2 = tmp.resolve("out2");
    r = ClassifyCliTest.run("finetune-instruct", "--init", init.toString(), "--data",
        bad.toString(), "--out", out2.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("entry 1: missing \"output\""), r.err());
    assertEquals(1, r.err().trim().split("\n").length, r.err());
    assertFalse(Files.exists(out2));

    Files.writeString(bad, "[]");
    r = ClassifyCliTest.run("finetune-instruct", "--init", init.toString(), "--data",
        bad.toString(), "--out", out2.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("empty"), r.err());

    // the Alpaca prompt does not fit a 24-token context
    Path small = initModel(24);
    r = ClassifyCliTest.run("finetune-instruct", "--init", small.toString(), "--data",
        data.toString(), "--out", out2.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("tokens, the model's context is 24"), r.err());
    assertFalse(Files.exists(out2));

    r = ClassifyCliTest.run("finetune-instruct", "--init", init.toString(), "--data",
        data.toString(), "--out", out2.toString(), "--lora", "2", "--lora-targets", "q_proj");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("q_proj"), r.err());

    // chat: a too-long instruction is reported and skipped, the next one answered
    ClassifyCliTest.Run c = chat("word ".repeat(200) + "\nRepeat the word.\n", "chat", "--model",
        out.toString(), "--max-new-tokens", "2");
    assertEquals(2, c.code());
    assertTrue(c.err().contains("the model's context is 96"), c.err());
    assertFalse(c.out().isBlank());
  }
}
