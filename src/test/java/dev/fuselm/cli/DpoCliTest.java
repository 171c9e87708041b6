package dev.fuselm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.io.InstructionModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** dpo-pairs and finetune-dpo through Main on a tiny model; bad input is one line, exit 2. */
class DpoCliTest {
  @TempDir Path tmp;
  static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void pairsThenFineTuneWritesAModelThatChats() throws IOException {
    InstructCliTest helper = new InstructCliTest();
    helper.tmp = tmp;
    Path init = helper.initModel(96);
    Path data = helper.data();
    Path pairs = tmp.resolve("pairs.json");
    ClassifyCliTest.Run r = ClassifyCliTest.run("dpo-pairs", "--model", init.toString(), "--data",
        data.toString(), "--out", pairs.toString(), "--max-new-tokens", "6", "--seed", "5");
    assertEquals(0, r.code(), r.err());
    JsonNode arr = JSON.readTree(pairs.toFile());
    assertEquals(40, arr.size()); // a random model never reproduces "w w."
    JsonNode first = arr.get(0);
    assertEquals(first.path("output").asText(), first.path("chosen").asText());
    assertFalse(first.path("rejected").asText().equals(first.path("chosen").asText()));
    // seeded: the same command gives the same file
    Path again = tmp.resolve("again.json");
    assertEquals(0, ClassifyCliTest.run("dpo-pairs", "--model", init.toString(), "--data",
        data.toString(), "--out", again.toString(), "--max-new-tokens", "6", "--seed", "5").code());
    assertEquals(Files.readString(pairs), Files.readString(again));

    Path out = tmp.resolve("dpo");
    r = ClassifyCliTest.run("finetune-dpo", "--init", init.toString(), "--data", pairs.toString(),
        "--out", out.toString(), "--epochs", "2", "--batch", "4", "--lr", "1e-3", "--beta", "0.5",
        "--responses", "2", "--max-new-tokens", "4", "--quiet");
    assertEquals(0, r.code(), r.err());
    JsonNode before = null;
    JsonNode fin = null;
    for (String line : Files.readAllLines(out.resolve("log.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.path("event").asText().equals("before")) {
        before = n;
      } else if (n.path("event").asText().equals("final")) {
        fin = n;
      }
    }
    assertEquals(Math.log(2), before.path("test_loss").asDouble(), 1e-6);
    assertTrue(fin.path("train_loss").asDouble() < Math.log(2), fin.toString());
    assertTrue(fin.has("test_reward_accuracy") && fin.has("test_reward_margin"));
    assertTrue(Files.isRegularFile(out.resolve("model.safetensors")));
    assertTrue(Files.isRegularFile(out.resolve(InstructionModel.META_FILE)));
    assertEquals(2, JSON.readTree(out.resolve("test-responses.json").toFile()).size());
    // the result is an instruction-tuned model directory: chat loads it
    ClassifyCliTest.Run chat = InstructCliTest.chat("Repeat the word.\n", "chat", "--model",
        out.toString(), "--max-new-tokens", "3");
    assertEquals(0, chat.code(), chat.err());
  }

  @Test
  void badInputIsOneLineAndExitCode2() throws IOException {
    InstructCliTest helper = new InstructCliTest();
    helper.tmp = tmp;
    Path init = helper.initModel(96);
    Path noPairs = helper.data(); // instruction data without chosen/rejected
    ClassifyCliTest.Run r = ClassifyCliTest.run("finetune-dpo", "--init", init.toString(),
        "--data", noPairs.toString(), "--out", tmp.resolve("o1").toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("\"chosen\""), r.err());
    assertEquals(1, r.err().strip().lines().count(), r.err());
    Path pairs = tmp.resolve("p.json");
    Files.writeString(pairs, "[{\"instruction\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}]");
    for (String[] bad : new String[][] {{"--beta", "0"}, {"--logprob", "max"},
        {"--merge"}, {"--padding", "odd"}}) {
      String[] args = new String[8 + bad.length];
      String[] base = {"finetune-dpo", "--init", init.toString(), "--data", pairs.toString(),
          "--out", tmp.resolve("o2").toString(), "--quiet"};
      System.arraycopy(base, 0, args, 0, base.length);
      System.arraycopy(bad, 0, args, base.length, bad.length);
      r = ClassifyCliTest.run(java.util.Arrays.copyOf(args, base.length + bad.length));
      assertEquals(2, r.code(), String.join(" ", bad) + ": " + r.err());
      assertEquals(1, r.err().strip().lines().count(), r.err());
    }
  }
}
