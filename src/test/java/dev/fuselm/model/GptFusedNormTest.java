package dev.fuselm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.fuselm.nn.TransformerBlock;
import dev.fuselm.ops.EmbeddingOps;
import dev.fuselm.tensor.Arena;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The GPT forward fuses each block's last residual add into the next layer norm (the next block's
 * ln_1, the last block's: the final norm). Its hidden states must be bitwise those of the unfused
 * chain, block by block {@link TransformerBlock#forward} and then the final norm, on the ISA this
 * machine runs (tolerance 0: the fused kernel adds and normalises with the same float operations).
 */
class GptFusedNormTest {
  @Test
  void fusedResidualNormIsBitwiseTheUnfusedChain() {
    GptConfig c = GptConfig.of(61, 24, 32, 3, 4);
    int b = 2, t = 11;
    try (ComputeContext ctx = ComputeContext.create();
        GptModel m = GptModel.random(ctx, c, 3);
        Arena pool = new Arena(ctx, 1 << 20)) {
      GptModelTest.randomize(m, 5); // large weights: the residual stream matters
      int[] ids = GptModelTest.randomIds(new Random(7), b * t, c.vocabSize());
      float[] fused = m.forwardHidden(ids, b, t).toFloatArray();

      Tensor idT = pool.ints(b, t);
      idT.copyFrom(ids);
      Tensor[] res = new Tensor[c.nLayer() + 1];
      for (int l = 0; l <= c.nLayer(); l++) {
        res[l] = pool.zeros((long) b * t, c.dModel());
      }
      EmbeddingOps.forward(ctx, res[0].reshape(b, t, c.dModel()), idT, m.tokenEmbedding(),
          m.positionEmbedding());
      for (int l = 0; l < c.nLayer(); l++) {
        TransformerBlock.Activations a =
            new TransformerBlock.Activations(pool, b, t, c.dModel(), c.nHead());
        m.block(l).forward(ctx, res[l + 1], res[l], a, 0f, 0L);
      }
      Tensor lnf = pool.zeros((long) b * t, c.dModel());
      m.finalNorm().forward(ctx, lnf, null, null, res[c.nLayer()]);
      float[] plain = lnf.toFloatArray();
      assertFalse(Arrays.equals(plain, new float[plain.length]));
      assertArrayEquals(plain, fused, 0f);
    }
  }
}
