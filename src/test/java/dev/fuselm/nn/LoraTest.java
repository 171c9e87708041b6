package dev.fuselm.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.io.PeftAdapters;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.LoraOptions;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import dev.fuselm.train.AdamW;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoraTest {
  static ComputeContext ctx;

  @BeforeAll
  static void open() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void close() {
    ctx.close();
  }

  static int[] randomIds(Random r, int n, int v) {
    int[] ids = new int[n];
    for (int i = 0; i < n; i++) {
      ids[i] = r.nextInt(v);
    }
    return ids;
  }

  /** Fills every adapter tensor (B included, so the adapters do something) with N(0, sd). */
  static void randomize(LoraAdapters l, long seed, double sd) {
    Random r = new Random(seed);
    float[] v = new float[Math.toIntExact(l.params().size())];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (sd * r.nextGaussian());
    }
    l.params().flat().copyFrom(v);
  }

  static final GptConfig CFG = GptConfig.of(29, 12, 16, 2, 2);

  @Test
  void namesAndShapesFollowPeft() {
    LoraAdapters.Config lc = new LoraAdapters.Config(4, 8, LoraAdapters.DEFAULT_TARGETS);
    try (LoraAdapters l = LoraAdapters.create(ctx, lc, 2, 16, 1, false)) {
      assertEquals(2 * 4 * 2, l.params().names().size());
      assertArrayEquals(new long[] {4, 16},
          l.params().get("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight").shape());
      assertArrayEquals(new long[] {48, 4},
          l.params().get("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight").shape());
      assertArrayEquals(new long[] {4, 64},
          l.params().get("base_model.model.transformer.h.1.mlp.c_proj.lora_A.weight").shape());
      // B starts at zero, A within PEFT's Kaiming-uniform bound 1/sqrt(in)
      for (float x : l.params().get("base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight")
          .toFloatArray()) {
        assertEquals(0f, x);
      }
      for (float x : l.params().get("base_model.model.transformer.h.1.mlp.c_proj.lora_A.weight")
          .toFloatArray()) {
        assertTrue(Math.abs(x) <= 1 / Math.sqrt(64));
      }
      assertEquals(0.5f * 4, lc.scale() * 1f);
    }
    // "c_proj" picks both projections, as PEFT's suffix match does
    try (LoraAdapters l = LoraAdapters.create(ctx,
        new LoraAdapters.Config(2, 2, List.of("c_proj")), 2, 16, 1, false)) {
      assertEquals(List.of("transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_proj",
          "transformer.h.1.attn.c_proj", "transformer.h.1.mlp.c_proj"),
          l.modules().stream().map(LoraAdapters.Module::name).toList());
    }
    assertThrows(IllegalArgumentException.class, () -> LoraAdapters.create(ctx,
        new LoraAdapters.Config(2, 2, List.of("q_proj")), 2, 16, 1, false));
    assertThrows(IllegalArgumentException.class,
        () -> new LoraAdapters.Config(0, 2, LoraAdapters.DEFAULT_TARGETS));
  }

  @Test
  void freshAdaptersLeaveTheLogitsBitIdentical() {
    Random r = new Random(2);
    int b = 2, t = 7;
    int[] ids = randomIds(r, b * t, CFG.vocabSize());
    try (GptModel m = GptModel.random(ctx, CFG, 3);
        LoraAdapters l = LoraAdapters.create(ctx,
            new LoraAdapters.Config(4, 8, LoraAdapters.DEFAULT_TARGETS), 2, 16, 4, false)) {
      m.forward(ids, null, b, t);
      float[] base = m.logits().toFloatArray();
      m.setLora(l);
      m.forward(ids, null, b, t);
      assertArrayEquals(base, m.logits().toFloatArray(), "B = 0 adds exactly zero");
    }
  }

  /** Options with PEFT's defaults; adapters the model makes are its own until merged. */
  @Test
  void theModelMakesAndOwnsAdaptersFromOptions() {
    LoraOptions o = LoraOptions.of(2, null, null);
    assertEquals(4f, o.alpha(), "alpha defaults to 2 R");
    assertEquals(LoraAdapters.DEFAULT_TARGETS, o.targets());
    assertThrows(IllegalArgumentException.class, () -> LoraOptions.of(0, null, null));
    assertThrows(IllegalArgumentException.class,
        () -> LoraOptions.of(2, 1f, List.of("q_proj")).checkTargets(CFG));
    try (GptModel m = GptModel.random(ctx, CFG, 3)) {
      assertEquals(0, m.loraParameterCount());
      m.addLora(o, 1);
      LoraAdapters first = m.lora();
      assertTrue(first.trainable());
      // per layer, rank x (in + out) of c_attn, attn.c_proj, c_fc, mlp.c_proj (d_model 16)
      assertEquals(2 * 2 * ((16 + 48) + (16 + 16) + (16 + 64) + (64 + 16)),
          m.loraParameterCount());
      m.addLora(o, 2); // replaces the first, which the model closes
      assertNotSame(first, m.lora());
      m.mergeLora();
      assertNull(m.lora());
      assertEquals(0, m.loraBytes());
    }
  }

  /** The merged model's logits equal base + adapters' within 1e-4 (float32 sums, |logits| ~ 1). */
  @Test
  void mergedModelGivesTheSameLogitsAsBasePlusAdapters() {
    Random r = new Random(5);
    int b = 3, t = 9;
    int[] ids = randomIds(r, b * t, CFG.vocabSize());
    try (GptModel m = GptModel.random(ctx, CFG, 6);
        LoraAdapters l = LoraAdapters.create(ctx,
            new LoraAdapters.Config(3, 6, LoraAdapters.DEFAULT_TARGETS), 2, 16, 7, false)) {
      randomize(l, 8, 0.2);
      m.forward(ids, null, b, t);
      float[] base = m.logits().toFloatArray();
      m.setLora(l);
      m.forward(ids, null, b, t);
      float[] adapted = m.logits().toFloatArray();
      double diff = 0;
      for (int i = 0; i < base.length; i++) {
        diff = Math.max(diff, Math.abs(base[i] - adapted[i]));
      }
      assertTrue(diff > 1e-2, "the adapters must change the logits for the test to mean anything,"
          + " max change " + diff);
      // the generator's cached path sees the adapters too
      try (Generator g = new Generator(m, 1)) {
        float[][] cached = g.cachedLogits(java.util.Arrays.copyOf(ids, t), 3);
        for (int j = 0; j < cached.length; j++) {
          int p = 3 - 1 + j; // cachedLogits starts at the last prefill position
          for (int v = 0; v < CFG.vocabSize(); v++) {
            assertEquals(adapted[p * CFG.vocabSize() + v], cached[j][v], 1e-4,
                "cached logits at " + p);
          }
        }
      }
      m.mergeLora();
      assertNull(m.lora());
      m.forward(ids, null, b, t);
      float[] merged = m.logits().toFloatArray();
      for (int i = 0; i < merged.length; i++) {
        assertEquals(adapted[i], merged[i], 1e-4, "logit " + i);
      }
    }
  }

  /** dA and dB from backward against central differences of the loss (eps 1e-2, as GptModelTest). */
  @Test
  void finiteDifferenceGradientsOfTheAdapters() {
    int b = 2, t = 5;
    Random r = new Random(11);
    GptConfig c = GptConfig.of(11, 8, 8, 2, 2);
    int[] ids = randomIds(r, b * t, c.vocabSize());
    int[] targets = randomIds(r, b * t, c.vocabSize());
    targets[4] = -100;
    try (GptModel m = GptModel.random(ctx, c, 12);
        LoraAdapters l = LoraAdapters.create(ctx,
            new LoraAdapters.Config(2, 4, LoraAdapters.DEFAULT_TARGETS), 2, 8, 13, true)) {
      // larger base weights so the gradients stand well above float32 noise
      Random pr = new Random(14);
      float[] pv = m.params().flat().toFloatArray();
      for (int i = 0; i < pv.length; i++) {
        pv[i] += (float) (0.3 * pr.nextGaussian());
      }
      m.params().flat().copyFrom(pv);
      randomize(l, 15, 0.3);
      m.setLora(l);
      assertNull(m.grads(), "the frozen base has no gradient slab");
      l.zeroGrad();
      m.forward(ids, targets, b, t);
      m.backward(1f);
      float[] all = l.params().flat().toFloatArray();
      float[] grad = l.grads().flat().toFloatArray();
      Tensor flat = l.params().flat();
      float eps = 1e-2f;
      int checked = 0;
      for (String name : l.params().names()) {
        Tensor p = l.params().get(name);
        long offset = (p.address() - flat.address()) / 4;
        for (int k = 0; k < 3; k++) {
          int i = (int) (offset + r.nextInt((int) p.numel()));
          float orig = all[i];
          all[i] = orig + eps;
          flat.copyFrom(all);
          double lp = m.forward(ids, targets, b, t);
          all[i] = orig - eps;
          flat.copyFrom(all);
          double lm = m.forward(ids, targets, b, t);
          all[i] = orig;
          flat.copyFrom(all);
          double fd = (lp - lm) / (2 * eps);
          double an = grad[i];
          double tol = 5e-4 + 3e-2 * Math.max(Math.abs(fd), Math.abs(an));
          assertTrue(Math.abs(fd - an) <= tol,
              name + "[" + (i - offset) + "]: finite difference " + fd + " vs backward " + an);
          checked++;
        }
      }
      assertEquals(3 * 16, checked);
    }
  }

  /** AdamW over the adapter slab only: the base is bit-identical after training, the loss falls. */
  @Test
  void trainingChangesOnlyTheAdapters() {
    int b = 2, t = 8;
    Random r = new Random(21);
    int[] ids = randomIds(r, b * t, CFG.vocabSize());
    int[] targets = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      targets[i] = ids[i] % 2 == 0 ? 5 : 6; // a mapping low-rank updates can learn
    }
    try (GptModel m = GptModel.random(ctx, CFG, 22);
        LoraAdapters l = LoraAdapters.create(ctx,
            new LoraAdapters.Config(4, 8, LoraAdapters.DEFAULT_TARGETS), 2, 16, 23, true);
        AdamW opt = new AdamW(ctx, l.params(), l.grads(), 0.9f, 0.999f, 1e-8f, 0f, 1f)) {
      // embeddings of GPT-2's N(0, 0.02) init bound the tied head's logits to about +-0.3, which
      // no adapter can change: give the frozen base a usable range
      float[] base = m.params().flat().toFloatArray();
      Random pr = new Random(24);
      for (int i = 0; i < base.length; i++) {
        base[i] += (float) (0.3 * pr.nextGaussian());
      }
      m.params().flat().copyFrom(base);
      float[] a0 = l.params().flat().toFloatArray();
      m.setLora(l);
      float first = 0, last = 0;
      for (int s = 1; s <= 60; s++) {
        l.zeroGrad();
        float loss = m.forward(ids, targets, b, t);
        m.backward(1f);
        opt.step(s, 3e-2f, opt.gradNorm());
        if (s == 1) {
          first = loss;
        }
        last = loss;
      }
      assertTrue(last < 0.5 * first, "loss " + first + " -> " + last);
      assertArrayEquals(base, m.params().flat().toFloatArray(), "frozen base bit-identical");
      assertNull(m.grads());
      float[] a1 = l.params().flat().toFloatArray();
      int changed = 0;
      for (int i = 0; i < a0.length; i++) {
        changed += a0[i] != a1[i] ? 1 : 0;
      }
      assertTrue(changed > a0.length / 2, changed + " of " + a0.length + " adapter weights moved");
    }
  }

  @Test
  void adaptersRoundTripThroughPeftFiles(@TempDir Path dir) throws IOException {
    LoraAdapters.Config lc = new LoraAdapters.Config(3, 5, List.of("c_attn", "c_fc"));
    try (LoraAdapters l = LoraAdapters.create(ctx, lc, 2, 16, 31, false)) {
      randomize(l, 32, 0.1);
      PeftAdapters.save(l, dir, "base-dir");
      String cfg = Files.readString(dir.resolve(PeftAdapters.CONFIG));
      assertTrue(cfg.contains("\"peft_type\" : \"LORA\"") && cfg.contains("\"r\" : 3")
          && cfg.contains("\"fan_in_fan_out\" : true"), cfg);
      PeftAdapters.Meta meta = PeftAdapters.readMeta(dir);
      assertEquals("base-dir", meta.baseModel());
      assertEquals(lc, meta.config());
      try (LoraAdapters back = PeftAdapters.load(ctx, dir, CFG, false)) {
        assertEquals(l.params().names(), back.params().names());
        assertArrayEquals(l.params().flat().toFloatArray(), back.params().flat().toFloatArray());
      }
      // adapters of another shape are refused with the tensor named
      IOException e = assertThrows(IOException.class,
          () -> PeftAdapters.load(ctx, dir, GptConfig.of(29, 12, 24, 2, 2), false));
      assertTrue(e.getMessage().contains("lora_A.weight has shape"), e.getMessage());
    }
  }
}
