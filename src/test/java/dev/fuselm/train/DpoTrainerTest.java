package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.data.PreferenceData;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.LoraOptions;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * DPO through the training engine on a tiny random GPT and synthetic pairs (chosen = even
 * tokens, rejected = odd tokens): the training loss falls
 * below log 2 and the held-out reward accuracy and margin rise, with full fine-tuning and with
 * LoRA (whose base stays bit-identical and gets no gradient slab). Runs in a few seconds.
 */
class DpoTrainerTest {
  static final int V = 32;
  static final int EOT = 31;
  static ComputeContext ctx;

  @BeforeAll
  static void open() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void close() {
    ctx.close();
  }

  /**
   * n synthetic pairs: a prompt of 3-5 random tokens, then chosen = 2-4 random even tokens and
   * rejected = 2-4 random odd tokens (a preference a tiny model can learn and apply to new pairs).
   */
  static List<PreferenceData.Encoded> pairs(int n, long seed) {
    Random r = new Random(seed);
    List<PreferenceData.Encoded> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int p = 3 + r.nextInt(3);
      int[] prompt = new int[p];
      for (int j = 0; j < p; j++) {
        prompt[j] = r.nextInt(30);
      }
      out.add(new PreferenceData.Encoded(response(prompt, r, 0), response(prompt, r, 1), p,
          false));
    }
    return out;
  }

  private static int[] response(int[] prompt, Random r, int parity) {
    int n = 2 + r.nextInt(3);
    int[] s = java.util.Arrays.copyOf(prompt, prompt.length + n + 1);
    for (int j = 0; j < n; j++) {
      s[prompt.length + j] = 2 * r.nextInt(15) + parity;
    }
    s[s.length - 1] = EOT;
    return s;
  }

  record Run(DpoLoss.Stats before, DpoLoss.Stats after, List<ObjectNode> log) {}

  static Run train(GptModel model, DpoLoss.Reduction reduction) throws IOException {
    List<PreferenceData.Encoded> train = pairs(48, 1);
    List<PreferenceData.Encoded> val = pairs(24, 2);
    DpoTrainer.Reference trainRef = DpoTrainer.referenceLogProbs(model, train, 8, EOT, 0,
        reduction);
    DpoTrainer.Reference valRef = DpoTrainer.referenceLogProbs(model, val, 8, EOT, 0, reduction);
    DpoTrainer.Config cfg = new DpoTrainer.Config(6, 8, 1e-2f, 0f, 1f, 0, 0, 0, 5, false, 0.5,
        reduction);
    DpoLoss.Stats before = DpoTrainer.evaluate(model, val, valRef, 8, EOT, 0, 0.5, reduction);
    List<ObjectNode> log = new ArrayList<>();
    try (DpoTrainer t = new DpoTrainer(model, train, trainRef, val, valRef, EOT, cfg, log::add)) {
      t.run();
      assertEquals(36, t.step());
    }
    DpoLoss.Stats after = DpoTrainer.evaluate(model, val, valRef, 8, EOT, 0, 0.5, reduction);
    System.out.println("dpo " + reduction + ": val loss " + before.loss() + " -> " + after.loss()
        + ", accuracy " + after.accuracy() + ", margin " + after.margin());
    return new Run(before, after, log);
  }

  @Test
  void fullFineTuningLearnsThePreference() throws IOException {
    try (GptModel m = GptModel.random(ctx, GptConfig.of(V, 16, 32, 2, 4), 3)) {
      Run run = train(m, DpoLoss.Reduction.MEAN);
      // the policy starts as the reference: every reward is 0, the loss log 2
      assertEquals(Math.log(2), run.before.loss(), 1e-6);
      assertEquals(0, run.before.accuracy());
      assertTrue(run.after.loss() < run.before.loss() - 0.1, "val loss " + run.before.loss()
          + " -> " + run.after.loss());
      assertTrue(run.after.accuracy() >= 0.75, "val reward accuracy " + run.after.accuracy());
      assertTrue(run.after.margin() > 0, "val reward margin " + run.after.margin());
      List<Double> losses = new ArrayList<>();
      for (ObjectNode n : run.log) {
        if (n.path("event").asText().equals("step")) {
          losses.add(n.path("loss").asDouble());
        }
      }
      assertEquals(36, losses.size());
      double first = (losses.get(0) + losses.get(1) + losses.get(2)) / 3;
      double last = (losses.get(33) + losses.get(34) + losses.get(35)) / 3;
      assertTrue(last < first - 0.1, "training loss " + first + " -> " + last);
      ObjectNode epoch = run.log.stream().filter(n -> n.path("event").asText().equals("epoch"))
          .reduce((a, b) -> b).orElseThrow();
      assertTrue(epoch.has("train_reward_accuracy") && epoch.has("val_reward_margin"));
    }
  }

  @Test
  void loraTrainsOnlyTheAdaptersAndLearnsThePreference() throws IOException {
    try (GptModel m = GptModel.random(ctx, GptConfig.of(V, 16, 32, 2, 4), 3)) {
      float[] base = m.params().flat().toFloatArray();
      m.addLora(new LoraOptions(4, 8f, LoraOptions.DEFAULT_TARGETS), 5);
      Run run = train(m, DpoLoss.Reduction.SUM);
      assertNull(m.grads(), "the frozen base has no gradient slab");
      assertArrayEquals(base, m.params().flat().toFloatArray(), "the base is unchanged");
      assertTrue(run.after.loss() < run.before.loss() - 0.1, "val loss " + run.before.loss()
          + " -> " + run.after.loss());
      assertTrue(run.after.accuracy() >= 0.8, "val reward accuracy " + run.after.accuracy());
    }
  }
}
