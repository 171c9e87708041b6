package dev.fuselm.model;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.SafeTensors;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.train.AdamW;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * fuselm's GPT-2 against PyTorch on the fixtures of benchmarks/parity/gpt2_parity.py (a tiny random
 * GPT-2 in Hugging Face layout): logits, loss, the gradient of every parameter, and the losses of 3
 * AdamW steps with weight decay and clipping.
 */
class Gpt2ParityTest {
  static ComputeContext ctx;
  static Path dir;

  @BeforeAll
  static void open() throws URISyntaxException {
    ctx = ComputeContext.create();
    dir = Path.of(Gpt2ParityTest.class.getResource("/parity/config.json").toURI()).getParent();
  }

  @AfterAll
  static void close() {
    ctx.close();
  }

  static int[] ints(long[] v) {
    int[] out = new int[v.length];
    for (int i = 0; i < v.length; i++) {
      out[i] = Math.toIntExact(v[i]);
    }
    return out;
  }

  /** allclose: |a - e| <= atol + rtol * |e| for every element. */
  static void close(String what, float[] expected, float[] actual, double rtol, double atol) {
    assertTrue(expected.length == actual.length, what + ": length " + actual.length + " vs "
        + expected.length);
    double worst = 0;
    int at = -1;
    for (int i = 0; i < expected.length; i++) {
      double excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
      if (excess > worst) {
        worst = excess;
        at = i;
      }
    }
    if (at >= 0) {
      throw new AssertionError(what + "[" + at + "]: fuselm " + actual[at] + " vs PyTorch "
          + expected[at] + " (rtol " + rtol + ", atol " + atol + ")");
    }
  }

  @Test
  void logitsLossAndGradientsMatchPyTorch() throws IOException {
    try (GptModel m = Checkpoint.load(ctx, dir, ModelFamily.GPT2).enableGradients();
        SafeTensors.Reader ex = SafeTensors.open(dir.resolve("expected.safetensors"))) {
      long[] shape = ex.entry("ids").shape();
      int b = (int) shape[0], t = (int) shape[1];
      int[] ids = ints(ex.readLongs("ids"));
      int[] targets = ints(ex.readLongs("targets"));
      m.zeroGrad();
      float loss = m.forward(ids, targets, b, t);
      close("logits", ex.readFloats("logits"), m.logits().toFloatArray(), 1e-4, 1e-5);
      close("loss", ex.readFloats("loss"), new float[] {loss}, 1e-4, 0);
      m.backward(1f);
      for (String name : m.parameterNames()) {
        close("grad " + name, ex.readFloats("grad." + name), m.grads().get(name).toFloatArray(),
            1e-3, 1e-6);
      }
    }
  }

  @Test
  void threeAdamWStepsMatchPyTorch() throws IOException {
    try (GptModel m = Checkpoint.load(ctx, dir, ModelFamily.GPT2).enableGradients();
        SafeTensors.Reader ex = SafeTensors.open(dir.resolve("expected.safetensors"));
        AdamW opt = new AdamW(ctx, m.params(), m.grads(), 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f)) {
      long[] shape = ex.entry("ids").shape();
      int b = (int) shape[0], t = (int) shape[1];
      int[] ids = ints(ex.readLongs("ids"));
      int[] targets = ints(ex.readLongs("targets"));
      float[] losses = new float[4];
      for (int step = 1; step <= 3; step++) {
        m.zeroGrad();
        losses[step - 1] = m.forward(ids, targets, b, t);
        m.backward(1f);
        opt.step(step, 1e-2f, opt.gradNorm());
      }
      losses[3] = m.forward(ids, targets, b, t);
      close("losses around 3 AdamW steps", ex.readFloats("adamw_losses"), losses, 1e-4, 0);
    }
  }
}
