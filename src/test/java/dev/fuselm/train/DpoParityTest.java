package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.data.InstructionCollator;
import dev.fuselm.data.PreferenceData;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.SafeTensors;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The DPO loss, rewards and the gradient of every policy weight against PyTorch, on the fixtures
 * of benchmarks/parity/dpo_parity.py (the book's compute_logprobs + compute_dpo_loss on the tiny
 * parity GPT-2 as reference and a perturbed copy as policy), for both reductions; and the gradient
 * through the model against finite differences.
 */
class DpoParityTest {
  static final int EOT = 63;
  static ComputeContext ctx;
  static Path refDir;
  static Path policyDir;

  @BeforeAll
  static void open() throws URISyntaxException {
    ctx = ComputeContext.create();
    refDir = Path.of(DpoParityTest.class.getResource("/parity/config.json").toURI()).getParent();
    policyDir = refDir.resolve("dpo");
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

  static List<PreferenceData.Encoded> pairs(SafeTensors.Reader ex) throws IOException {
    int[] plen = ints(ex.readLongs("prompt_lengths"));
    List<PreferenceData.Encoded> out = new ArrayList<>();
    for (int i = 0; i < plen.length; i++) {
      out.add(new PreferenceData.Encoded(ints(ex.readLongs("pair" + i + ".chosen")),
          ints(ex.readLongs("pair" + i + ".rejected")), plen[i], false));
    }
    return out;
  }

  /** allclose: |a - e| <= atol + rtol * |e| for every element. */
  static void close(String what, double[] expected, double[] actual, double rtol, double atol) {
    assertEquals(expected.length, actual.length, what + ": length");
    for (int i = 0; i < expected.length; i++) {
      assertTrue(Math.abs(actual[i] - expected[i]) <= atol + rtol * Math.abs(expected[i]),
          what + "[" + i + "]: fuselm " + actual[i] + " vs PyTorch " + expected[i] + " (rtol "
              + rtol + ", atol " + atol + ")");
    }
  }

  static double[] doubles(float[] f) {
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) {
      d[i] = f[i];
    }
    return d;
  }

  @Test
  void collationMatchesTheReference() throws IOException {
    try (SafeTensors.Reader ex = SafeTensors.open(policyDir.resolve("expected.safetensors"))) {
      InstructionCollator.Batch b = PreferenceData.collate(pairs(ex), EOT, 0);
      assertArrayEquals(ints(ex.readLongs("inputs")), b.inputs());
      assertArrayEquals(ints(ex.readLongs("targets")), b.targets());
    }
  }

  @Test
  void lossRewardsAndGradientsMatchPyTorch() throws IOException {
    for (String red : new String[] {"mean", "sum"}) {
      DpoLoss.Reduction reduction = DpoLoss.Reduction.named(red);
      double beta = red.equals("mean") ? 0.1 : 0.5;
      try (GptModel ref = Checkpoint.load(ctx, refDir, ModelFamily.GPT2);
          GptModel policy = Checkpoint.load(ctx, policyDir, ModelFamily.GPT2).enableGradients();
          SafeTensors.Reader ex = SafeTensors.open(policyDir.resolve("expected.safetensors"))) {
        List<PreferenceData.Encoded> pairs = pairs(ex);
        int n = pairs.size();
        DpoTrainer.Reference r = DpoTrainer.referenceLogProbs(ref, pairs, 2, EOT, 0, reduction);
        double[] refLp = doubles(ex.readFloats(red + ".reference_logprobs"));
        close(red + " reference log-probs", java.util.Arrays.copyOfRange(refLp, 0, n),
            r.chosen(), 1e-5, 1e-5);
        close(red + " reference log-probs", java.util.Arrays.copyOfRange(refLp, n, 2 * n),
            r.rejected(), 1e-5, 1e-5);
        policy.zeroGrad();
        DpoLoss.Result res = DpoTrainer.lossAndBackward(policy, pairs, r, EOT, 0, beta, reduction,
            1f);
        close(red + " loss", doubles(ex.readFloats(red + ".loss")), new double[] {res.loss()},
            1e-5, 1e-6);
        double[] cr = doubles(ex.readFloats(red + ".chosen_rewards"));
        double[] rr = doubles(ex.readFloats(red + ".rejected_rewards"));
        double crMean = 0, rrMean = 0;
        long correct = 0;
        for (int i = 0; i < n; i++) {
          crMean += cr[i] / n;
          rrMean += rr[i] / n;
          correct += cr[i] > rr[i] ? 1 : 0;
        }
        assertEquals(crMean, res.stats().chosenReward(), 1e-5, red + " chosen reward");
        assertEquals(rrMean, res.stats().rejectedReward(), 1e-5, red + " rejected reward");
        assertEquals(correct, res.stats().correct(), red + " reward accuracy");
        double worst = 0;
        for (String name : policy.parameterNames()) {
          worst = Math.max(worst, max(ex.readFloats(red + ".grad." + name)));
        }
        assertTrue(worst > 1e-4, "the fixture's gradient is not trivially zero: " + worst);
        // float32 forward and backward against PyTorch's float32: relative 1e-3, absolute a
        // thousandth of the largest gradient entry (the same bounds as Gpt2ParityTest's)
        for (String name : policy.parameterNames()) {
          close(red + " grad " + name, doubles(ex.readFloats(red + ".grad." + name)),
              doubles(policy.grads().get(name).toFloatArray()), 1e-3, 1e-3 * worst);
        }
      }
    }
  }

