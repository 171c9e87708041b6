package dev.fuselm.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.train.AdamW;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** GPT-2 124M for real: slab size, initial loss and one training step (slow: about 10 s, 2 GB). */
@Tag("slow")
class Gpt2FullSizeTest {
  @Test
  void gpt2SmallTrainsOneStep() {
    try (ComputeContext ctx = ComputeContext.create();
        GptModel m = GptModel.random(ctx, GptConfig.gpt2(), 1).enableGradients();
        AdamW opt = new AdamW(ctx, m.params(), m.grads(), 0.9f, 0.95f, 1e-8f, 0.1f, 1f)) {
      assertEquals(124_439_808L, m.parameterCount());
      int b = 2, t = 64;
      int[] x = new int[b * t], y = new int[b * t];
      for (int i = 0; i < x.length; i++) {
        x[i] = (i * 7919) % 50257;
        y[i] = (i * 104729) % 50257;
      }
      float first = m.forward(x, y, b, t);
      assertEquals(Math.log(50257), first, 0.3);
      for (int step = 1; step <= 2; step++) {
        m.zeroGrad();
        m.forward(x, y, b, t);
        m.backward(1f);
        float norm = opt.gradNorm();
        assertTrue(Float.isFinite(norm) && norm > 0);
        opt.step(step, 1e-3f, norm);
      }
      assertTrue(m.forward(x, y, b, t) < first);
    }
  }
}