  static double max(float[] v) {
    double m = 0;
    for (float x : v) {
      m = Math.max(m, Math.abs(x));
    }
    return m;
  }

  /** The DPO gradient through the whole model against central differences of its loss. */
  @Test
  void gradientMatchesFiniteDifferences() throws IOException {
    DpoLoss.Reduction reduction = DpoLoss.Reduction.SUM;
    double beta = 2.0; // large enough that the loss moves well above float32 noise
    try (GptModel ref = Checkpoint.load(ctx, refDir, ModelFamily.GPT2);
        GptModel policy = Checkpoint.load(ctx, policyDir, ModelFamily.GPT2).enableGradients();
        SafeTensors.Reader ex = SafeTensors.open(policyDir.resolve("expected.safetensors"))) {
      List<PreferenceData.Encoded> pairs = pairs(ex);
      DpoTrainer.Reference r = DpoTrainer.referenceLogProbs(ref, pairs, 3, EOT, 0, reduction);
      policy.zeroGrad();
      DpoTrainer.lossAndBackward(policy, pairs, r, EOT, 0, beta, reduction, 1f);
      float[] all = policy.params().flat().toFloatArray();
      float[] grad = policy.grads().flat().toFloatArray();
      Tensor flat = policy.params().flat();
      Random rnd = new Random(7);
      float eps = 1e-2f;
      int checked = 0;
      for (String name : policy.params().names()) {
        Tensor p = policy.params().get(name);
        long offset = (p.address() - flat.address()) / 4;
        for (int k = 0; k < 3; k++) {
          int i = (int) (offset + rnd.nextInt((int) p.numel()));
          float orig = all[i];
          all[i] = orig + eps;
          flat.copyFrom(all);
          double lp = loss(policy, pairs, r, beta, reduction);
          all[i] = orig - eps;
          flat.copyFrom(all);
          double lm = loss(policy, pairs, r, beta, reduction);
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
      assertTrue(checked >= 3 * policy.params().names().size());
    }
  }

  private static double loss(GptModel m, List<PreferenceData.Encoded> pairs,
      DpoTrainer.Reference r, double beta, DpoLoss.Reduction reduction) {
    DpoTrainer.Reference now = DpoTrainer.referenceLogProbs(m, pairs, 3, EOT, 0, reduction);
    return DpoLoss.compute(now.chosen(), now.rejected(), r.chosen(), r.rejected(), beta).loss();
  }

  @Test
  void lossMathAgainstHandValues() {
    // one pair: z = (-1 - -3) - (-2 - -2) = 2; beta 0.5: loss = log(1 + e^-1)
    DpoLoss.Result res = DpoLoss.compute(new double[] {-1}, new double[] {-3},
        new double[] {-2}, new double[] {-2}, 0.5);
    assertEquals(Math.log1p(Math.exp(-1)), res.loss(), 1e-12);
    assertEquals(-0.5 / (1 + Math.E), res.dChosen()[0], 1e-12);
    assertEquals(0.5 / (1 + Math.E), res.dRejected()[0], 1e-12);
    assertEquals(1, res.stats().accuracy());
    assertEquals(2, res.stats().margin(), 1e-12);
    // far from zero the softplus does not overflow
    assertEquals(2000, DpoLoss.compute(new double[] {0}, new double[] {2000}, new double[] {0},
        new double[] {0}, 1).loss(), 1e-9);
    assertThrows(IllegalArgumentException.class, () -> DpoLoss.compute(new double[] {0},
        new double[] {0}, new double[] {0}, new double[] {0}, 0));
    assertThrows(IllegalArgumentException.class, () -> DpoLoss.Reduction.named("max"));
  }
}
